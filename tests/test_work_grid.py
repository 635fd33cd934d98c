"""The working grid's memory-lean helpers against the plain numpy they replace.

`WorkGrid.reduce`, `dense_within` and the coarse-to-fine `specks` exist only to save time
and memory on large scans; they must give exactly what the obvious full-size code gives,
including at partial blocks on the far edges and for clumps that cross block borders.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from pipeline.segment.candidates import specks
from pipeline.segment.grid import WorkGrid

SHAPES = [((23, 31, 29), (2, 3, 3)), ((10, 16, 16), (1, 1, 1)), ((9, 20, 17), (3, 2, 4))]


def _grid(shape, factors) -> WorkGrid:
    return WorkGrid(shape, factors, (1.0, 1.0, 1.0))


def _blocks(grid: WorkGrid):
    """Every working cell with the full-resolution voxels it covers."""
    for k, j, i in np.ndindex(grid.work_shape):
        cell = (k, j, i)
        yield cell, tuple(slice(c * f, (c + 1) * f) for c, f in zip(cell, grid.factors, strict=True))


@pytest.mark.parametrize(("shape", "factors"), SHAPES)
def test_block_means_and_maxima_are_those_of_the_voxels_each_cell_holds(shape, factors):
    hu = np.random.default_rng(1).integers(-1024, 3000, shape).astype(np.int16)
    grid = _grid(shape, factors)
    mean, peak = grid.reduce(hu)
    assert mean.shape == peak.shape == grid.work_shape
    for cell, box in _blocks(grid):
        assert mean[cell] == pytest.approx(hu[box].mean(), abs=1e-3)
        assert peak[cell] == hu[box].max()


@pytest.mark.parametrize(("shape", "factors"), SHAPES)
def test_dense_voxels_within_a_coarse_region_match_the_full_size_expression(shape, factors):
    rng = np.random.default_rng(2)
    hu = rng.integers(-200, 400, shape).astype(np.int16)
    grid = _grid(shape, factors)
    region = rng.random(grid.work_shape) < 0.6
    dense, occupied = grid.dense_within(hu, 130, region)
    np.testing.assert_array_equal(dense, (hu >= 130) & grid.up(region))
    for cell, box in _blocks(grid):
        assert occupied[cell] == dense[box].any()


@pytest.mark.parametrize(("shape", "factors"), SHAPES)
def test_specks_are_the_26_connected_components_in_scan_order(shape, factors):
    """Same components, same order, as one full-size labelling (clumps cross cell borders)."""
    grid = _grid(shape, factors)
    dense = ndimage.binary_dilation(np.random.default_rng(3).random(shape) < 0.01, iterations=1)
    dense, occupied = grid.dense_within(dense.astype(np.int16), 1, np.ones(grid.work_shape, bool))
    labels, n = ndimage.label(dense, structure=np.ones((3, 3, 3), bool))
    found = specks(dense, grid, occupied)
    assert n > 5 and len(found) == n
    for label, speck in enumerate(found, start=1):
        full = np.zeros(shape, bool)
        full[speck.box] = speck.mask
        np.testing.assert_array_equal(full, labels == label)
