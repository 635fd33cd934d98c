"""How many lobes a snowball-like clump has.

Calcium phosphate aggregates into clumps of rounded nodules. Each nodule is a local maximum
of the distance to the clump's surface; two nodules count apart only when the neck between
them is narrower than both by at least `prominence_mm` (h-maxima of the distance map), so a
voxelised sphere is one lobe, not several.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.morphology import h_maxima

_UNITS_PER_MM = 10  # the distance map in tenths of a mm, as integers h-maxima handles exactly


def count_lobes(mask: np.ndarray, spacing_zyx: tuple[float, float, float], prominence_mm: float) -> int:
    """Number of distinct nodules in a binary clump (>= 1 for a non-empty mask)."""
    if mask.sum() < 8:
        return 1
    padded = np.pad(mask, 1)
    distance = ndimage.distance_transform_edt(padded, sampling=spacing_zyx)
    # a lobe must stand out by more than the voxel grid's own ripple in the distance map
    h = max(prominence_mm, 0.5 * max(spacing_zyx[1:]))
    if distance.max() <= h:
        return 1
    scaled = np.rint(distance * _UNITS_PER_MM).astype(np.int32)
    peaks = h_maxima(scaled, round(h * _UNITS_PER_MM))
    _, n = ndimage.label(peaks, structure=np.ones((3, 3, 3), bool))
    return max(1, int(n))
