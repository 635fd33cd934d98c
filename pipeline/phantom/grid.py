"""The voxel grid a phantom is drawn on, and windows into it.

Anatomy is described in a *body frame* (mm, axes as LPS: +x patient's left, +y posterior,
+z head; origin on the midline, on the table top, at the level of the femoral heads). The
grid knows the body frame coordinates of its voxel centres and the offset that turns body
coordinates into the scanner's LPS coordinates, so the same anatomy can be drawn on the CT
grid and on the fine grid of a radiograph.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class Window:
    """A box of voxels of a grid: numpy slices plus broadcastable body-frame axes.

    `x` has shape (1, 1, nx), `y` (1, ny, 1), `z` (nz, 1, 1), so expressions in x, y, z
    broadcast to the (z, y, x) window without building full coordinate arrays.
    """

    slices: tuple[slice, slice, slice]
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.z.shape[0], self.y.shape[1], self.x.shape[2])

    def sub(self, lo: np.ndarray, hi: np.ndarray) -> tuple[tuple[slice, ...], Window] | None:
        """The part of this window inside [lo, hi] (mm), as (local slices, sub-window)."""
        ranges = []
        for axis, (a, b) in zip(
            (self.x.ravel(), self.y.ravel(), self.z.ravel()), zip(lo, hi, strict=True), strict=True
        ):
            i0 = int(np.searchsorted(axis, a, side="left"))
            i1 = int(np.searchsorted(axis, b, side="right"))
            if i1 <= i0:
                return None
            ranges.append(slice(i0, i1))
        sx, sy, sz = ranges
        local = (sz, sy, sx)
        win = Window(
            slices=tuple(
                slice(outer.start + inner.start, outer.start + inner.stop)
                for outer, inner in zip(self.slices, local, strict=True)
            ),  # type: ignore[arg-type]
            x=self.x[:, :, sx],
            y=self.y[:, sy, :],
            z=self.z[sz, :, :],
        )
        return local, win


@dataclass(frozen=True)
class Grid:
    """An axis-aligned grid of voxel centres: array (z, y, x), spacing (dx, dy, dz) mm.

    `origin` is the body-frame position of voxel (0, 0, 0); `offset` is added to body
    coordinates to give LPS. Slices are ordered by increasing z (towards the head).
    """

    shape: tuple[int, int, int]
    spacing: Vec3
    origin: Vec3
    offset: Vec3 = (0.0, 0.0, 0.0)

    def axis(self, n: int) -> np.ndarray:
        """Body-frame coordinates of the voxel centres along x (0), y (1) or z (2)."""
        count = self.shape[2 - n]
        return (self.origin[n] + self.spacing[n] * np.arange(count)).astype(np.float32)

    @property
    def full(self) -> Window:
        nz, ny, nx = self.shape
        return Window(
            slices=(slice(0, nz), slice(0, ny), slice(0, nx)),
            x=self.axis(0).reshape(1, 1, -1),
            y=self.axis(1).reshape(1, -1, 1),
            z=self.axis(2).reshape(-1, 1, 1),
        )

    def window(self, lo: np.ndarray, hi: np.ndarray) -> Window | None:
        """The voxels whose centres lie in the body-frame box [lo, hi], or None."""
        found = self.full.sub(np.asarray(lo), np.asarray(hi))
        return None if found is None else found[1]

    @property
    def voxel_volume(self) -> float:
        return float(np.prod(self.spacing))

    @property
    def affine(self) -> np.ndarray:
        """4x4 voxel (i, j, k) -> LPS mm; rows go posterior, columns to the patient's left."""
        aff = np.eye(4)
        aff[:3, :3] = np.diag(self.spacing)
        aff[:3, 3] = np.add(self.origin, self.offset)
        return aff

    def body_to_index(self, p: np.ndarray) -> np.ndarray:
        """Body-frame mm -> continuous voxel index (i, j, k)."""
        return (np.asarray(p, dtype=float) - np.asarray(self.origin)) / np.asarray(self.spacing)

    def index_to_body(self, ijk: np.ndarray) -> np.ndarray:
        return np.asarray(self.origin) + np.asarray(ijk, dtype=float) * np.asarray(self.spacing)

    def to_lps(self, p: np.ndarray) -> np.ndarray:
        return np.asarray(p, dtype=float) + np.asarray(self.offset)

    def to_body(self, p_lps: np.ndarray) -> np.ndarray:
        return np.asarray(p_lps, dtype=float) - np.asarray(self.offset)
