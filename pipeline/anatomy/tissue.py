"""Tissue of a deposit from what surrounds it (no model): lung, brain, eye, kidney, aortic
wall, stomach, tendon insertion, periarticular soft tissue, subcutaneous fat, muscle,
viscera. Each rule says why it holds, and the first that holds wins.
"""

from __future__ import annotations

import numpy as np

from pipeline.anatomy.landmarks import Landmarks
from pipeline.anatomy.local import Surroundings
from pipeline.config import AnatomyConfig

JOINT_REGIONS = {"shoulder", "elbow", "hand", "hip", "knee", "foot"}
TRUNK_REGIONS = {"chest", "abdomen", "pelvis", "neck"}


def tissue(lm: Landmarks, s: Surroundings, region: str, cfg: AnatomyConfig, in_pool: bool) -> tuple[str, str]:
    if in_pool:
        return "arterial_wall", "against the contrast-filled blood pool (vessel or heart)"
    if s.lung_fraction >= 0.5:
        return "lung", f"{100 * s.lung_fraction:.0f}% of its surroundings is aerated lung"
    if lm.brain[s.cell]:
        return "brain", "inside the skull"
    for rule in (_eye, _aorta, _kidney, _stomach):
        found = rule(lm, s, region)
        if found:
            return found
    if region in JOINT_REGIONS:
        return _joint(lm, s, region, cfg)
    return _soft(lm, s, region)


def _dx(lm: Landmarks, s: Surroundings) -> float:
    return float(s.centroid[0] - lm.midline[s.cell[0]])


def _spine_y(lm: Landmarks, k: int) -> float | None:
    """Front of the vertebral body at slice k (nearest slice where it was seen)."""
    ok = np.flatnonzero(~np.isnan(lm.spine_front))
    if not len(ok):
        return None
    near = ok[np.argmin(np.abs(ok - k))]
    return float(lm.spine_front[near]) if abs(near - k) * lm.grid.space.spacing[0] <= 30 else None


def _eye(lm: Landmarks, s: Surroundings, region: str) -> tuple[str, str] | None:
    """In the front third of the head, outside the cranial cavity but level with it, 15-55 mm
    beside the midline: the globe in its orbit."""
    if region != "head":
        return None
    k = s.cell[0]
    near = lm.brain[max(k - 12, 0) : k + 13].any(axis=(1, 2))
    ys = lm.y[np.any(lm.central[k], axis=1)]
    if not len(ys) or not near.any():
        return None
    front = s.centroid[1] - ys.min()
    adx = abs(_dx(lm, s))
    if front <= 0.3 * (ys.max() - ys.min()) and 15 <= adx <= 55:
        return (
            "eye",
            f"in the front of the head {adx:.0f} mm beside the midline, level with the skull (orbit)",
        )
    return None


def _kidney(lm: Landmarks, s: Surroundings, region: str) -> tuple[str, str] | None:
    """Beside the spine and behind its front, in soft tissue, from the diaphragm down to
    ~20 cm below it (T11-L3): where the kidneys lie."""
    if region not in ("abdomen", "chest") or s.lung_fraction >= 0.2:
        return None
    if lm.diaphragm is not None and s.centroid[2] > lm.diaphragm + 20:
        return None
    front = _spine_y(lm, s.cell[0])
    adx = abs(_dx(lm, s))
    if front is None or not 35 <= adx <= 115:
        return None
    rel_y = s.centroid[1] - front
    if not -5 <= rel_y <= 75 or s.shell_hu < -40:
        return None
    if lm.diaphragm is not None and s.centroid[2] < lm.diaphragm - 200:
        return None
    side = "left" if _dx(lm, s) > 0 else "right"
    return (
        "kidney",
        f"in soft tissue {adx:.0f} mm {side} of the spine, beside the vertebral bodies (renal fossa)",
    )


def _aorta(lm: Landmarks, s: Surroundings, region: str) -> tuple[str, str] | None:
    """Just in front of the vertebral bodies near the midline, below the lung apices: the
    wall of the aorta (or of the iliac arteries low in the abdomen)."""
    if region not in ("abdomen", "chest", "pelvis"):
        return None
    front = _spine_y(lm, s.cell[0])
    if front is None:
        return None
    rel_y = s.centroid[1] - front  # negative: in front of the spine
    if -45 <= rel_y <= 8 and abs(_dx(lm, s)) <= 35 and s.lung_fraction < 0.2:
        return "arterial_wall", f"{-rel_y:.0f} mm in front of the spine, beside the midline (aortic wall)"
    return None


def _stomach(lm: Landmarks, s: Surroundings, region: str) -> tuple[str, str] | None:
    """Left upper quadrant, in front of the spine, just below the diaphragm."""
    if region != "abdomen" or lm.diaphragm is None:
        return None
    front = _spine_y(lm, s.cell[0])
    dx = _dx(lm, s)
    below = lm.diaphragm - s.centroid[2]
    if front is None or not 35 <= dx <= 120 or not -20 <= below <= 70:
        return None
    if s.centroid[1] - front < -5 and s.soft_mm > 8:
        return "stomach", f"left upper abdomen {below:.0f} mm below the diaphragm, in front of the spine"
    return None


def _joint(lm: Landmarks, s: Surroundings, region: str, cfg: AnatomyConfig) -> tuple[str, str]:
    tendon = _tendon(lm, s, region)
    if tendon:
        return tendon
    if region == "hand":
        if s.soft_mm < 3:
            return (
                "skin_subcutaneous",
                f"only fat between it and the skin of the hand ({s.depth_mm:.0f} mm deep)",
            )
        if s.gap_mm <= min(8.0, cfg.periarticular_mm):
            return (
                "periarticular",
                f"{s.gap_mm:.0f} mm from the small bones of the hand (finger / wrist joints)",
            )
        return _soft(lm, s, region)
    if s.gap_mm <= cfg.periarticular_mm and not (s.volume_mm3 <= 500 and _superficial(s)):
        return "periarticular", f"{s.gap_mm:.0f} mm from the bones of the {region} joint"
    return _soft(lm, s, region)


def _superficial(s: Surroundings) -> bool:
    """In the fat under the skin: nothing but fat on the way out, and shallow or in fat."""
    return s.soft_mm < 3 and (s.depth_mm <= 12 or (s.shell_hu < -60 and s.lung_fraction < 0.1))


INSERTIONS = {
    # joint head -> insertion: (lateral, up) offsets in head radii (tuberosity / trochanter)
    "shoulder": ((0.85, 0.15), "greater tuberosity", "supraspinatus"),
    "hip": ((2.2, -0.5), "greater trochanter", "gluteus medius"),
}


def _tendon(lm: Landmarks, s: Surroundings, region: str) -> tuple[str, str] | None:
    """A small deposit on the bone (<= 4 mm) at a tendon insertion: the greater tuberosity
    of the humerus (supraspinatus) or the greater trochanter of the femur (gluteus medius)."""
    if s.gap_mm > 4.0 or s.volume_mm3 > 1000 or region not in INSERTIONS:
        return None
    (lat, up), bone, muscle = INSERTIONS[region]
    balls = lm.humeral if region == "shoulder" else lm.femoral
    mid = lm.midline[s.cell[0]]
    for ball in balls.values():
        side = np.sign(ball.centre[0] - mid)
        point = ball.centre + np.array([side * lat * ball.radius, 0.0, up * ball.radius])
        d = float(np.linalg.norm(s.centroid - point))
        if d <= 1.2 * ball.radius:
            return "tendon", f"on the {bone} ({s.gap_mm:.1f} mm off the bone): {muscle} insertion"
    return None


def _soft(lm: Landmarks, s: Surroundings, region: str) -> tuple[str, str]:
    """Subcutaneous fat, body wall muscle, or the viscera of a body cavity."""
    if _superficial(s):
        return "skin_subcutaneous", f"only fat between it and the skin ({s.depth_mm:.0f} mm deep)"
    if region not in TRUNK_REGIONS or s.soft_mm <= 35:
        if s.shell_hu < -400:
            return "unknown", "surrounded by air"
        return "muscle", f"{s.soft_mm:.0f} mm of soft tissue between it and the skin (muscle layer)"
    front = _spine_y(lm, s.cell[0])
    if front is not None and s.centroid[1] > front + 5:
        return "muscle", "deep beside or behind the spine (paraspinal / psoas muscle)"
    return "other_visceral", f"inside the {region} cavity, {s.soft_mm:.0f} mm of tissue under the skin"
