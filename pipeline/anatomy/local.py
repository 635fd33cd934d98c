"""What surrounds one deposit: its gap to bone, the tissue between it and the skin, the
lung and the density around it. The tissue rules (tissue.py) read these numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from pipeline.anatomy.landmarks import Landmarks
from pipeline.models import Deposit, Segmentation

FAT_BELOW_HU = -30.0  # block means below this are fat (subcutaneous fat is about -100 HU)
SKIN_MM = 3.0  # skin is soft-tissue dense: not counted on the way out
_SELF_AND_NEIGHBOURS = np.array(
    [[0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]]
)


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
    sx, sy, sz = seg.volume.spacing
    spacing = np.array([sz, sy, sx])
    pad = np.ceil(reach_mm / spacing).astype(int)
    lo = np.maximum(kji.min(axis=0) - pad, 0)
    hi = np.minimum(kji.max(axis=0) + pad + 1, seg.volume.hu.shape)
    bone = _bone_voxels(seg, lo, hi)
    if not len(bone):
        return float("inf")
    gap = _nearest_gap(bone, kji - lo, spacing)
    return gap if gap is not None else _transform_gap(bone, kji - lo, hi - lo, spacing)


def _nearest_gap(bone: np.ndarray, inside: np.ndarray, spacing: np.ndarray) -> float | None:
    """The gap by a nearest-neighbour search between the deposit's and the bone's voxels:
    what a distance transform of the box gives, without a pass over every voxel of a box
    that, for a deposit along the whole scan, holds millions. Each pair's distance is
    computed as scipy's transform computes it; None when pairs tied for the nearest give
    values that differ in the last bit (the transform's own pick then decides)."""
    tree = cKDTree(bone * spacing)
    sample, _ = tree.query(inside[:: max(1, len(inside) // 64)] * spacing)
    bound = float(sample.min()) * (1 + 1e-6) + 1e-6  # prunes the search: the nearest is no farther
    near, _ = tree.query(inside * spacing, distance_upper_bound=bound)
    reach = float(near.min()) + 1e-6
    close = inside[near <= reach]
    pairs = tree.query_ball_point(close * spacing, r=reach)
    gaps = {_edt_distance(bone[j] - v, spacing) for v, js in zip(close, pairs, strict=True) for j in js}
    return gaps.pop() if len(gaps) == 1 else None


def _edt_distance(step: np.ndarray, spacing: np.ndarray) -> float:
    """Length (mm) of a voxel step with the operations, in the order, of scipy's transform."""
    sq = (step.astype(np.float64) * spacing) ** 2
    return float(np.sqrt(sq[0] + sq[1] + sq[2]))


def _transform_gap(bone: np.ndarray, inside: np.ndarray, shape: np.ndarray, spacing: np.ndarray) -> float:
    """The gap from a distance transform of the whole box."""
    mask = np.zeros(tuple(shape), bool)
    mask[tuple(bone.T)] = True
    dist = ndimage.distance_transform_edt(~mask, sampling=spacing)
    return float(dist[tuple(inside.T)].min())


def _bone_voxels(seg: Segmentation, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(N, 3) indices, relative to lo, of the box's bone voxels: >= 250 HU, in or next to
    (6-neighbours) the skeleton mask, and neither in nor next to a deposit. The neighbours
    are looked up round the dense voxels only, which gives the same voxels as dilating both
    masks over the whole box (neighbours outside the box do not count, as there)."""
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    dense = np.argwhere(seg.volume.hu[box] >= 250)
    factors = np.array(seg.grid.factors)
    skeleton = np.zeros(len(dense), bool)
    deposit = np.zeros(len(dense), bool)
    for step in _SELF_AND_NEIGHBOURS:
        at = dense + step
        ok = np.all((at >= 0) & (at < hi - lo), axis=1)
        voxels = at[ok] + lo
        skeleton[ok] |= seg.masks["bone"][tuple((voxels // factors).T)]
        deposit[ok] |= seg.labels[tuple(voxels.T)] > 0
    return dense[skeleton & ~deposit]


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
