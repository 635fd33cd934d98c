"""Agatston scoring against published reference cases (MolloiLab CalciumScoring.jl tests)
and the band edges of Agatston et al. 1990."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.segment.agatston import WEIGHT_EDGES, agatston_score, density_weight, weight_edges


def _reference_block() -> np.ndarray:
    """CalciumScoring.jl: hcat(ones(4,2,2), zeros(4,2,2)) * 400 -> a 4x4x2 block, half at 400."""
    vol = np.zeros((2, 4, 4))  # (z, y, x)
    vol[:, :, :2] = 400
    return vol


def test_published_reference_block_scores_16_and_2_mm3():
    """Per-slice area x weight summed, as the reference implementation does: 16; the voxels
    above threshold at 0.5 mm spacing are 2 mm3."""
    vol = _reference_block()
    mask = vol >= 130
    assert agatston_score(
        vol, mask, pixel_area_mm2=0.25, slice_spacing_mm=0.5, normalise=False
    ) == pytest.approx(16)
    assert mask.sum() * 0.5**3 == pytest.approx(2.0)


def test_normalised_to_3mm_slices():
    """calcscan's default scales by slice spacing / 3 mm: the same block at 0.5 mm slices is
    1/6 of the raw sum, and at Agatston's 3 mm slices the two agree."""
    vol = _reference_block()
    mask = vol >= 130
    assert agatston_score(vol, mask, 0.25, 0.5) == pytest.approx(16 * 0.5 / 3)
    assert agatston_score(vol, mask, 0.25, 3.0) == pytest.approx(16)


@pytest.mark.parametrize(
    ("peak", "weight"),
    [(129, 0), (130, 1), (199, 1), (200, 2), (299, 2), (300, 3), (399, 3), (400, 4), (1500, 4)],
)
def test_band_edges(peak, weight):
    assert density_weight(peak) == weight
    slab = np.full((1, 4, 4), float(peak))  # 16 pixels of 0.25 mm2: 4 mm2
    assert agatston_score(slab, np.ones_like(slab, bool), 0.25, 3.0) == pytest.approx(4.0 * weight)


def test_lesions_under_1_mm2_do_not_count():
    slab = np.zeros((1, 6, 6))
    slab[0, 0, 0] = slab[0, 0, 1] = slab[0, 0, 2] = 500  # 3 pixels x 0.25 = 0.75 mm2
    slab[0, 4:6, 4:6] = 500  # 4 pixels = 1 mm2: counts
    assert agatston_score(slab, slab > 0, 0.25, 3.0) == pytest.approx(4.0)


def test_each_slice_part_is_weighted_by_its_own_peak():
    vol = np.zeros((2, 4, 4))
    vol[0, :2, :2] = 450  # 1 mm2 at weight 4
    vol[1, :2, :2] = 250  # 1 mm2 at weight 2
    assert agatston_score(vol, vol > 0, 0.25, 3.0) == pytest.approx(6.0)


@pytest.mark.parametrize(("hu", "kvp"), [(260, 135), (280, 120), (310, 100), (400, 80)])
def test_kvp_specific_bands_reproduce_the_reference(hu, kvp):
    """CalciumScoring.jl's kV test: these HU at these kVp all land in weight 2, score 12."""
    arr = np.zeros((2, 4, 7))
    arr[:, :, 1:4] = hu
    edges, used = weight_edges(kvp, kvp_aware=True)
    assert used == kvp
    assert agatston_score(arr, arr >= edges[0], 0.25, 0.5, edges=edges, normalise=False) == pytest.approx(12)


def test_kvp_unaware_uses_the_120_kvp_bands():
    assert weight_edges(80, kvp_aware=False) == (WEIGHT_EDGES[120], 120)
    assert weight_edges(None, kvp_aware=True) == (WEIGHT_EDGES[120], 120)
    assert weight_edges(140, kvp_aware=True)[1] == 135
