"""Independent checks of where a phantom deposit is, for tests/test_phantom*.py.

These rules re-derive a deposit's region and tissue from the generator's anatomical label
map and its landmarks, without reading the generator's site tables, so a deposit put in
the wrong place (or named wrongly) fails the tests.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from pipeline.phantom.labels import T

BONE = (T.CORTEX, T.CORTEX_DENSE, T.CANCELLOUS, T.MARROW, T.METAL)

# label -> tissue of the report contract, written out here on purpose (not imported)
ORGAN_TISSUE = {
    "lung": {T.LUNG},
    "kidney": {T.KIDNEY_CORTEX, T.KIDNEY_MEDULLA, T.RENAL_SINUS},
    "stomach": {T.STOMACH_WALL, T.STOMACH_FLUID, T.GAS},
    "brain": {T.BRAIN},
    "eye": {T.EYE, T.LENS},
    "arterial_wall": {T.ARTERY_WALL, T.ARTERY},
    "skin_subcutaneous": {T.FAT, T.SKIN},
    "muscle": {T.MUSCLE},
}
SOFT = {T.MUSCLE, T.FAT, T.TENDON}
JOINT_LANDMARKS = ("femoral_head", "greater_trochanter", "humeral_head", "elbow", "wrist")


def labels_under(labels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return labels[mask]


def fraction_in(values: np.ndarray, allowed: set[int]) -> float:
    return float(np.isin(values, list(allowed)).mean())


def bone_distance(
    labels: np.ndarray, mask: np.ndarray, spacing_xyz: tuple[float, float, float], pad_mm: float = 25.0
) -> float:
    """Smallest distance (mm, voxel centre to voxel centre) from the mask to bone or metal."""
    k, j, i = np.nonzero(mask)
    dx, dy, dz = spacing_xyz
    pads = [int(np.ceil(pad_mm / d)) for d in (dz, dy, dx)]
    lo = [max(int(a.min()) - p, 0) for a, p in zip((k, j, i), pads, strict=True)]
    hi = [min(int(a.max()) + p + 1, n) for a, p, n in zip((k, j, i), pads, labels.shape, strict=True)]
    sl = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    bone = np.isin(labels[sl], BONE)
    if not bone.any():
        return float("inf")
    dist = ndimage.distance_transform_edt(~bone, sampling=(dz, dy, dx))
    return float(dist[mask[sl]].min())


def nearest_joint_mm(point: np.ndarray, landmarks: dict[str, np.ndarray]) -> float:
    joints = [
        v for k, v in landmarks.items() if k.startswith(JOINT_LANDMARKS) or ("finger" in k and "mcp" in k)
    ]
    return float(min(np.linalg.norm(point - np.asarray(v)) for v in joints))


def region_ok(region: str, p: np.ndarray, lm: dict[str, np.ndarray]) -> bool:
    """Is point p (same frame as the landmarks) in `region`, judged from the landmarks?"""
    x, _, z = p
    side = "left" if x > lm["vertebra_L3"][0] else "right"

    def dist(name: str) -> float:
        return float(np.linalg.norm(p - lm[f"{name}_{side}"]))

    if region == "hip":
        return dist("femoral_head") < 90 or dist("greater_trochanter") < 70
    if region == "shoulder":
        return dist("humeral_head") < 75
    if region == "elbow":
        return dist("elbow") < 55
    if region == "hand":
        hand = [v for k, v in lm.items() if k.endswith(f"_{side}") and k.startswith(("hand", "finger"))]
        near_hand = min(float(np.linalg.norm(p - v)) for v in hand) < 50
        return near_hand and z < lm[f"wrist_{side}"][2] + 10
    if region == "forearm":
        e, w = lm[f"elbow_{side}"], lm[f"wrist_{side}"]
        t = float((p - e) @ (w - e) / ((w - e) @ (w - e)))
        return 0.1 < t < 0.95 and float(np.linalg.norm(p - (e + t * (w - e)))) < 45
    in_trunk = abs(x - lm["vertebra_L3"][0]) < abs(lm[f"humeral_head_{side}"][0] - lm["vertebra_L3"][0]) - 25
    if region == "thigh":
        below_hip = z < lm[f"lesser_trochanter_{side}"][2] + 10 and dist("femoral_head") > 60
        return below_hip and abs(x - lm[f"femoral_head_{side}"][0]) < 90 and not region_ok("hand", p, lm)
    if region == "head":
        return z > lm["vertebra_C2"][2]
    if region == "chest":
        lowest_dome = min(lm["diaphragm_left"][2], lm["diaphragm_right"][2])
        return in_trunk and lowest_dome - 10 < z < lm["sternum_top"][2] + 40
    if region == "abdomen":
        top = min(lm["diaphragm_left"][2], lm["diaphragm_right"][2]) - 20
        return in_trunk and lm["vertebra_L5"][2] < z < top
    raise AssertionError(f"no rule for region {region}")


def tissue_ok(
    tissue: str, under: np.ndarray, near: np.ndarray, bone_mm: float, joint_mm: float, voxel_mm: float
) -> bool:
    """Does the deposit's tissue name fit the labels under it (and 1 voxel round it)?"""
    if tissue == "periarticular":
        return fraction_in(under, SOFT) > 0.9 and bone_mm >= 2.9 and joint_mm < 75
    if tissue == "tendon":
        return bool(np.isin(near, [T.TENDON]).any()) and bone_mm <= max(2.0, 1.01 * voxel_mm)
    return fraction_in(under, ORGAN_TISSUE[tissue]) >= 0.5
