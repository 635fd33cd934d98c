"""Contrast-enhanced scans: find the opacified blood pool and raise the calcium threshold.

On a scan after iodinated contrast the aorta and heart hold blood of 200-500 HU, well above
Agatston's 130 HU: thresholded naively, every artery would be reported as calcification.
Opacified blood shows as connected soft tissue (outside bone) denser than `blood_pool_hu`
that is homogeneous, reaches the middle of the trunk (the aorta lies within a few cm of the
midline, the heart straddles it) and is shaped like a vessel (long along the body axis,
narrow across) or a heart chamber (large). A calcific mass at a hip or shoulder can be as
dense and as even, but lies far from the midline, so it is not mistaken for blood. When a
pool is found it is excluded (with the renal cortex and other enhancing organs it touches)
and calcium must exceed the pool's 99th centile by a margin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.config import SegmentationConfig

_MAX_POOL_SD_HU = 70.0  # blood is homogeneous: noise plus a little mixing
_VESSEL_MIN_LENGTH_MM = 60.0
_VESSEL_MAX_AREA_MM2 = 1500.0
_CHAMBER_MIN_VOLUME_MM3 = 150_000.0
_MIDLINE_REACH_MM = 60.0  # the aorta and the heart come this close to the body's midline


@dataclass
class ContrastFinding:
    enhanced: bool
    pool: np.ndarray  # enhancing soft tissue to exclude (empty when not enhanced)
    pool_p99_hu: float | None
    threshold_hu: float  # the calcium threshold to use on this scan
    note: str | None


def find_contrast(
    hu: np.ndarray,
    body: np.ndarray,
    exclude: np.ndarray,
    spacing: tuple[float, float, float],
    cfg: SegmentationConfig,
    base_threshold: float,
    header_agent: str | None,
) -> ContrastFinding:
    smooth = ndimage.uniform_filter(hu.astype(np.float32), size=3)
    enhancing = body & ~exclude & (smooth >= cfg.blood_pool_hu) & (smooth < 600)
    enhancing = ndimage.binary_opening(enhancing)
    labels, n = ndimage.label(enhancing)
    sizes = np.bincount(labels.ravel(), minlength=n + 1) * float(np.prod(spacing))
    central = _central_columns(body, spacing)
    pools = [
        i
        for i, box in enumerate(ndimage.find_objects(labels), start=1)
        if box is not None
        and sizes[i] >= cfg.blood_pool_min_volume_mm3
        and (labels[box] == i)[..., central[box[2]]].any()
        and _is_blood_pool(labels[box] == i, hu[box], spacing, cfg)
    ]
    if not pools:
        note = None
        if header_agent:
            note = f"header names a contrast agent ({header_agent}) but no opacified blood pool was found"
        return ContrastFinding(False, np.zeros_like(body), None, base_threshold, note)
    pool = np.isin(labels, pools)
    p99 = float(np.percentile(hu[pool], 99))
    threshold = max(base_threshold, p99 + cfg.contrast_margin_hu)
    # every enhancing region large enough to matter (renal cortex, spleen) goes with it
    big = np.flatnonzero(sizes >= cfg.blood_pool_min_volume_mm3 / 4)
    excluded = np.isin(labels, big[big > 0])
    excluded = ndimage.binary_dilation(excluded | pool)
    volume_ml = pool.sum() * float(np.prod(spacing)) / 1000.0
    note = (
        f"contrast-enhanced series (opacified blood pool {volume_ml:.0f} mL, 99th centile {p99:.0f} HU): "
        f"enhancing structures excluded and threshold raised to {threshold:.0f} HU"
    )
    return ContrastFinding(True, excluded, p99, threshold, note)


def _central_columns(body: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
    """Columns (x) within reach of the midline, the body's centre of mass across.

    The arms at the sides balance each other, so the centre of the whole body is the
    trunk's midline even when the patient lies off the scanner's centre.
    """
    columns = np.arange(body.shape[2])
    weight = body.sum(axis=(0, 1)).astype(float)
    mid = float((columns * weight).sum() / max(weight.sum(), 1.0))
    return np.abs(columns - mid) * spacing[2] <= _MIDLINE_REACH_MM


def _is_blood_pool(region: np.ndarray, hu: np.ndarray, spacing: tuple[float, float, float], cfg) -> bool:
    volume = region.sum() * float(np.prod(spacing))
    if volume < cfg.blood_pool_min_volume_mm3:
        return False
    interior = ndimage.binary_erosion(region)
    values = hu[interior if interior.sum() > 50 else region]
    if values.std() > _MAX_POOL_SD_HU:
        return False
    slices = np.flatnonzero(region.any(axis=(1, 2)))
    length = (slices[-1] - slices[0] + 1) * spacing[0]
    mean_area = volume / length
    tubular = length >= _VESSEL_MIN_LENGTH_MM and mean_area <= _VESSEL_MAX_AREA_MM2
    return tubular or volume >= _CHAMBER_MIN_VOLUME_MM3
