"""Agatston scoring (Agatston et al., JACC 1990) of one deposit.

Per axial slice, each connected part of the deposit with an area of at least 1 mm2 scores
area x density weight, the weight set by that part's peak HU: 1 for 130-199, 2 for 200-299,
3 for 300-399, 4 for 400 and above (at 120 kVp). Agatston's protocol used contiguous 3 mm
slices; thinner slices would count the same calcium several times, so by default the sum is
scaled by (slice spacing / 3 mm). `normalise=False` gives the plain per-slice sum that
published implementations such as CalciumScoring.jl (MolloiLab) return.

With `kvp_aware`, the weight bands follow the energy-specific thresholds of Gräni et al.
(Eur Heart J Cardiovasc Imaging 2018) for 70, 80, 100 and 135 kVp.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

# kVp -> lower HU edges of weights 1, 2, 3, 4 (120 kVp: Agatston's original bands)
WEIGHT_EDGES: dict[int, tuple[float, float, float, float]] = {
    70: (207, 318, 477, 636),
    80: (177, 271, 408, 544),
    100: (145, 222, 334, 446),
    120: (130, 200, 300, 400),
    135: (119, 183, 274, 364),
}
MIN_LESION_AREA_MM2 = 1.0
_EIGHT_CONNECTED = np.ones((3, 3), bool)


def weight_edges(kvp: float | None, kvp_aware: bool) -> tuple[tuple[float, float, float, float], int]:
    """Weight band edges and the kVp they belong to (120 unless kVp-aware)."""
    if not kvp_aware or kvp is None:
        return WEIGHT_EDGES[120], 120
    nearest = min(WEIGHT_EDGES, key=lambda k: abs(k - kvp))
    return WEIGHT_EDGES[nearest], nearest


def density_weight(peak_hu: float, edges: tuple[float, float, float, float] = WEIGHT_EDGES[120]) -> int:
    """0 below the first edge, else 1-4 (band edges belong to the higher weight)."""
    return int(np.searchsorted(np.asarray(edges), peak_hu, side="right"))


def agatston_score(
    hu: np.ndarray,
    mask: np.ndarray,
    pixel_area_mm2: float,
    slice_spacing_mm: float,
    *,
    edges: tuple[float, float, float, float] = WEIGHT_EDGES[120],
    normalise: bool = True,
) -> float:
    """Agatston score of the voxels in `mask` (z, y, x) whose HU reach the first band edge."""
    dense = mask & (hu >= edges[0])
    total = 0.0
    for k in np.flatnonzero(dense.any(axis=(1, 2))):
        labels, n = ndimage.label(dense[k], structure=_EIGHT_CONNECTED)
        if n == 0:
            continue
        index = np.arange(1, n + 1)
        areas = ndimage.sum_labels(np.ones_like(labels), labels, index) * pixel_area_mm2
        peaks = ndimage.maximum(hu[k], labels, index)
        for area, peak in zip(areas, peaks, strict=True):
            if area >= MIN_LESION_AREA_MM2:
                total += area * density_weight(float(peak), edges)
    return total * (slice_spacing_mm / 3.0) if normalise else total
