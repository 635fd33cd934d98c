"""What surrounds one deposit: its gap to bone, the tissue between it and the skin, the
lung and the density around it. The tissue rules (tissue.py) read these numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.anatomy.landmarks import Landmarks
from pipeline.models import Deposit, Segmentation

FAT_BELOW_HU = -30.0  # block means below this are fat (subcutaneous fat is about -100 HU)
SKIN_MM = 3.0  # skin is soft-tissue dense: not counted on the way out


@dataclass(frozen=True)
class Surroundings:
    centroid: np.ndarray  # LPS mm
    cell: tuple[int, int, int]  # coarse cell of the centroid
    gap_mm: float  # nearest distance from the deposit to bone (inf: none within reach)
    depth_mm: float  # from the centroid to the nearest skin surface, in its slice
    soft_mm: float  # of that path, mm of non-fat tissue between the deposit and the skin
    lung_fraction: float  # of the cells just around the deposit, the share in aerated lung
    shell_hu: float  # mean block HU just around the deposit
    volume_mm3: float


def surroundings(seg: Segmentation, lm: Landmarks, dep: Deposit, reach_mm: float) -> Surroundings:
    sp = lm.grid.space
    xyz = np.asarray(dep.centroid_lps_mm, float)
    cell = tuple(int(v) for v in sp.lps_to_cell(xyz)[0])
    kji = _voxels(seg, dep)
    cells = np.unique(sp.voxel_to_cell(kji), axis=0)
    shell = _shell(lm.grid.body.shape, cells)
    lung = float(lm.grid.lungs[shell].mean()) if shell[0].size else 0.0
    shell_hu = float(lm.grid.hu[shell].mean()) if shell[0].size else 0.0
    depth, soft = _path_to_skin(lm, cell, dep.equivalent_diameter_mm / 2)
    gap = _gap_to_bone(seg, dep, kji, reach_mm)
    return Surroundings(xyz, cell, gap, depth, soft, lung, shell_hu, dep.volume_mm3)


def _voxels(seg: Segmentation, dep: Deposit) -> np.ndarray:
    (i0, j0, k0), (i1, j1, k1) = dep.bbox_ijk
    return np.argwhere(seg.labels[k0:k1, j0:j1, i0:i1] == dep.label) + np.array([k0, j0, i0])


def _shell(shape: tuple[int, ...], cells: np.ndarray) -> tuple[np.ndarray, ...]:
    """Cells one to two cells out from the deposit's cells."""
    lo = np.maximum(cells.min(axis=0) - 3, 0)
    hi = np.minimum(cells.max(axis=0) + 4, shape)
    box = np.zeros(hi - lo, bool)
    box[tuple((cells - lo).T)] = True
    inner = ndimage.binary_dilation(box)
    outer = ndimage.binary_dilation(inner, iterations=2)
    return tuple((np.argwhere(outer & ~inner) + lo).T)


def _gap_to_bone(seg: Segmentation, dep: Deposit, kji: np.ndarray, reach_mm: float) -> float:
    """Nearest distance (mm) from the deposit's voxels to bone of the skeleton mask, on the
    full-resolution voxels of a box round the deposit (the working grid is too coarse to
    tell a tendon deposit on the bone from one a few mm off it)."""
    vol = seg.volume
    sx, sy, sz = vol.spacing
    spacing = np.array([sz, sy, sx])
    pad = np.ceil(reach_mm / spacing).astype(int)
    lo = np.maximum(kji.min(axis=0) - pad, 0)
    hi = np.minimum(kji.max(axis=0) + pad + 1, vol.hu.shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    g = seg.grid
    cells = tuple(np.arange(s.start, s.stop) // f for s, f in zip(box, g.factors, strict=True))
    skeleton = seg.masks["bone"][np.ix_(*cells)]
    skeleton = ndimage.binary_dilation(skeleton, iterations=1)
    bone = (vol.hu[box] >= 250) & skeleton & ~ndimage.binary_dilation(seg.labels[box] > 0)
    if not bone.any():
        return float("inf")
    dist = ndimage.distance_transform_edt(~bone, sampling=spacing)
    return float(dist[tuple((kji - lo).T)].min())


def _path_to_skin(lm: Landmarks, cell: tuple[int, int, int], radius_mm: float) -> tuple[float, float]:
    """Straight path in the deposit's slice to the nearest skin: its length, and how much of
    it (beyond the deposit, before the skin) is not fat."""
    k, j, i = cell
    body = lm.grid.body[k]
    if not body[j, i]:
        return 0.0, 0.0
    sy, sx = lm.grid.space.spacing[1:]
    dist, (oj, oi) = ndimage.distance_transform_edt(body, sampling=(sy, sx), return_indices=True)
    tj, ti = oj[j, i], oi[j, i]
    depth = float(dist[j, i])
    n = max(2, int(depth / 0.5))
    t = np.linspace(0, 1, n)
    jj = np.round(j + t * (tj - j)).astype(int)
    ii = np.round(i + t * (ti - i)).astype(int)
    along = t * depth
    keep = (along > radius_mm + 1.5 * max(sy, sx)) & (along < depth - SKIN_MM)
    hu = lm.grid.hu[k][jj[keep], ii[keep]]
    step = depth / (n - 1)
    return depth, float((hu >= FAT_BELOW_HU).sum() * step)
