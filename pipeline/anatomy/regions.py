"""Body region and side of a point, from the landmarks of the scan itself.

Order of the rules: an arm (a body part apart from the trunk) is told by distance along
it; then the head (skull), the joint balls (shoulder, hip); then levels along the trunk
(lung apex, diaphragm, femoral heads); then the legs below the hips. BodyPartExamined
is the prior for partial scans in which the landmarks are missing.
"""

from __future__ import annotations

import numpy as np

from pipeline.anatomy.landmarks import Ball, Landmarks
from pipeline.anatomy.limbs import ArmLevels, arm_region

SIDE_MM = 20.0  # left / right beyond this distance from the midline (the phantom truth's rule)
SHOULDER_MM = 75.0  # from the humeral head centre
HIP_MM = 95.0  # from the femoral head centre
PELVIS_ABOVE_HIP_MM = 110.0  # iliac crests lie about this far above the femoral heads
THIGH_BELOW_HIP_MM = 60.0
KNEE_BELOW_HIP_MM = (390.0, 500.0)
FOOT_BELOW_HIP_MM = 850.0

BODY_PART_REGION = {
    "HEAD": "head", "BRAIN": "head", "SKULL": "head", "ORBIT": "head", "FACE": "head",
    "NECK": "neck", "CSPINE": "neck", "CHEST": "chest", "THORAX": "chest", "LUNG": "chest",
    "HEART": "chest", "TSPINE": "chest", "BREAST": "chest", "ABDOMEN": "abdomen",
    "LSPINE": "abdomen", "KIDNEY": "abdomen", "PELVIS": "pelvis", "HIP": "hip",
    "SHOULDER": "shoulder", "CLAVICLE": "shoulder", "HUMERUS": "upper_arm", "ARM": "upper_arm",
    "ELBOW": "elbow", "FOREARM": "forearm", "WRIST": "hand", "HAND": "hand", "FINGER": "hand",
    "UPPEREXTREMITY": "upper_arm", "LOWEREXTREMITY": "lower_leg",
    "FEMUR": "thigh", "THIGH": "thigh", "KNEE": "knee", "LEG": "lower_leg", "TIBIA": "lower_leg",
    "ANKLE": "foot", "FOOT": "foot", "TOE": "foot", "CALCANEUS": "foot",
}  # fmt: skip
LIMB_PARTS = {
    "upper_arm",
    "elbow",
    "forearm",
    "hand",
    "thigh",
    "knee",
    "lower_leg",
    "foot",
    "shoulder",
    "hip",
}


def body_part_region(body_part: str | None) -> str | None:
    """The region a DICOM BodyPartExamined names (a prefix match: 'ABDOMENPELVIS' is the
    abdomen, 'CHESTABDPELVIS' is None: a trunk scan says nothing about one region)."""
    if not body_part:
        return None
    key = body_part.upper().replace(" ", "").replace("_", "")
    if key in BODY_PART_REGION:
        return BODY_PART_REGION[key]
    hits = {r for k, r in BODY_PART_REGION.items() if key.startswith(k)}
    return hits.pop() if len(hits) == 1 and len(key) <= 14 and "ABD" not in key[3:] else None


def laterality(lm: Landmarks, xyz: np.ndarray) -> tuple[str, str]:
    k = lm.slice_of(float(xyz[2]))
    dx = float(xyz[0] - lm.midline[k])
    if dx > SIDE_MM:
        return "left", f"{dx:.0f} mm left of the midline (spine / body centre)"
    if dx < -SIDE_MM:
        return "right", f"{-dx:.0f} mm right of the midline (spine / body centre)"
    return "midline", f"{abs(dx):.0f} mm from the midline (spine / body centre)"


def region(lm: Landmarks, xyz: np.ndarray, arm: ArmLevels | None, body_part: str | None) -> tuple[str, str]:
    """Region of a point and the reason, or ("unknown", why)."""
    head = _near_ball(lm.humeral, xyz, SHOULDER_MM)
    if head:
        return "shoulder", f"{head[1]:.0f} mm from the {head[0]} humeral head (shoulder joint)"
    if arm is not None:
        return arm_region(arm, float(xyz[2]))
    z = float(xyz[2])
    if lm.head_bottom is not None and z >= lm.head_bottom:
        return "head", "at the level of the skull"
    hip = _near_ball(lm.femoral, xyz, HIP_MM, lateral_only=True, lm=lm)
    if hip:
        return "hip", f"{hip[1]:.0f} mm from the {hip[0]} hip joint (femoral head/acetabulum)"
    return _trunk_or_leg(lm, z, body_part)


def _trunk_or_leg(lm: Landmarks, z: float, body_part: str | None) -> tuple[str, str]:
    fem_z = np.mean([b.centre[2] for b in lm.femoral.values()]) if lm.femoral else None
    if fem_z is not None and z < fem_z - THIGH_BELOW_HIP_MM:
        return _leg(fem_z - z)
    if lm.lung_top is not None and lm.diaphragm is not None:
        if z > lm.lung_top + 15:
            return "neck", "above the lung apices"
        if z >= lm.diaphragm:
            return "chest", "between the lung apices and the diaphragm"
    if fem_z is not None:
        if z < fem_z + PELVIS_ABOVE_HIP_MM:
            return "pelvis", "between the iliac crests and the hips"
        return "abdomen", "below the diaphragm, above the iliac crests"
    if lm.diaphragm is not None:
        return "abdomen", "below the diaphragm"
    if lm.head_bottom is not None:
        return "neck", "below the skull"
    prior = body_part_region(body_part)
    if prior:
        return prior, f"no landmark in reach: the scan's BodyPartExamined is {body_part}"
    return "unknown", "no lung, skull or hip joint in the scan to place it by"


def _leg(below: float) -> tuple[str, str]:
    why = f"{below:.0f} mm below the hip joints"
    if below >= FOOT_BELOW_HIP_MM:
        return "foot", why
    if below >= KNEE_BELOW_HIP_MM[1]:
        return "lower_leg", why
    if below >= KNEE_BELOW_HIP_MM[0]:
        return "knee", why
    return "thigh", why


def _near_ball(
    balls: dict[str, Ball],
    xyz: np.ndarray,
    reach: float,
    lateral_only: bool = False,
    lm: Landmarks | None = None,
) -> tuple[str, float] | None:
    """The side and distance of a joint ball within reach; with lateral_only, points medial
    to the joint (inside the pelvis) do not count."""
    best = None
    for side, ball in balls.items():
        d = float(np.linalg.norm(xyz - ball.centre))
        if d > reach:
            continue
        if lateral_only and lm is not None:
            if not -90 <= xyz[2] - ball.centre[2] <= 60:  # the hip reaches little above the joint
                continue
            mid = lm.midline[lm.slice_of(float(xyz[2]))]
            if abs(xyz[0] - mid) < abs(ball.centre[0] - mid) - 25 or np.sign(xyz[0] - mid) != np.sign(
                ball.centre[0] - mid
            ):
                continue
        if best is None or d < best[1]:
            best = (side, d)
    return best
