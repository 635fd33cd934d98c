"""Tissue labels of the phantom, their Hounsfield units and their report-contract tissue.

One uint8 label map is drawn first; CT values, radiograph attenuation and the tests'
tissue checks are all derived from it, so the three can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np


class T(IntEnum):
    """Tissue label values (uint8)."""

    AIR = 0
    TABLE_SHELL = 1
    TABLE_CORE = 2
    SKIN = 3
    FAT = 4  # subcutaneous fat
    VISCERAL_FAT = 5  # fat inside the body cavities and between organs
    MUSCLE = 6
    TENDON = 7
    CORTEX = 8
    CORTEX_DENSE = 9  # diaphyses of long bones
    CANCELLOUS = 10
    MARROW = 11  # fatty marrow of long-bone shafts
    CARTILAGE = 12  # costal cartilage
    DISC = 13
    CANAL = 14  # spinal canal (CSF and cord)
    LUNG = 15
    AIRWAY = 16
    LIVER = 17
    SPLEEN = 18
    KIDNEY_CORTEX = 19
    KIDNEY_MEDULLA = 20
    RENAL_SINUS = 21
    STOMACH_WALL = 22
    STOMACH_FLUID = 23
    GAS = 24  # bowel and stomach gas
    BOWEL_WALL = 25
    BOWEL_CONTENT = 26
    BLADDER = 27
    PANCREAS = 28
    HEART = 29
    CARDIAC_BLOOD = 30
    ARTERY = 31  # arterial lumen
    ARTERY_WALL = 32
    VEIN = 33
    BRAIN = 34
    CSF = 35
    EYE = 36
    LENS = 37
    METAL = 38
    ENAMEL = 39  # tooth crowns
    DENTINE = 40  # tooth roots and the core of crowns
    BLOOD_RIGHT = 41  # right heart and pulmonary arteries (apart from the left heart in arterial phase)


N_LABELS = len(T)

BONE_LABELS = frozenset({T.CORTEX, T.CORTEX_DENSE, T.CANCELLOUS, T.MARROW})
DENSE_LABELS = BONE_LABELS | {T.CARTILAGE, T.METAL, T.ENAMEL, T.DENTINE}
SOFT_TISSUE = frozenset({T.FAT, T.MUSCLE, T.TENDON, T.SKIN})
OUTSIDE_BODY = frozenset({T.AIR, T.TABLE_SHELL, T.TABLE_CORE})


@dataclass(frozen=True)
class HUTable:
    """Mean HU per label (index = label value) and texture SD per label."""

    mean: np.ndarray
    texture_sd: np.ndarray


_NATIVE: dict[T, tuple[float, float]] = {
    T.AIR: (-1000, 0),
    T.TABLE_SHELL: (250, 20),
    T.TABLE_CORE: (-850, 10),
    T.SKIN: (35, 5),
    T.FAT: (-100, 8),
    T.VISCERAL_FAT: (-95, 10),
    T.MUSCLE: (50, 6),
    T.TENDON: (90, 6),
    T.CORTEX: (1350, 90),
    T.CORTEX_DENSE: (1650, 90),
    T.CANCELLOUS: (260, 60),
    T.MARROW: (20, 25),
    T.CARTILAGE: (145, 25),
    T.DISC: (85, 8),
    T.CANAL: (15, 4),
    T.LUNG: (-850, 35),
    T.AIRWAY: (-990, 5),
    T.LIVER: (58, 5),
    T.SPLEEN: (48, 5),
    T.KIDNEY_CORTEX: (32, 4),
    T.KIDNEY_MEDULLA: (28, 4),
    T.RENAL_SINUS: (-70, 15),
    T.STOMACH_WALL: (42, 5),
    T.STOMACH_FLUID: (10, 4),
    T.GAS: (-1000, 0),
    T.BOWEL_WALL: (40, 5),
    T.BOWEL_CONTENT: (15, 25),
    T.BLADDER: (8, 3),
    T.PANCREAS: (42, 6),
    T.HEART: (45, 4),
    T.CARDIAC_BLOOD: (42, 3),
    T.ARTERY: (42, 3),
    T.ARTERY_WALL: (48, 3),
    T.VEIN: (40, 3),
    T.BRAIN: (35, 4),
    T.CSF: (8, 2),
    T.EYE: (10, 2),
    T.LENS: (95, 5),
    T.METAL: (8000, 0),  # far above the scale: the scanner clips it to 3071
    T.ENAMEL: (2800, 120),
    T.DENTINE: (1750, 80),
    T.BLOOD_RIGHT: (40, 3),
}
LEGACY_LAST = T.METAL  # labels after this one are listed in truth.json only where drawn

# portal-venous / late-arterial phase after an iodinated bolus
_CONTRAST: dict[T, float] = {
    T.MUSCLE: 62,
    T.LIVER: 105,
    T.SPLEEN: 120,
    T.KIDNEY_CORTEX: 185,
    T.KIDNEY_MEDULLA: 95,
    T.STOMACH_WALL: 95,
    T.BOWEL_WALL: 90,
    T.PANCREAS: 110,
    T.HEART: 120,
    T.CARDIAC_BLOOD: 300,
    T.ARTERY: 330,
    T.ARTERY_WALL: 90,
    T.VEIN: 165,
    T.SKIN: 60,
}


def hu_table(contrast: bool, arterial_hu: float = 330.0) -> HUTable:
    """HU per label, with the contrast-enhanced values when `contrast`."""
    mean = np.zeros(N_LABELS, dtype=np.float32)
    sd = np.zeros(N_LABELS, dtype=np.float32)
    for label, (m, s) in _NATIVE.items():
        mean[label], sd[label] = m, s
    if contrast:
        for label, m in _CONTRAST.items():
            mean[label] = m
        mean[T.ARTERY] = arterial_hu
        mean[T.CARDIAC_BLOOD] = arterial_hu - 30
    return HUTable(mean=mean, texture_sd=sd)


# arterial phase (bolus tracked in the aorta): the left heart and aorta are the brightest,
# the right heart and pulmonary arteries less so, veins and organs barely enhanced yet
_ARTERIAL: dict[T, float] = {
    T.MUSCLE: 55,
    T.LIVER: 70,
    T.SPLEEN: 105,
    T.KIDNEY_CORTEX: 190,
    T.KIDNEY_MEDULLA: 60,
    T.STOMACH_WALL: 80,
    T.BOWEL_WALL: 75,
    T.PANCREAS: 100,
    T.HEART: 105,
    T.ARTERY_WALL: 60,
    T.VEIN: 75,
    T.SKIN: 50,
}


def arterial_hu_table(left_hu: float, right_hu: float) -> HUTable:
    """HU per label in the arterial phase: aorta and coronaries at `left_hu`, left heart
    10 HU less, right heart and pulmonary arteries at `right_hu`."""
    table = hu_table(False)
    for label, m in _ARTERIAL.items():
        table.mean[label] = m
    table.mean[T.ARTERY] = left_hu
    table.mean[T.CARDIAC_BLOOD] = left_hu - 10
    table.mean[T.BLOOD_RIGHT] = right_hu
    return table


# what the report contract calls the tissue a label belongs to; periarticular and tendon
# sites are decided by anatomy (joints, insertions), not by the label alone
REPORT_TISSUE: dict[T, str] = {
    T.SKIN: "skin_subcutaneous",
    T.FAT: "skin_subcutaneous",
    T.MUSCLE: "muscle",
    T.TENDON: "tendon",
    T.LUNG: "lung",
    T.AIRWAY: "lung",
    T.KIDNEY_CORTEX: "kidney",
    T.KIDNEY_MEDULLA: "kidney",
    T.RENAL_SINUS: "kidney",
    T.STOMACH_WALL: "stomach",
    T.STOMACH_FLUID: "stomach",
    T.BRAIN: "brain",
    T.CSF: "brain",
    T.EYE: "eye",
    T.LENS: "eye",
    T.ARTERY: "arterial_wall",
    T.ARTERY_WALL: "arterial_wall",
    T.BLOOD_RIGHT: "other_visceral",
    T.LIVER: "other_visceral",
    T.SPLEEN: "other_visceral",
    T.PANCREAS: "other_visceral",
    T.BOWEL_WALL: "other_visceral",
    T.BOWEL_CONTENT: "other_visceral",
    T.BLADDER: "other_visceral",
    T.HEART: "other_visceral",
    T.VISCERAL_FAT: "other_visceral",
}


def lut(labels: frozenset[int] | set[int]) -> np.ndarray:
    """Boolean lookup table: lut(S)[label_map] is the mask of voxels whose label is in S."""
    table = np.zeros(256, dtype=bool)
    table[list(labels)] = True
    return table
