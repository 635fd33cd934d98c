"""Which body parts a CT series shows, read from the image content; the header a hint.

Each slice of the coarse grid is named by what it holds: brain inside a skull ring is the
head; a trunk section with both lungs filling much of it is the chest; a trunk section too
small for a chest or abdomen, between skull and lungs, is the neck; below the lungs (or with
only the posterior lung recesses beside the liver dome) the abdomen, down to the iliac
crests about 11 cm above the femoral heads; the pelvis below that. Body parts apart from the
trunk are limbs. BodyPartExamined is used only when the content names nothing (a scan of a
hand, a slab without landmarks). The per-slice names also place deposits that no other
landmark reaches (a slab of the upper abdomen has no lungs' apex or hip to count from).
"""

from __future__ import annotations

import numpy as np

from pipeline.anatomy.landmarks import Landmarks, two_parts
from pipeline.anatomy.regions import LIMB_PARTS, PELVIS_ABOVE_HIP_MM, body_part_region

_CHEST_LUNG_SHARE = 0.15  # of the trunk section: the lungs fill a chest slice
_NECK_MAX_CM2 = 250.0  # a neck section; the trunk is 500-1000 cm2
_HEAD_MIN_BRAIN_CM2 = 15.0
_ORDER = ("head", "neck", "chest", "abdomen", "pelvis")


def slice_parts(lm: Landmarks, header_part: str | None = None) -> list[str | None]:
    """The trunk body part of each coarse slice (None: no trunk there, or legs, or a limb
    alone: a hand's section is as small as a neck's, so a neck needs a head, lungs or the
    header's word in the scan)."""
    cell = lm.grid.space.cell_area_cm2
    trunk = lm.central.sum(axis=(1, 2)) * cell
    lungs = (lm.grid.lungs & lm.central).sum(axis=(1, 2)) * cell
    brain = lm.brain.sum(axis=(1, 2)) * cell
    fem_z = np.mean([b.centre[2] for b in lm.femoral.values()]) if lm.femoral else None
    top_of_lungs = lm.lung_top
    neck_possible = lm.head_bottom is not None or top_of_lungs is not None
    neck_possible |= body_part_region(header_part) in ("head", "neck")
    legs = _two_legs(lm)
    parts: list[str | None] = []
    for k, z in enumerate(lm.z):
        if brain[k] >= _HEAD_MIN_BRAIN_CM2:
            parts.append("head")
        elif trunk[k] <= 0 or legs[k]:
            parts.append(None)
        elif lungs[k] >= _CHEST_LUNG_SHARE * trunk[k]:
            parts.append("chest")
        elif trunk[k] <= _NECK_MAX_CM2:
            parts.append("neck" if neck_possible and (top_of_lungs is None or z > top_of_lungs) else None)
        elif fem_z is not None and z < fem_z + PELVIS_ABOVE_HIP_MM:
            parts.append("pelvis")
        elif top_of_lungs is not None and z > top_of_lungs:
            parts.append("neck")  # above the lungs, wider than a neck: the shoulders' level
        else:
            parts.append("abdomen")
    return parts


def _two_legs(lm: Landmarks) -> np.ndarray:
    """Per slice: the trunk cells are two parts of similar size (the thighs or legs)."""
    return np.array([two_parts(lm.central[k]) for k in range(len(lm.z))], bool)


def body_parts(lm: Landmarks, header_part: str | None) -> tuple[list[str], list[str]]:
    """(body parts in head-to-foot order, the evidence for each)."""
    parts = slice_parts(lm, header_part)
    counts = {p: parts.count(p) for p in _ORDER}
    named = [p for p in _ORDER if counts[p] >= _min_slices(lm)]
    evidence = [f"{p}: {counts[p]} of {len(parts)} slices ({_why(p)})" for p in named]
    if lm.arms.any():
        named.append("upper_arm")
        evidence.append("upper_arm: body parts apart from the trunk (arms beside it)")
    if lm.femoral and "hip" not in named:
        named.append("hip")
        evidence.append("hip: femoral heads in view")
    if lm.humeral and "shoulder" not in named:
        named.append("shoulder")
        evidence.append("shoulder: humeral heads in view")
    prior = body_part_region(header_part)
    if not [p for p in named if p in _ORDER] and prior:
        named.append(prior)
        evidence.append(f"{prior}: BodyPartExamined {header_part} (no trunk landmark in the image)")
    elif prior and prior not in named and prior not in LIMB_PARTS:
        evidence.append(f"the header's BodyPartExamined {header_part} was not confirmed by the image")
    return named, evidence


def _min_slices(lm: Landmarks) -> int:
    """Slices needed to name a part: about 1.5 cm of the body (one slice of a thin slab)."""
    step = float(np.median(np.abs(np.diff(lm.z)))) if len(lm.z) > 1 else 10.0
    return max(1, round(15.0 / max(step, 1e-3)))


def _why(part: str) -> str:
    return {
        "head": "brain inside a skull ring",
        "neck": "a narrow trunk section above the lungs",
        "chest": "aerated lung fills the section",
        "abdomen": "trunk below the lungs and above the iliac crests",
        "pelvis": "within 11 cm above the femoral heads",
    }[part]
