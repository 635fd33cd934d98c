"""The outline of a candidate opacity and the shape measures that tell a deposit from bone.

The outline is the piece above a fixed fraction of the peak's height over its background,
connected to the peak, searched for only as far as the background was measured: a piece
that reaches that far is part of something larger (a cortex, a bone end) and no deposit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError


@dataclass(frozen=True)
class Outline:
    """A candidate's outline in a window of the image it was drawn on."""

    mask: np.ndarray  # bool, window-sized
    origin: tuple[int, int]  # (row, col) of the window's first pixel
    touches: bool  # reaches the edge of the search disc: part of a larger structure


@dataclass(frozen=True)
class Shape:
    """How deposit-like an outline is."""

    area: int
    elongation: float  # longest over shortest axis of the equivalent ellipse
    solidity: float  # area over convex hull area
    offset: float  # peak to centroid, in equivalent radii: a ring or crescent peaks off-centre
    axis: tuple[float, float] = (1.0, 0.0)  # unit (row, col) direction of the longest axis


def outline(image: np.ndarray, peak_rc: tuple[int, int], level: float, radius: float) -> Outline:
    """Pixels above `level` connected to the peak, inside a disc of `radius` round it."""
    r = int(np.ceil(radius)) + 1
    pr, pc = peak_rc
    r0, c0 = max(pr - r, 0), max(pc - r, 0)
    window = image[r0 : pr + r + 1, c0 : pc + r + 1]
    yy, xx = np.ogrid[r0 - pr : r0 - pr + window.shape[0], c0 - pc : c0 - pc + window.shape[1]]
    dist = np.sqrt(yy * yy + xx * xx)
    above = (window > level) & (dist <= radius)
    labels, _ = ndimage.label(above)
    own = labels[pr - r0, pc - c0]
    mask = labels == own if own else np.zeros_like(above)
    clipped = r0 > pr - r or c0 > pc - r or window.shape[0] < 2 * r + 1 or window.shape[1] < 2 * r + 1
    touches = bool((mask & (dist > radius - 1.0)).any()) or (clipped and _on_border(mask))
    return Outline(mask, (r0, c0), touches)


def _on_border(mask: np.ndarray) -> bool:
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def shape_of(mask: np.ndarray, peak_rc: tuple[int, int]) -> Shape:
    """Elongation, solidity and peak offset of one outline (`peak_rc` in the mask's frame)."""
    rr, cc = np.nonzero(mask)
    area = len(rr)
    if area < 3:
        return Shape(area, 1.0, 1.0, 0.0)
    cov = np.cov(np.vstack([rr, cc])) + np.eye(2) / 12.0  # a pixel's own spread
    ev, vectors = np.linalg.eigh(cov)
    elongation = float(np.sqrt(ev[1] / max(ev[0], 1e-9)))
    hull = _hull_area(rr, cc)
    solidity = float(min(1.0, area / max(hull, 1.0)))
    radius = np.sqrt(area / np.pi)
    offset = float(np.hypot(peak_rc[0] - rr.mean(), peak_rc[1] - cc.mean()) / max(radius, 1.0))
    axis = (float(vectors[0, 1]), float(vectors[1, 1]))
    return Shape(area, elongation, solidity, offset, axis)


def _hull_area(rr: np.ndarray, cc: np.ndarray) -> float:
    """Area of the convex hull of the pixels' squares (a 2D hull's "volume" is its area)."""
    corners = np.concatenate(
        [np.column_stack([rr + dr, cc + dc]) for dr in (-0.5, 0.5) for dc in (-0.5, 0.5)]
    ).astype(float)
    try:
        return float(ConvexHull(corners).volume)
    except QhullError:
        return float(len(rr))
