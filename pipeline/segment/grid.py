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

    def mean(self, hu: np.ndarray) -> np.ndarray:
        """Block means (float32); partial blocks at the far edges are padded by replication."""
        if self.is_identity:
            return hu.astype(np.float32, copy=False)
        blocks = self._blocks(hu)
        return blocks.mean(axis=(1, 3, 5), dtype=np.float32)

    def maximum(self, values: np.ndarray) -> np.ndarray:
        if self.is_identity:
            return values
        return self._blocks(values).max(axis=(1, 3, 5))

    def up(self, mask: np.ndarray) -> np.ndarray:
        """A work-grid mask on the full-resolution grid (each cell repeated)."""
        if self.is_identity:
            return mask
        out = mask
        for axis, f in enumerate(self.factors):
            if f > 1:
                out = np.repeat(out, f, axis=axis)
        return out[: self.shape[0], : self.shape[1], : self.shape[2]]

    def cell_of(self, kji: np.ndarray) -> tuple[np.ndarray, ...]:
        """Work-grid indices of full-resolution (k, j, i) indices, as an index tuple."""
        return tuple(kji[:, a] // f for a, f in enumerate(self.factors))

    def _blocks(self, a: np.ndarray) -> np.ndarray:
        wz, wy, wx = self.work_shape
        fz, fy, fx = self.factors
        pad = [(0, w * f - n) for w, f, n in zip(self.work_shape, self.factors, a.shape, strict=True)]
        if any(p[1] for p in pad):
            a = np.pad(a, pad, mode="edge")
        return a.reshape(wz, fz, wy, fy, wx, fx)
