"""Lobe counting on clumps whose lobes are known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.segment.lobes import count_lobes

SPACING = (1.0, 0.5, 0.5)  # (z, y, x) mm


def _balls(centres_mm, radii_mm, shape=(40, 80, 120)) -> np.ndarray:
    z, y, x = np.indices(shape).astype(float)
    zyx = (z * SPACING[0], y * SPACING[1], x * SPACING[2])
    mask = np.zeros(shape, bool)
    for (cz, cy, cx), r in zip(centres_mm, radii_mm, strict=True):
        mask |= (zyx[0] - cz) ** 2 + (zyx[1] - cy) ** 2 + (zyx[2] - cx) ** 2 <= r**2
    return mask


def test_a_sphere_is_one_lobe():
    assert count_lobes(_balls([(20, 20, 20)], [8]), SPACING, 1.0) == 1


@pytest.mark.parametrize("n", [2, 3, 4])
def test_overlapping_balls_with_necks_are_counted(n):
    centres = [(20, 20, 8 + 11 * i) for i in range(n)]
    assert count_lobes(_balls(centres, [7] * n), SPACING, 1.0) == n


def test_a_shallow_bulge_is_not_a_lobe():
    """Two balls almost on top of each other: the neck is barely narrower, one lobe."""
    assert count_lobes(_balls([(20, 20, 18), (20, 20, 21)], [8, 8]), SPACING, 1.0) == 1


def test_empty_and_tiny_masks():
    assert count_lobes(np.zeros((5, 5, 5), bool), SPACING, 1.0) == 1
    tiny = np.zeros((5, 5, 5), bool)
    tiny[2, 2, 2:4] = True
    assert count_lobes(tiny, SPACING, 1.0) == 1
