"""The shortcuts that make the skeleton stage fast give the same voxels as the operations
they stand for: morphology by shifted copies against scipy.ndimage, the marrow fill against
SimpleITK's closing and hole filling, and distance transforms on a tight box against the
same transforms on a larger crop (scipy's choice among equidistant voxels included)."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from pipeline.segment import bone
from pipeline.segment.masks import ball

SPACINGS = [
    (2.5, 1.6326, 1.6325999999999998),  # in-plane spacings one bit apart, as a real header gives
    (1.0, 1.0, 1.0),
    (5.0, 0.7, 0.7),
    (2.0, 2.1, 2.1),
    (1.25, 2.8, 2.8),
]


def _masks(seed: int, count: int, largest: int = 18):
    """Random masks of random shapes: speckle, smoothed blobs, solid boxes and balls (the
    last two give many voxels at equal distances)."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        shape = tuple(int(v) for v in rng.integers(1, largest, 3))
        kind = i % 4
        if kind == 0:
            yield rng.random(shape) < rng.uniform(0.05, 0.95)
        elif kind == 1:
            yield ndimage.binary_opening(rng.random(shape) < 0.7)
        elif kind == 2:
            yield np.ones(shape, bool)
        else:
            grid = np.indices(shape) - (np.array(shape) - 1)[:, None, None, None] / 2
            yield ((grid / (np.array(shape)[:, None, None, None] / 2)) ** 2).sum(axis=0) <= 1.0


def _structures() -> list[np.ndarray]:
    out = [bone._CROSS, bone._CLUMP]
    for spacing in SPACINGS:
        out += [ball(r, spacing) for r in (1.01 * max(spacing[1:]), 1.7 * min(spacing), 4.0)]
        out += [bone._itk_ball(_closing_radius(spacing, c)) for c in (1.5, 2.5)]
    return out


def _closing_radius(spacing, close_voxels: float) -> tuple[int, ...]:
    return tuple(max(0, int(close_voxels * max(spacing[1:]) // s)) for s in spacing)


def test_morphology_by_shifted_copies_matches_scipy():
    structures = _structures()
    for mask in _masks(0, 120):
        for structure in structures:
            assert np.array_equal(bone._dilate(mask, structure), ndimage.binary_dilation(mask, structure))
            assert np.array_equal(bone._erode(mask, structure), ndimage.binary_erosion(mask, structure))
        for reach in (1, 2):
            expected = ndimage.binary_dilation(mask, bone._CLUMP, iterations=reach)
            assert np.array_equal(bone._dilate_box(mask, reach), expected)


def _marrow_by_simpleitk(mask: np.ndarray, spacing, close_voxels: float) -> np.ndarray:
    """The marrow fill as first written: SimpleITK closing and hole filling on a padded copy."""
    pad = int(np.ceil(close_voxels)) + 1
    image = sitk.GetImageFromArray(np.pad(mask, pad).astype(np.uint8))
    image.SetSpacing(tuple(float(v) for v in spacing[::-1]))
    radius = list(_closing_radius(spacing, close_voxels)[::-1])
    closed = sitk.BinaryMorphologicalClosing(image, radius, sitk.sitkBall) | image
    filled = sitk.GetArrayFromImage(sitk.BinaryFillhole(closed)).astype(bool)
    holes = filled & ~sitk.GetArrayFromImage(closed).astype(bool)
    labels, n = ndimage.label(holes)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    big = np.flatnonzero(sizes > bone._MAX_MARROW_VOLUME_MM3 / float(np.prod(spacing)))
    filled &= ~np.isin(labels, big[big > 0])
    return filled[pad:-pad, pad:-pad, pad:-pad]


def test_marrow_fill_matches_simpleitk():
    rng = np.random.default_rng(1)
    for i, mask in enumerate(_masks(1, 120, largest=24)):
        if i % 4 == 3:  # a hollow shell: marrow to fill, closed or with a gap
            mask = mask & ~ndimage.binary_erosion(mask, iterations=2)
        spacing = SPACINGS[int(rng.integers(len(SPACINGS)))]
        for close_voxels in (1.5, 2.5):
            expected = _marrow_by_simpleitk(mask, spacing, close_voxels)
            assert np.array_equal(bone._with_marrow(mask, spacing, close_voxels), expected)


def test_marrow_fill_leaves_out_cavities_too_big_for_marrow():
    shell = np.ones((40, 40, 40), bool)
    shell[2:-2, 2:-2, 2:-2] = False  # 36^3 voxels of 8 mm^3: beyond _MAX_MARROW_VOLUME_MM3
    spacing = (2.0, 2.0, 2.0)
    assert np.array_equal(bone._with_marrow(shell, spacing), _marrow_by_simpleitk(shell, spacing, 1.5))
    assert not bone._with_marrow(shell, spacing)[20, 20, 20]


def _in_a_larger_crop(mask: np.ndarray, rng) -> tuple[np.ndarray, tuple[slice, ...]]:
    """`mask` with a random empty margin on each side (none on some), and where it sits."""
    before = rng.integers(0, 4, 3) * (rng.random(3) < 0.8)
    after = rng.integers(0, 4, 3) * (rng.random(3) < 0.8)
    larger = np.pad(mask, list(zip(before, after, strict=True)))
    return larger, tuple(slice(b, b + n) for b, n in zip(before, mask.shape, strict=True))


def test_depth_on_the_box_and_one_voxel_matches_a_larger_crop():
    rng = np.random.default_rng(2)
    for mask in _masks(2, 300, largest=16):
        if not mask.any():
            continue
        spacing = SPACINGS[int(rng.integers(len(SPACINGS)))]
        larger = _in_a_larger_crop(mask, rng)[0]
        # the mask's box and one voxel more, except where the mask meets the array's edge
        box = bone._grown(bone._bbox(larger), 1, larger.shape)
        tight = ndimage.distance_transform_edt(larger[box], sampling=spacing)
        assert np.array_equal(tight, ndimage.distance_transform_edt(larger, sampling=spacing)[box])


def test_nearest_seed_on_the_region_box_matches_a_larger_crop():
    rng = np.random.default_rng(3)
    for region in _masks(3, 300, largest=16):
        seeds = region & (rng.random(region.shape) < rng.choice([0.02, 0.1, 0.3]))
        if not seeds.any():
            continue
        spacing = SPACINGS[int(rng.integers(len(SPACINGS)))]
        larger, at = _in_a_larger_crop(seeds, rng)
        full = ndimage.distance_transform_edt(~larger, sampling=spacing, return_indices=True)[1]
        tight = ndimage.distance_transform_edt(~seeds, sampling=spacing, return_indices=True)[1]
        origin = np.array([s.start for s in at])[:, None, None, None]
        assert np.array_equal(tight + origin, full[(slice(None), *at)])
