"""The coarse grid the anatomy is read on, and its coordinates (cells <-> LPS mm).

Landmarks (trunk outline, spine, lungs, skull, femoral and humeral heads, limbs) need no
more than about 3 mm cells; reading them on a grid that coarse keeps the mapping of a
whole-body study within a few seconds. The grid is built from the segmentation's working
grid masks (block "any"/"mostly" reductions) and block means.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from pipeline.models import Segmentation
from pipeline.segment.grid import WorkGrid

TARGET_MM = 3.0  # cell size aimed at, in-plane and along the slices


@dataclass(frozen=True)
class Space:
    """A coarse grid placed in patient space: cell (k, j, i) -> LPS mm."""

    affine: np.ndarray  # 4x4: full-resolution (i, j, k) -> LPS mm
    factors: tuple[int, int, int]  # (z, y, x) block sizes relative to the full-resolution grid
    shape: tuple[int, int, int]  # coarse (z, y, x) shape
    spacing: tuple[float, float, float]  # coarse (z, y, x) cell size, mm

    @property
    def axial(self) -> bool:
        """Slices are (near) axial: the per-slice rules assume it."""
        k_dir = self.affine[:3, 2] / np.linalg.norm(self.affine[:3, 2])
        return abs(k_dir[2]) > 0.9

    @property
    def cell_area_cm2(self) -> float:
        return self.spacing[1] * self.spacing[2] / 100.0

    def cell_to_lps(self, kji: np.ndarray) -> np.ndarray:
        """(N, 3) cell (k, j, i) -> (N, 3) LPS mm of the cell centres."""
        kji = np.atleast_2d(np.asarray(kji, float))
        f = np.array(self.factors, float)
        ijk = (kji * f + (f - 1) / 2)[:, ::-1]
        return ijk @ self.affine[:3, :3].T + self.affine[:3, 3]

    def voxel_to_cell(self, kji: np.ndarray) -> np.ndarray:
        """(N, 3) full-resolution (k, j, i) -> (N, 3) cell indices."""
        kji = np.atleast_2d(np.asarray(kji, float))
        cells = np.floor((kji + 0.5) / np.array(self.factors)).astype(int)
        return np.clip(cells, 0, np.array(self.shape) - 1)

    def lps_to_cell(self, xyz: np.ndarray) -> np.ndarray:
        """(N, 3) LPS mm -> (N, 3) integer cell (k, j, i), clipped to the grid."""
        xyz = np.atleast_2d(np.asarray(xyz, float))
        ijk = (xyz - self.affine[:3, 3]) @ np.linalg.inv(self.affine[:3, :3]).T
        return self.voxel_to_cell(ijk[:, ::-1])

    def axis_mm(self, axis: int) -> np.ndarray:
        """LPS coordinate (z for axis 0, y for 1, x for 2) of every cell along one axis."""
        n = self.shape[axis]
        kji = np.zeros((n, 3))
        kji[:, axis] = np.arange(n)
        kji[:, [a for a in range(3) if a != axis]] = [s // 2 for i, s in enumerate(self.shape) if i != axis]
        return self.cell_to_lps(kji)[:, 2 - axis]


@dataclass
class Coarse:
    """Masks and block-mean HU of one study on its coarse grid."""

    space: Space
    hu: np.ndarray  # float32 block means
    body: np.ndarray
    bone: np.ndarray
    lungs: np.ndarray
    metal: np.ndarray
    pool: np.ndarray


def coarse_grid(seg: Segmentation) -> Coarse:
    """Reduce the segmentation's working-grid masks and the CT to about 3 mm cells."""
    g = seg.grid
    ws = g.work_spacing
    extra = tuple(max(1, round(TARGET_MM / s)) for s in ws)
    total = tuple(a * b for a, b in zip(g.factors, extra, strict=True))
    shape = tuple(-(-n // f) for n, f in zip(g.work_shape, extra, strict=True))
    spacing = tuple(s * f for s, f in zip(ws, extra, strict=True))
    space = Space(np.asarray(seg.volume.affine, float), total, shape, spacing)  # type: ignore[arg-type]
    work_hu = seg.mean_hu if seg.mean_hu is not None else g.reduce(seg.volume.hu)[0]

    def mostly(name: str) -> np.ndarray:  # the block's centre cell stands for the block
        m = seg.masks[name][tuple(slice(k // 2, None, k) for k in extra)]
        return np.pad(m, [(0, s - n) for s, n in zip(shape, m.shape, strict=True)], mode="edge")

    def anyof(name: str) -> np.ndarray:
        return _block_any(seg.masks[name], extra)

    # means of the working grid's block means: the CT is not read again
    mean_hu = WorkGrid(work_hu.shape, extra, ws).reduce(work_hu)[0] if extra != (1, 1, 1) else work_hu
    return Coarse(
        space, mean_hu, mostly("body"), mostly("bone"), mostly("lungs"), anyof("metal"), anyof("blood_pool")
    )


def _block_any(a: np.ndarray, f: tuple[int, ...]) -> np.ndarray:
    shape = tuple(-(-n // k) for n, k in zip(a.shape, f, strict=True))
    acc = np.zeros(shape, bool)
    for o in itertools.product(*(range(k) for k in f)):
        v = a[o[0] :: f[0], o[1] :: f[1], o[2] :: f[2]]
        acc[: v.shape[0], : v.shape[1], : v.shape[2]] |= v
    return acc
