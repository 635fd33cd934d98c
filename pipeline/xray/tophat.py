"""The search images: path-opening top-hats at each deposit size, on a small pyramid.

At diameter d a bump is kept when no path of about d + 4 pixels can cross it; long
structures (cortices, bone edges, round bones' rims) are removed at every size. Sizes above
`COARSE_FROM_PX` are searched on a 2x coarser copy, where their paths are half as long: the
cost and memory of a path opening grow with its length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.xray.paths import path_openings
from pipeline.xray.work import block_mean, upsample

COARSE_FROM_PX = 14.0  # diameters (working pixels) searched on the 2x coarser level
PATH_MARGIN_PX = 4  # a path must overshoot a bump by this much to cross it
SMOOTH_PX = 1.0  # noise smoothing before the search (working pixels)


@dataclass
class TopHats:
    """Per diameter: the background (what long paths explain) and the top-hat above it."""

    smooth: np.ndarray  # the working image, lightly smoothed
    diameters: np.ndarray  # working pixels
    backgrounds: list[np.ndarray]  # per diameter, on the working grid
    tophats: list[np.ndarray]  # smooth - background, >= 0


def diameters_px(min_px: float, max_px: float) -> np.ndarray:
    """Diameters to search, a factor sqrt(2) apart, from min to max inclusive."""
    max_px = max(max_px, min_px)
    n = int(np.ceil(np.log(max_px / min_px) / np.log(np.sqrt(2)) - 1e-9)) + 1
    return np.geomspace(min_px, max_px, max(n, 1))


def path_length(d_px: float) -> int:
    """Pixels in a path that crosses a bump of diameter `d_px` with room to spare."""
    return int(np.ceil(d_px)) + PATH_MARGIN_PX


def top_hats(work: np.ndarray, diameters: np.ndarray) -> TopHats:
    """The smoothed working image and, per diameter, its path-opening background and top-hat."""
    smooth = ndimage.gaussian_filter(np.asarray(work, dtype=np.float32), SMOOTH_PX)
    fine = [d for d in diameters if d <= COARSE_FROM_PX]
    coarse = [d for d in diameters if d > COARSE_FROM_PX]
    backgrounds: dict[float, np.ndarray] = {}
    if fine:
        opened = path_openings(smooth, sorted({path_length(d) for d in fine}))
        backgrounds.update({d: opened[path_length(d)] for d in fine})
    if coarse:
        half = block_mean(smooth, 2)
        opened = path_openings(half, sorted({path_length(d / 2) for d in coarse}))
        for d in coarse:
            up = upsample(opened[path_length(d / 2)], 2, smooth.shape)
            backgrounds[d] = np.minimum(up, smooth)  # an opening never exceeds the image
    bgs = [backgrounds[d] for d in diameters]
    return TopHats(smooth, np.asarray(diameters), bgs, [smooth - b for b in bgs])
