"""A coarser working grid for anatomy, so that thin-slice scans cost what a 2 mm scan costs.

The body, table, lungs, metal, skeleton and blood pool do not need sub-millimetre voxels;
they are found on a grid of block means about 2 mm in-plane and 2.5 mm along the slices.
Calcium is then searched for and measured on the original voxels. A scan already that
coarse is used as it is (factors of 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TARGET_IN_PLANE_MM = 1.8
TARGET_SLICE_MM = 2.5


@dataclass(frozen=True)
class WorkGrid:
    shape: tuple[int, int, int]  # full-resolution (z, y, x)
    factors: tuple[int, int, int]  # block size along (z, y, x)
    spacing: tuple[float, float, float]  # full-resolution (z, y, x) mm

    @classmethod
    def for_volume(cls, shape: tuple[int, int, int], spacing: tuple[float, float, float]) -> WorkGrid:
        fz = max(1, round(TARGET_SLICE_MM / spacing[0]))
        fy = max(1, round(TARGET_IN_PLANE_MM / spacing[1]))
        fx = max(1, round(TARGET_IN_PLANE_MM / spacing[2]))
        return cls(tuple(shape), (min(fz, shape[0]), min(fy, shape[1]), min(fx, shape[2])), tuple(spacing))

    @property
    def is_identity(self) -> bool:
        return self.factors == (1, 1, 1)

    @property
    def work_shape(self) -> tuple[int, int, int]:
        return tuple(-(-n // f) for n, f in zip(self.shape, self.factors, strict=True))  # type: ignore[return-value]

    @property
    def work_spacing(self) -> tuple[float, float, float]:
        return tuple(s * f for s, f in zip(self.spacing, self.factors, strict=True))  # type: ignore[return-value]

    def reduce(self, hu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Block means (float32) and block maxima (hu's type) of the volume.

        One working slice at a time, so that no full-resolution temporary is made (a
        512 x 512 x 600 scan is 300 MiB as int16, 1.2 GiB as float64). Partial blocks at the
        far edges average the voxels they have.
        """
        if self.is_identity:
            return hu.astype(np.float32), hu
        mean = np.empty(self.work_shape, np.float32)
        peak = np.empty(self.work_shape, hu.dtype)
        starts_y, starts_x = (
            np.arange(0, n, f) for n, f in zip(self.shape[1:], self.factors[1:], strict=True)
        )
        count_yx = np.outer(np.diff([*starts_y, self.shape[1]]), np.diff([*starts_x, self.shape[2]]))
        fz = self.factors[0]
        for k in range(self.work_shape[0]):
            slab = hu[k * fz : (k + 1) * fz]
            total = slab.sum(axis=0, dtype=np.float32)
            total = np.add.reduceat(np.add.reduceat(total, starts_y, axis=0), starts_x, axis=1)
            mean[k] = total / (count_yx * len(slab))
            top = slab.max(axis=0)
            peak[k] = np.maximum.reduceat(np.maximum.reduceat(top, starts_y, axis=0), starts_x, axis=1)
        return mean, peak

    def dense_within(
        self, hu: np.ndarray, threshold: float | np.ndarray, region: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Full-resolution voxels at or above `threshold` inside the working-grid mask
        `region`, and the working cells that hold any of them. `threshold` is one value or
        one per working cell (a higher level beside a contrast-filled lumen).

        Built one working slice at a time: the same as `(hu >= threshold) & up(region)`
        without the two full-resolution temporaries.
        """
        if self.is_identity:
            dense = hu >= threshold
            dense &= region
            return dense, dense
        per_cell = np.ndim(threshold) > 0
        dense = np.empty(self.shape, bool)
        occupied = np.empty(self.work_shape, bool)
        fz, fy, fx = self.factors
        ny, nx = self.shape[1:]
        starts_y, starts_x = np.arange(0, ny, fy), np.arange(0, nx, fx)
        for k in range(self.work_shape[0]):
            slab = dense[k * fz : (k + 1) * fz]
            level = self._cells_up(threshold[k], ny, nx) if per_cell else threshold
            np.greater_equal(hu[k * fz : (k + 1) * fz], level, out=slab)
            slab &= self._cells_up(region[k], ny, nx)
            seen = slab.any(axis=0)
            occupied[k] = np.logical_or.reduceat(
                np.logical_or.reduceat(seen, starts_y, axis=0), starts_x, axis=1
            )
        return dense, occupied

    def _cells_up(self, cells: np.ndarray, ny: int, nx: int) -> np.ndarray:
        """One working slice's cells repeated onto the full-resolution slice."""
        fy, fx = self.factors[1:]
        return np.repeat(np.repeat(cells, fy, axis=0), fx, axis=1)[:ny, :nx]

    def full_box(self, cells: tuple[slice, ...]) -> tuple[slice, slice, slice]:
        """The full-resolution voxels of a box of working cells."""
        return tuple(  # type: ignore[return-value]
            slice(c.start * f, min(c.stop * f, n))
            for c, f, n in zip(cells, self.factors, self.shape, strict=True)
        )

    def up(self, mask: np.ndarray, box: tuple[slice, ...] | None = None) -> np.ndarray:
        """A work-grid mask on the full-resolution grid (each cell repeated); with `box`,
        `mask` holds the cells of that full-resolution box (see `full_box`)."""
        box = box or tuple(slice(0, n) for n in self.shape)
        out = mask
        for axis, f in enumerate(self.factors):
            if f > 1:
                out = np.repeat(out, f, axis=axis)
        return out[tuple(slice(0, s.stop - s.start) for s in box)]

    def cell_of(self, kji: np.ndarray) -> tuple[np.ndarray, ...]:
        """Work-grid indices of full-resolution (k, j, i) indices, as an index tuple."""
        return tuple(kji[:, a] // f for a, f in enumerate(self.factors))
