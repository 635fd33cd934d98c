"""CT segmentation on real scans nobody here made.

- The QRM calcium phantom (Canon Aquilion ONE, 120 kVp): known insert masses and the
  published FQM analysis of this very scan (van Praagh et al., Med Phys 2021).
- A real abdomen CT with TotalSegmentator labels (kidney stones, aortic calcification, a
  metal hip implant), written out here as a DICOM series.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
from scipy import ndimage

from pipeline.config import load_config
from pipeline.discover import discover
from pipeline.load import load_stack
from pipeline.segment import segment_ct
from tests.conftest import QRM_DICOM, SHARED_DATA, require_shared
from tests.real_cases import segmented_abdomen

QRM = SHARED_DATA / "qrm-canon-large-rep1"
ABDOMEN = SHARED_DATA / "totalseg-abdomen-ct"
KNOWN_MASS_5MM = {"Low Density": 19.6, "Medium Density": 39.3, "High Density": 78.5}  # mg, QRM manual


def _published() -> dict[str, dict[str, float]]:
    with open(QRM / "published_fqm_results.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["scan"] == "Large_rep1"]
    return {r["inserts"]: r for r in rows}


@pytest.fixture(scope="module")
def qrm():
    require_shared(QRM_DICOM)
    published = _published()
    factor = float(next(iter(published.values()))["mass_cal_factor"])
    config = load_config(None, {"segmentation.mass_calibration_mg_per_mm3_hu": factor})
    (stack,) = [st for s in discover([QRM_DICOM]).studies for st in s.stacks]
    return segment_ct(load_stack(stack, config), config), published


def _inserts(deposits, low: float, high: float):
    """Deposits of an insert's size, least to most dense (low / medium / high density)."""
    return sorted((d for d in deposits if low <= d.volume_mm3 <= high), key=lambda d: d.mean_hu)


def test_qrm_5mm_inserts_mass_and_agatston(qrm):
    seg, published = qrm
    large = _inserts(seg.deposits, 60, 150)  # 5 mm: 98.2 mm3
    assert len(large) == 3, [(round(d.volume_mm3), round(d.mean_hu)) for d in seg.deposits]
    for deposit, density in zip(large, ("Low Density", "Medium Density", "High Density"), strict=True):
        known = KNOWN_MASS_5MM[density]
        assert deposit.mass_mg == pytest.approx(known, rel=0.30), density
        reference = float(published[density]["calculated_agat_large"])
        assert deposit.agatston == pytest.approx(reference, rel=0.25), density
        assert deposit.volume_mm3 == pytest.approx(98.2, rel=0.15), density


def test_qrm_3mm_inserts_are_found_in_the_same_plane(qrm):
    seg, published = qrm
    large = _inserts(seg.deposits, 60, 150)
    plane = np.mean([d.centroid_lps_mm[2] for d in large])
    medium = [d for d in _inserts(seg.deposits, 10, 60) if abs(d.centroid_lps_mm[2] - plane) < 10]
    assert len(medium) == 3
    for deposit, density in zip(medium, ("Low Density", "Medium Density", "High Density"), strict=True):
        reference = float(published[density]["calculated_agat_medium"])
        assert deposit.agatston == pytest.approx(reference, rel=0.25), density


def test_qrm_phantom_structures_are_reported_as_deposits(qrm):
    """The HA calibration rod and the bone-equivalent spine insert are homogeneous artificial
    material with no cortex: calcscan reports them (the spine insert partly) as deposits; it
    does not recognise phantom parts."""
    seg, _ = qrm
    large = _inserts(seg.deposits, 60, 150)
    plane = np.mean([d.centroid_lps_mm[2] for d in large])
    big = [d for d in seg.deposits if d.volume_mm3 > 1000]
    rods = [d for d in big if 3000 < d.volume_mm3 < 8000 and abs(d.centroid_lps_mm[2] - plane) > 20]
    assert len(rods) == 1 and 200 < rods[0].mean_hu < 320  # a cylinder 21 mm across, below the inserts
    assert len(big) >= 2
    assert all(150 < d.mean_hu < 450 for d in big)


@pytest.fixture(scope="module")
def abdomen():
    """The real abdomen CT as a DICOM series, segmented, with its organ labels."""
    return segmented_abdomen()


def _touching(seg, labels, names, organ: str) -> list:
    organ_mask = labels == names[organ]
    return [d for d in seg.deposits if organ_mask[seg.labels == d.label].any()]


@pytest.mark.parametrize("organ", ["kidney_left", "kidney_right", "aorta"])
def test_abdomen_finds_the_dense_foci(abdomen, organ):
    seg, labels, names = abdomen
    found = _touching(seg, labels, names, organ)
    assert found, f"nothing found in {organ}: {[(d.id, d.centroid_lps_mm) for d in seg.deposits]}"
    assert all(d.max_hu >= 300 for d in found)


def test_abdomen_kidney_sides_are_right_in_lps(abdomen):
    seg, labels, names = abdomen
    assert all(d.centroid_lps_mm[0] > 0 for d in _touching(seg, labels, names, "kidney_left"))
    assert all(d.centroid_lps_mm[0] < 0 for d in _touching(seg, labels, names, "kidney_right"))


def test_abdomen_nothing_on_bone_edges_or_in_the_metal(abdomen):
    seg, labels, names = abdomen
    bone_ids = [i for n, i in names.items() if n.startswith(("vertebrae", "sacrum", "hip", "femur", "rib"))]
    bone = ndimage.binary_dilation(np.isin(labels, bone_ids), iterations=2)  # 6 mm of bone edge
    for d in seg.deposits:
        assert not bone[seg.labels == d.label].any(), f"{d.centroid_lps_mm} is on a bone edge"
    metal = seg.volume.hu >= 2500
    metal_slices = np.flatnonzero(metal.any(axis=(1, 2)))
    assert len(metal_slices) > 0
    for d in seg.deposits:
        ks = np.flatnonzero((seg.labels == d.label).any(axis=(1, 2)))
        assert ks.min() > metal_slices.max(), "a deposit in the slices crossed by metal streaks"
    assert any("metal implant" in w for w in seg.warnings)
