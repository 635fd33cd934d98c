"""Candidate deposits: dense voxels where calcium can be, grouped and tested.

A candidate is a 3D connected clump of voxels at or above the calcium threshold inside the
search region (body minus bone and its rim, metal and its streaks, opacified blood). It is
kept when it is big enough and when its peak stands out from the tissue around it by
`significance_sigma` times the image noise: on a noisy low-dose scan thousands of specks
of noise cross 130 HU, while calcium stands far above its surroundings.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from pipeline.config import SegmentationConfig
from pipeline.segment.masks import Spacing

_CLUMP = np.ones((3, 3, 3), bool)  # 26-connected: a snowball's lobes touch at corners too
_AIR_LIKE_HU = -200.0  # air, lung and their partial-volume edges; fat (-100) is tissue


def find_candidates(
    hu: np.ndarray,
    search: np.ndarray,
    threshold: float,
    spacing: Spacing,
    cfg: SegmentationConfig,
    sigma: float,
) -> tuple[np.ndarray, list[str]]:
    """Label map (int32, 1..n) of the kept candidates, and notes on what was dropped."""
    dense = search & (hu >= threshold)
    labels, n = ndimage.label(dense, structure=_CLUMP)
    if n == 0:
        return labels, []
    voxel = float(np.prod(spacing))
    counts = np.bincount(labels.ravel(), minlength=n + 1)
    big = np.flatnonzero((counts >= cfg.min_voxels) & (counts * voxel >= cfg.min_volume_mm3))
    big = big[big > 0]
    kept, faint = [], 0
    boxes = ndimage.find_objects(labels)
    for i in big:
        if _significant(labels, hu, boxes[i - 1], int(i), sigma, cfg.significance_sigma):
            kept.append(int(i))
        else:
            faint += 1
    out = np.zeros(labels.shape, np.int32)
    for new, old in enumerate(kept, start=1):
        box = boxes[old - 1]
        region = labels[box] == old
        out[box][ndimage.binary_fill_holes(region)] = new
    notes = []
    if faint:
        notes.append(
            f"{faint} dense speck(s) not reported: peak within {cfg.significance_sigma:g} noise sigma "
            f"({sigma:.0f} HU) of the surrounding tissue"
        )
    return out, notes


def _significant(
    labels: np.ndarray,
    hu: np.ndarray,
    box: tuple[slice, ...],
    label: int,
    sigma: float,
    k: float,
) -> bool:
    """Peak above the tissue around it by k noise sigma."""
    grown = tuple(slice(max(0, s.start - 3), s.stop + 3) for s in box)
    region = labels[grown] == label
    values = hu[grown]
    background = local_background(values, region, labels[grown] == 0)
    return float(values[region].max()) - background >= k * sigma


def local_background(values: np.ndarray, region: np.ndarray, free: np.ndarray) -> float:
    """Median HU of the tissue in a 2-voxel shell around `region` (voxels where `free`).

    Whatever surrounds it, searched or not: a speck in cartilage is compared with cartilage.
    Air, lung and gas (and their blurred edges) are left out unless there is nothing else,
    as for a clump inside the lung.
    """
    shell = ndimage.binary_dilation(region, iterations=2) & ~region & free
    if not shell.any():
        return float(np.median(values[~region])) if (~region).any() else 0.0
    tissue = shell & (values > _AIR_LIKE_HU)
    return float(np.median(values[tissue] if tissue.sum() >= 5 else values[shell]))
