"""Where along an arm a point lies: upper arm, elbow, forearm or hand.

Segment lengths are fixed fractions of the arm (Drillis and Contini's proportions:
humerus 0.186, forearm 0.146, hand 0.108 of body height), so the elbow lies at 0.42 and
the wrist at 0.75 of the way from the shoulder joint to the fingertips, whatever the
patient's size. The shoulder is the humeral head when found; the fingertips are the far
end of the arm when the hand is in the scan (many small bones across it). Otherwise
adult lengths are used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.anatomy.landmarks import IN_PLANE, Landmarks

ELBOW_HALF_MM = 35.0  # the elbow region reaches this far above and below the joint
MIN_BONE_MM2 = 12.0
ELBOW_FRACTION, WRIST_FRACTION = 0.42, 0.75
ELBOW_MM, WRIST_MM = 300.0, 550.0  # adult lengths from the humeral head, when no hand is seen


@dataclass(frozen=True)
class ArmLevels:
    """Slice z (LPS mm) of the elbow and wrist of one arm part, and how they were found."""

    elbow: float
    wrist: float
    down: bool  # the hand is below the shoulder (arms at the sides)
    how: str


def arm_levels(lm: Landmarks, label: int, side: str) -> ArmLevels:
    part = lm.arms == label
    ks = np.flatnonzero(part.any(axis=(1, 2)))
    area = part.sum(axis=(1, 2))
    quarter = max(1, len(ks) // 4)
    head = lm.humeral.get(side)
    if head is not None:
        top = float(head.centre[2])
        down = abs(lm.z[ks].max() - top) < abs(lm.z[ks].min() - top)
    else:
        down = bool(area[ks[:quarter]].mean() < area[ks[-quarter:]].mean())
        top = float(lm.z[ks].max() + 80.0) if down else float(lm.z[ks].min() - 80.0)
    sign = -1.0 if down else 1.0
    end = ks[:quarter] if down else ks[-quarter:]
    tip = float(lm.z[ks].min() if down else lm.z[ks].max())
    if _bones_across(lm, part, end) >= 3:
        length = abs(tip - top)
        how = f"arm {length:.0f} mm from the shoulder joint to the fingertips"
        return ArmLevels(
            top + sign * ELBOW_FRACTION * length, top + sign * WRIST_FRACTION * length, down, how
        )
    return ArmLevels(
        top + sign * ELBOW_MM, top + sign * WRIST_MM, down, "adult arm lengths (no hand in the scan)"
    )


def _bones_across(lm: Landmarks, part: np.ndarray, ks: np.ndarray) -> int:
    """Most separate bones seen across the arm in the given slices (a hand shows many)."""
    bone = lm.grid.bone[ks] & ndimage.binary_dilation(part[ks], structure=IN_PLANE)
    lab, _ = ndimage.label(bone, structure=IN_PLANE)
    min_cells = MIN_BONE_MM2 / (lm.grid.space.cell_area_cm2 * 100)
    best = 0
    for k in range(len(ks)):
        sizes = np.bincount(lab[k].ravel())[1:]
        best = max(best, int((sizes >= min_cells).sum()))
    return best


def arm_region(levels: ArmLevels, z: float) -> tuple[str, str]:
    """Region of a point at height z of an arm, and why."""
    sign = 1.0 if levels.down else -1.0  # distance towards the hand is positive
    d = sign * (levels.elbow - z)
    if abs(d) <= ELBOW_HALF_MM:
        return "elbow", f"{abs(d):.0f} mm from the elbow ({levels.how})"
    if d < 0:
        return "upper_arm", f"between shoulder and elbow ({levels.how})"
    if sign * (z - levels.wrist) > 0:
        return "forearm", f"between elbow and wrist ({levels.how})"
    return "hand", f"beyond the wrist ({levels.how})"
