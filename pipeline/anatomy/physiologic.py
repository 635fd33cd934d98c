"""Calcifications a reader expects that are not calcinosis: told by site and shape, listed
under `incidental` (contract 1.1) with a reason, never as deposits or pattern evidence.

- Calcified costal cartilage: in the anterior chest wall (or the costal margin of the upper
  abdomen), in the front of the trunk, against the ends of the ribs or the sternum and no
  deeper than their front by more than a cartilage's thickness (a coronary lies behind the
  sternum), not in the subcutaneous fat (where calcinosis cutis lies), not at a shoulder.
- Calcified laryngeal and tracheal cartilage: hugging the airway (an air column inside the
  neck or mediastinum, narrow and near the midline, apart from the lungs).
- Calcified hilar and mediastinal lymph nodes and bronchial cartilage ("other"): small
  dense foci in the lung or mediastinum within a hilum's reach of the midline.
- Physiologic intracranial calcification: inside the skull, on the midline (pineal gland,
  falx, dura), in mirrored pairs (choroid plexus, basal ganglia) or against the inner table
  (dura). A single off-midline focus in the brain stays a deposit.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from pipeline.anatomy.landmarks import Landmarks
from pipeline.models import Deposit, Incidental

_COSTAL_BONE_MM = 12.0  # costal cartilage runs from the rib's end to the sternum
_COSTAL_MAX_DX_MM = 140.0
_COSTAL_WALL_REACH_MM = 60.0  # the sternum or a rib end lies within this across
_COSTAL_DEPTH_MM = 35.0  # behind the front of those bones (the lower cartilages curve back)
_POOL_MM = 12.0  # a coronary or aortic plaque lies against the opacified lumen
_AIRWAY_MM = 12.0  # the cartilage rings wrap the airway's wall
_AIRWAY_MAX_DX_MM = 35.0
_AIRWAY_CM2 = (0.5, 8.0)  # trachea and larynx in section; a main bronchus is smaller
_MIDLINE_MM = 10.0
_HILUM_MM = 55.0  # the hila lie 3-5 cm either side of the midline
_HILAR_MAX_MM3 = 2000.0  # a calcified node; a larger mass is not waved through
_MIRROR_MM = 15.0
_DURA_MM = 6.0
_NOT_COSTAL_TISSUES = {"skin_subcutaneous", "lung", "kidney", "stomach", "arterial_wall", "eye"}


def split_incidental(deposits: list[Deposit], lm: Landmarks) -> tuple[list[Deposit], list[Incidental]]:
    """(deposits that stay, incidental findings) of one series, after site mapping."""
    airway = airway_mask(lm)
    kept: list[Deposit] = []
    found: list[Incidental] = []
    intracranial = [d for d in deposits if _in_skull(lm, d)]
    for d in deposits:
        kind, reason = _physiologic(d, lm, airway, intracranial)
        if kind is None:
            kept.append(d)
        else:
            found.append(Incidental(kind, d.series_uid, d.centroid_lps_mm, d.volume_mm3, d.max_hu, reason))
    return kept, found


def airway_mask(lm: Landmarks) -> np.ndarray:
    """Per slice: air columns in the trunk of a trachea's or larynx's size near the midline
    (the lungs, bowel gas and the outside are far larger or off the midline)."""
    g = lm.grid
    air = (g.hu < -600.0) & lm.central
    out = np.zeros_like(air)
    cell = g.space.cell_area_cm2
    for k in np.flatnonzero(air.any(axis=(1, 2))):
        labels, _n = ndimage.label(air[k])
        for i, box in enumerate(ndimage.find_objects(labels), start=1):
            part = labels[box] == i
            area = part.sum() * cell
            if not _AIRWAY_CM2[0] <= area <= _AIRWAY_CM2[1]:
                continue
            cx = float(lm.x[box[1]][np.nonzero(part)[1]].mean())
            if abs(cx - lm.midline[k]) <= _AIRWAY_MAX_DX_MM:
                out[k][box] |= part
    return out


def _physiologic(
    d: Deposit, lm: Landmarks, airway: np.ndarray, intracranial: list[Deposit]
) -> tuple[str | None, str]:
    if d in intracranial:
        return _intracranial(d, lm, intracranial)
    near_airway = _distance_to(airway, lm, d)
    if near_airway <= _AIRWAY_MM and d.region in ("neck", "chest"):
        return (
            "laryngotracheal_cartilage",
            f"calcified laryngeal or tracheal cartilage: {near_airway:.0f} mm from the airway's lumen",
        )
    if _hilar(d, lm):
        dx = abs(d.centroid_lps_mm[0] - lm.midline[lm.slice_of(float(d.centroid_lps_mm[2]))])
        return (
            "other",
            f"hilar or mediastinal ({dx:.0f} mm from the midline, in the {d.tissue.replace('_', ' ')}): "
            "a calcified lymph node or bronchial cartilage, not calcinosis",
        )
    if _costal(d, lm):
        return (
            "costal_cartilage",
            f"calcified costal cartilage: anterior chest wall, {_distance_to(lm.grid.bone, lm, d):.0f} mm "
            "from the rib ends or sternum, deep to the subcutaneous fat",
        )
    return None, ""


def _hilar(d: Deposit, lm: Landmarks) -> bool:
    """A small dense focus at the hila or in the mediastinum of a slice with lungs: calcified
    nodes (old granulomatous disease) and bronchial cartilage lie there in many adults.
    Metastatic calcification of the lung is diffuse through the parenchyma, not hilar."""
    if d.region != "chest" or d.tissue not in ("lung", "other_visceral", "unknown"):
        return False
    k = lm.slice_of(float(d.centroid_lps_mm[2]))
    if not lm.grid.lungs[k].any() or d.volume_mm3 > _HILAR_MAX_MM3:
        return False
    return abs(d.centroid_lps_mm[0] - lm.midline[k]) <= _HILUM_MM


def _costal(d: Deposit, lm: Landmarks) -> bool:
    if d.region not in ("chest", "abdomen") or d.tissue in _NOT_COSTAL_TISSUES:
        return False
    k = lm.slice_of(float(d.centroid_lps_mm[2]))
    rows = np.flatnonzero(lm.central[k].any(axis=1))
    if not len(rows):
        return False
    front, back = lm.y[rows[0]], lm.y[rows[-1]]
    anterior = d.centroid_lps_mm[1] < front + 0.4 * (back - front)
    lateral = abs(d.centroid_lps_mm[0] - lm.midline[k]) <= _COSTAL_MAX_DX_MM
    near_bone = _distance_to(lm.grid.bone, lm, d) <= _COSTAL_BONE_MM
    wall = _in_the_wall(d, lm, k) and _distance_to(lm.grid.pool, lm, d) > _POOL_MM
    return bool(anterior and lateral and near_bone and wall and _in_front_of_lung(d, lm, k))


def _in_the_wall(d: Deposit, lm: Landmarks, k: int) -> bool:
    """Costal cartilage lies in the chest wall, no deeper than the front of the bones
    around it (the sternum, the rib ends) by more than the lower cartilages curve back; a
    mediastinal node or the aorta lies deeper. (On an enhanced scan a coronary against the
    opacified heart is told by its lumen; see `_costal`.)"""
    x, y = d.centroid_lps_mm[0], d.centroid_lps_mm[1]
    columns = np.abs(lm.x - x) <= _COSTAL_WALL_REACH_MM
    bone = lm.grid.bone[k][:, columns]
    rows = np.flatnonzero(bone.any(axis=1))
    if not len(rows):
        return False
    return bool(y <= lm.y[rows[0]] + _COSTAL_DEPTH_MM)


def _in_front_of_lung(d: Deposit, lm: Landmarks, k: int) -> bool:
    """Where the slice holds lung, costal cartilage lies in front of it, within the rib
    cage's span: a deposit beside a humeral head, lateral to both lungs, is at the shoulder.
    Below the lungs (the costal margin) there is nothing to compare with."""
    lungs = lm.grid.lungs[k]
    if not lungs.any():
        return True
    columns = np.flatnonzero(lungs.any(axis=0))
    x = d.centroid_lps_mm[0]
    return bool(lm.x[columns].min() - 10.0 <= x <= lm.x[columns].max() + 10.0)


def _in_skull(lm: Landmarks, d: Deposit) -> bool:
    k, j, i = _cell(lm, d)
    return bool(lm.brain[k, max(j - 1, 0) : j + 2, max(i - 1, 0) : i + 2].any())


def _intracranial(d: Deposit, lm: Landmarks, intracranial: list[Deposit]) -> tuple[str | None, str]:
    x, _y, z = d.centroid_lps_mm
    dx = x - lm.midline[lm.slice_of(z)]
    if abs(dx) <= _MIDLINE_MM:
        return (
            "intracranial_physiologic",
            f"on the midline inside the skull ({abs(dx):.0f} mm): pineal gland or falx",
        )
    for other in intracranial:
        if other is d:
            continue
        mirrored = np.array(
            [2 * lm.midline[lm.slice_of(z)] - other.centroid_lps_mm[0], *other.centroid_lps_mm[1:]]
        )
        if np.linalg.norm(mirrored - np.asarray(d.centroid_lps_mm)) <= _MIRROR_MM:
            return (
                "intracranial_physiologic",
                "one of a mirrored pair inside the skull: choroid plexus or basal ganglia",
            )
    if _distance_to(lm.grid.bone, lm, d) <= _DURA_MM:
        return "intracranial_physiologic", "against the inner table of the skull: dural calcification"
    return None, ""


def _cell(lm: Landmarks, d: Deposit) -> tuple[int, int, int]:
    k, j, i = lm.grid.space.lps_to_cell(np.asarray(d.centroid_lps_mm))[0]
    return int(k), int(j), int(i)


def _distance_to(mask: np.ndarray, lm: Landmarks, d: Deposit) -> float:
    """In-plane distance (mm) from the deposit's centroid to the nearest cell of `mask` on its
    slice (inf: none there)."""
    k, _, _ = _cell(lm, d)
    jj, ii = np.nonzero(mask[k])
    if not len(jj):
        return float("inf")
    x, y = d.centroid_lps_mm[0], d.centroid_lps_mm[1]
    return float(np.sqrt((lm.x[ii] - x) ** 2 + (lm.y[jj] - y) ** 2).min())
