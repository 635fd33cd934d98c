"""Paint operations: the anatomy is an ordered list of them, drawn onto a label map.

Later operations overwrite earlier ones (a painter's algorithm), optionally only over given
labels, so organs can be placed "inside the cavity" and bones over everything. The list is
grid-independent: the CT grid and a radiograph's fine grid are painted from the same list.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.phantom.grid import Grid, Window
from pipeline.phantom.labels import T, lut
from pipeline.phantom.sdf import Shape


@dataclass(frozen=True)
class Fill:
    """Label every voxel inside `shape` (restricted to current labels in `within`)."""

    label: T
    shape: Shape
    within: frozenset[int] | None = None

    def paint(self, labels: np.ndarray, win: Window, d: np.ndarray, floor_mm: float) -> None:
        _assign(labels, win, d < 0, self.label, self.within)


@dataclass(frozen=True)
class Layers:
    """Concentric layers under the surface of `shape`: (thickness mm, label) from outside in,
    then `core` (None leaves the core as it is)."""

    shape: Shape
    bands: tuple[tuple[float, T], ...]
    core: T | None = None
    within: frozenset[int] | None = None
    floor_first: bool = False  # draw the outer band at least one voxel thick (vessel walls)

    def paint(self, labels: np.ndarray, win: Window, d: np.ndarray, floor_mm: float) -> None:
        depth = 0.0
        for n, (thickness, label) in enumerate(self.bands):
            t = max(thickness, floor_mm) if (n == 0 and self.floor_first) else thickness
            inner = depth + max(t, 0.0)
            _assign(labels, win, (d < -depth) & (d >= -inner), label, self.within)
            depth = inner
        if self.core is not None:
            _assign(labels, win, d < -depth, self.core, self.within)


@dataclass(frozen=True)
class Bone:
    """A bone: cortical shell of `cortex_mm` (at least the grid's floor) around `inner`.

    `marrow` (optional) marks the fatty medullary canal of a long-bone shaft.
    """

    shape: Shape
    cortex_mm: float
    cortex: T = T.CORTEX
    inner: T = T.CANCELLOUS
    marrow: Shape | None = None
    within: frozenset[int] | None = None

    def paint(self, labels: np.ndarray, win: Window, d: np.ndarray, floor_mm: float) -> None:
        t = max(self.cortex_mm, floor_mm)
        inside = d < 0
        # the core never touches the outside within a slice, whatever the SDF's accuracy,
        # so that filling each slice's cortical ring recovers the whole bone
        core = (d < -t) & ndimage.binary_erosion(inside, structure=_IN_PLANE)
        _assign(labels, win, inside & ~core, self.cortex, self.within)
        _assign(labels, win, core, self.inner, self.within)
        if self.marrow is not None:
            m = self.marrow.sdf(win) < -t * 0.5
            _assign(labels, win, core & m, T.MARROW, self.within)


Op = Fill | Layers | Bone

_IN_PLANE = np.array(
    [[[0, 0, 0], [0, 0, 0], [0, 0, 0]], [[0, 1, 0], [1, 1, 1], [0, 1, 0]], [[0, 0, 0], [0, 0, 0], [0, 0, 0]]],
    dtype=bool,
)


def _assign(
    labels: np.ndarray, win: Window, mask: np.ndarray, label: T, within: frozenset[int] | None
) -> None:
    sub = labels[win.slices]
    if within is not None:
        mask = mask & lut(within)[sub]
    sub[mask] = np.uint8(label)


def render(ops: Iterable[Op], grid: Grid, cortex_floor_mm: float | None = None) -> np.ndarray:
    """Paint `ops` in order onto a new (z, y, x) uint8 label map of `grid`.

    The cortex is drawn at least `cortex_floor_mm` thick (default: 1.1 in-plane
    voxel), so that every bone has a closed bright shell even on a coarse grid.
    """
    labels = np.zeros(grid.shape, dtype=np.uint8)
    floor = 1.1 * max(grid.spacing[0], grid.spacing[1]) if cortex_floor_mm is None else cortex_floor_mm
    full = grid.full
    for op in ops:
        lo, hi = op.shape.bounds()
        found = full.sub(lo - 0.5, hi + 0.5)
        if found is None:
            continue
        _, win = found
        op.paint(labels, win, op.shape.sdf(win), floor)
    return labels
