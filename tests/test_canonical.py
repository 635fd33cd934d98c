"""The analysis sees every CT volume in patient order (i left, j posterior, k head) without
resampling: the same voxel keeps its value and its LPS position, and maps back to the
stored voxel indices exactly."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pipeline.load.canonical import axis_map, canonical
from pipeline.models import CTVolume


def _volume(direction: np.ndarray, shape=(7, 9, 11), interpolated=(2,)) -> CTVolume:
    affine = np.eye(4)
    affine[:3, :3] = direction * np.array([0.7, 0.8, 2.5])  # columns: i, j, k steps
    affine[:3, 3] = (-50.0, 20.0, 100.0)
    hu = np.arange(np.prod(shape), dtype=np.int16).reshape(shape)
    return CTVolume(hu, affine, "1", "1.2", "1.2#1", None, 120.0, None, None, 2.5, interpolated)


def _signed_permutations():
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1, -1), repeat=3):
            d = np.zeros((3, 3))
            for col, (row, sign) in enumerate(zip(perm, signs, strict=True)):
                d[row, col] = sign
            yield d


@pytest.mark.parametrize(
    "direction", list(_signed_permutations()), ids=lambda d: "".join(map(str, d.astype(int).ravel()))
)
def test_every_storage_order_becomes_patient_order_voxel_for_voxel(direction):
    stored = _volume(direction)
    view = canonical(stored)
    assert np.allclose(view.direction, np.eye(3))
    assert view.orientation_label == "axial"
    rng = np.random.default_rng(0)
    for _ in range(20):
        k, j, i = (int(rng.integers(n)) for n in view.hu.shape)
        back = view.axis_map.to_stored((i, j, k)) if view.axis_map else (i, j, k)
        si, sj, sk = (round(v) for v in back)
        assert view.hu[k, j, i] == stored.hu[sk, sj, si]
        assert np.allclose(view.index_to_lps([i, j, k]), stored.index_to_lps([si, sj, sk]))
    box = ((1, 2, 3), (4, 6, 5))
    if view.axis_map is not None:
        lo, hi = view.axis_map.box_to_stored(box)
        corners = [view.axis_map.to_stored(c) for c in ((1, 2, 3), (3, 5, 4))]
        assert lo == tuple(round(min(c[a] for c in corners)) for a in range(3))
        assert hi == tuple(round(max(c[a] for c in corners)) + 1 for a in range(3))


def test_interpolated_slices_follow_the_slice_axis():
    feet_first = _volume(np.diag([-1.0, 1.0, -1.0]), interpolated=(2,))
    assert canonical(feet_first).interpolated_slices == (7 - 1 - 2,)
    sagittal = _volume(np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]], float), interpolated=(2,))
    view = canonical(sagittal)
    assert view.interpolated_slices == () and any(
        "across the analysed slice axis" in w for w in view.warnings
    )


def test_a_volume_already_in_patient_order_is_not_copied():
    volume = _volume(np.eye(3))
    assert canonical(volume) is volume
    assert axis_map(volume.affine, volume.hu.shape).identity
