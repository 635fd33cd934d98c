"""Phantom studies segmented once per test session, shared by the segmentation and
site-mapping tests (a default-size study takes ~20 s to segment on the CI machine)."""

from __future__ import annotations

from functools import cache

from pipeline.phantom.generate import make_phantom
from pipeline.phantom.score import Scored, phantom_volume, score
from pipeline.segment import segment_ct


@cache
def segmented_phantom(scenario: str, seed: int, size: str = "default") -> Scored:
    ph = make_phantom(scenario, seed, size)
    return score(ph, segment_ct(phantom_volume(ph)))
