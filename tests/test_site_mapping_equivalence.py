"""The faster site-mapping steps give the very values of the straightforward ones.

Site mapping was made faster by replacing whole-grid operations with cheaper equivalents
(hole filling by labelling, block means in cache-sized chunks, the bone gap by a
nearest-neighbour search instead of a distance transform of a box, label lookups instead
of full-size float arrays). Each is checked here, bit for bit, against the plain
computation it replaced, on random inputs that include the awkward cases (partial edge
blocks, holes touching the edges, equidistant bone voxels).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import ndimage

from pipeline.anatomy import local
from pipeline.anatomy.landmarks import IN_PLANE, _x_gap, fill_holes_in_plane, split_trunk
from pipeline.models import CTVolume, Segmentation
from pipeline.segment.grid import WorkGrid
from tests.deposits import deposit_from_voxels


def _blobs(rng: np.random.Generator, shape: tuple[int, ...], density: float, smooth: float) -> np.ndarray:
    return ndimage.gaussian_filter(rng.random(shape), smooth) > np.quantile(
        ndimage.gaussian_filter(rng.random(shape), smooth), 1 - density
    )


@pytest.mark.parametrize("seed", range(6))
def test_fill_holes_in_plane_is_binary_fill_holes_slice_by_slice(seed: int):
    rng = np.random.default_rng(seed)
    mask = _blobs(rng, (7, 40 + seed, 33), density=0.4 + 0.05 * seed, smooth=1.0)
    mask[3, 10:20, 10:20] = True
    mask[3, 12:18, 12:18] = False  # a ring: its inside is a hole
    mask[4, 0:6, 0:6] = True
    mask[4, 0:4, 0:4] = False  # open to the edge: not a hole
    expected = ndimage.binary_fill_holes(mask, structure=IN_PLANE)
    np.testing.assert_array_equal(fill_holes_in_plane(mask), expected)


def _split_trunk_reference(
    body: np.ndarray, spacing: tuple[float, float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """The former implementation (full-grid bincounts, a float64 size per cell)."""
    lab, n = ndimage.label(body, structure=IN_PLANE)
    if n == 0:
        return np.zeros_like(body), np.zeros(body.shape, np.int32)
    areas = np.bincount(lab.ravel(), minlength=n + 1)
    boxes = ndimage.find_objects(lab)
    by_slice: dict[int, list[int]] = {}
    for i, box in enumerate(boxes, start=1):
        by_slice.setdefault(box[0].start, []).append(i)
    keep = np.zeros(n + 1, bool)
    for ids in by_slice.values():
        big = max(ids, key=lambda i: areas[i])
        for i in ids:
            near = _x_gap(boxes[i - 1], boxes[big - 1]) <= 40.0 / spacing[2]
            keep[i] = i == big or (areas[i] >= 0.35 * areas[big] and near)
    central = keep[lab] & body
    arms, n = ndimage.label(body & ~central)
    if n:
        sizes = np.bincount(arms.ravel(), minlength=n + 1) * np.prod(spacing)
        arms[sizes[arms] < 20000.0] = 0
    return central, arms


@pytest.mark.parametrize("seed", range(4))
def test_split_trunk_is_unchanged(seed: int):
    rng = np.random.default_rng(seed)
    body = _blobs(rng, (12, 50, 60), density=0.3, smooth=1.5)
    spacing = (3.0, 3.0, 3.0) if seed % 2 else (5.0, 9.0, 9.0)  # some parts above 20 mL, some below
    central, arms = split_trunk(body, spacing)
    want_central, want_arms = _split_trunk_reference(body, spacing)
    np.testing.assert_array_equal(central, want_central)
    assert arms.dtype == want_arms.dtype
    np.testing.assert_array_equal(arms, want_arms)
    assert split_trunk(np.zeros((2, 3, 4), bool), spacing)[1].shape == (2, 3, 4)


def _gap_reference(seg: Segmentation, kji: np.ndarray, reach_mm: float) -> float:
    """The former implementation: a distance transform of the whole box."""
    vol = seg.volume
    sx, sy, sz = vol.spacing
    spacing = np.array([sz, sy, sx])
    pad = np.ceil(reach_mm / spacing).astype(int)
    lo = np.maximum(kji.min(axis=0) - pad, 0)
    hi = np.minimum(kji.max(axis=0) + pad + 1, vol.hu.shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    cells = tuple(np.arange(s.start, s.stop) // f for s, f in zip(box, seg.grid.factors, strict=True))
    skeleton = ndimage.binary_dilation(seg.masks["bone"][np.ix_(*cells)], iterations=1)
    bone = (vol.hu[box] >= 250) & skeleton & ~ndimage.binary_dilation(seg.labels[box] > 0)
    if not bone.any():
        return float("inf")
    dist = ndimage.distance_transform_edt(~bone, sampling=spacing)
    return float(dist[tuple((kji - lo).T)].min())


def _bone_scene(seed: int, spacing_xyz: tuple[float, float, float]) -> Segmentation:
    """Bone blobs (with a coarse skeleton mask that misses some of them), dense voxels that
    are not bone, and small deposits, some on the bone."""
    rng = np.random.default_rng(seed)
    shape = (30, 48, 52)
    hu = np.full(shape, 40, np.int16)
    hu[_blobs(rng, shape, density=0.12, smooth=2.0)] = 700
    hu[rng.random(shape) < 0.01] = 300  # dense specks: bone only next to the skeleton mask
    grid = WorkGrid(shape, (2, 3, 3), spacing_xyz[::-1])
    skeleton = ndimage.zoom((hu >= 250).astype(float), [1 / f for f in grid.factors], order=0) > 0
    skeleton = skeleton[: grid.work_shape[0], : grid.work_shape[1], : grid.work_shape[2]]
    skeleton = np.pad(skeleton, [(0, w - s) for w, s in zip(grid.work_shape, skeleton.shape, strict=True)])
    skeleton[:, :, : grid.work_shape[2] // 3] = False  # some dense blobs lie outside the skeleton
    labels = np.zeros(shape, np.int32)
    deposits = []
    for label in range(1, 9):
        k, j, i = (int(rng.integers(0, n - 4)) for n in shape)
        labels[k : k + rng.integers(1, 4), j : j + rng.integers(1, 4), i : i + rng.integers(1, 4)] = label
        kji = np.argwhere(labels == label)
        if len(kji):
            deposits.append(deposit_from_voxels(label, kji))
    affine = np.diag([*spacing_xyz, 1.0])
    volume = CTVolume(hu, affine, "1.2", "1.2.3", "1", "1.2.4", 120.0, None, None, None)
    return Segmentation(volume, deposits, labels, {"bone": skeleton}, grid, 130.0, 10.0, False)


def test_gap_to_bone_is_the_distance_transform_value_to_the_bit(monkeypatch: pytest.MonkeyPatch):
    """Including equidistant bone voxels whose distances round differently (0.7 mm: 3-4-5
    steps), where the transform's own pick decides."""
    transformed = []
    transform = local._transform_gap
    monkeypatch.setattr(local, "_transform_gap", lambda *a: transformed.append(1) or transform(*a))
    checked = 0
    for seed, spacing in itertools.product(
        range(6), [(0.7, 0.7, 0.7), (0.8, 0.8, 2.0), (0.703125, 0.703125, 1.25)]
    ):
        seg = _bone_scene(seed, spacing)
        for dep in seg.deposits:
            kji = local._voxels(seg, dep)
            for reach in (5.0, 15.0):
                assert local._gap_to_bone(seg, dep, kji, reach) == _gap_reference(seg, kji, reach)
                checked += 1
    assert checked > 200
    assert transformed, "no tie case: the fallback went untested"
