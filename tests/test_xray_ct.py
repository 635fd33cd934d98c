"""Radiograph against CT: which CT deposits a film of the same study does not show.

A synthetic film whose opacities are the parallel projection of known CT deposits (with a
magnification and shift the code must find), then the real thing: the dystrophic phantom's
CT and PA hand radiograph through the whole pipeline, judged against its truth.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.analyse import analyse_study
from pipeline.config import load_config
from pipeline.discover import discover
from pipeline.models import Deposit, Radiograph, RadiographDeposit, RadiographFindings
from pipeline.xray_ct import compare_one, film_axes
from tests.conftest import calcscan

SPACING = 0.35
MATCH_MARGIN_MM = 5.0


def _truth_of(centroid, truth_deposits: list[dict]) -> dict | None:
    """The truth deposit whose box (plus a margin) holds a detected centroid."""
    p = np.asarray(centroid)
    for t in truth_deposits:
        lo, hi = np.asarray(t["bbox_lps_mm"])
        if np.all(p >= lo - MATCH_MARGIN_MM) and np.all(p <= hi + MATCH_MARGIN_MM):
            return t
    return None


def _ct(ident: str, lps: tuple[float, float, float], laterality: str = "right") -> Deposit:
    return Deposit(
        label=1, series_uid="1.2", stack_label="1.2#1", n_voxels=10, volume_mm3=50.0, max_hu=600.0,
        mean_hu=400.0, agatston=10.0, mass_mg=None, equivalent_diameter_mm=4.0, largest_axial_area_mm2=12.0,
        centroid_ijk=(0.0, 0.0, 0.0), centroid_lps_mm=lps, bbox_ijk=((0, 0, 0), (1, 1, 1)), lobes=1,
        id=ident, region="hand", laterality=laterality, tissue="skin_subcutaneous",
    )  # fmt: skip


def _film(
    points_px: list[tuple[float, float]], shape=(700, 300), orientation=("L", "H")
) -> RadiographFindings:
    image = Radiograph(
        np.zeros(shape, np.float32), "1", "1.3", "1.3.1", "1.3#1", Path("dx.dcm"), (SPACING, SPACING),
        "PixelSpacing", "HAND", "PA", "R", orientation, False, 12,
    )  # fmt: skip
    deposits = [
        RadiographDeposit(
            label=n,
            series_uid="1.3",
            stack_label="1.3#1",
            sop_instance_uid="1.3.1",
            centroid_px=p,
            bbox_px=((0, 0), (1, 1)),
            area_px=40,
            area_mm2=40 * SPACING**2,
            equivalent_diameter_px=7.0,
            equivalent_diameter_mm=7 * SPACING,
            contrast=10.0,
            id=f"D{10 + n}",
            region="hand",
            laterality="right",
        )
        for n, p in enumerate(points_px, start=1)
    ]
    return RadiographFindings(image, deposits, np.zeros(shape, np.int32), noise_sd=1.0)


def _project(lps, magnification=1.1, shift_mm=(12.0, -30.0)) -> tuple[float, float]:
    """Where a PatientOrientation (L, H) film at SPACING shows an LPS point: column along +x,
    row along +z."""
    row_mm = magnification * lps[2] + shift_mm[0]
    col_mm = magnification * lps[0] + shift_mm[1]
    return row_mm / SPACING, col_mm / SPACING


def test_film_axes_follow_patient_orientation():
    u, v = film_axes(("L", "H"))
    assert list(u) == [1, 0, 0] and list(v) == [0, 0, 1]
    u, _ = film_axes(("RA", "F"))
    assert np.allclose(u, [-(0.5**0.5), -(0.5**0.5), 0])
    assert film_axes(("Q", "F")) is None and film_axes(None) is None


def test_deposits_inside_the_field_but_not_on_the_film_are_named():
    shown = [_ct("D1", (40.0, 5.0, 20.0)), _ct("D2", (60.0, -3.0, 90.0)), _ct("D3", (75.0, 8.0, 150.0))]
    hidden = _ct("D4", (50.0, 0.0, 120.0))  # inside the field, no opacity there
    far = _ct("D5", (60.0, 0.0, 900.0))  # projects far beyond the film
    other_side = _ct("D6", (-60.0, 0.0, 90.0), laterality="left")
    film = _film([_project(d.centroid_lps_mm) for d in shown])
    compared = compare_one(film, [*shown, hidden, far, other_side])
    assert compared.matched == {"D1": "D11", "D2": "D12", "D3": "D13"}
    assert compared.not_shown == ["D4"]
    assert set(compared.outside_field) == {"D5", "D6"}
    assert "D4" in compared.statement and "registered" in compared.method


def test_without_orientation_only_counts_are_compared():
    deposits = [_ct("D1", (40.0, 5.0, 20.0)), _ct("D2", (60.0, -3.0, 90.0))]
    film = _film([_project(deposits[0].centroid_lps_mm)], orientation=None)
    compared = compare_one(film, deposits)
    assert compared.not_shown == [] and compared.matched == {}
    assert "not registered" in compared.method and "at least 1" in compared.statement


@pytest.fixture(scope="module")
def dystrophic(tmp_path_factory):
    root = tmp_path_factory.mktemp("dystrophic")
    done = calcscan("phantom", "dystrophic", "--seed", 7, "-o", root)
    assert done.returncode == 0, done.stderr[-2000:]
    config = load_config(None, {})
    (study,) = discover([root], config).studies
    return analyse_study(study, config), json.loads((root / "truth.json").read_text())


def test_the_phantom_film_registers_with_a_perfect_ct(dystrophic):
    """The film's own detections against CT deposits at the truth positions: checks the whole
    chain of PatientOrientation, pixel spacing and projection on a real written DICOM film,
    independently of what the CT segmentation finds at this resolution."""
    result, truth = dystrophic
    (findings,) = result.radiograph_findings
    perfect = [_ct(t["id"], tuple(t["centroid_lps_mm"]), t["laterality"]) for t in truth["deposits"]]
    compared = compare_one(findings, perfect)
    assert compared.method.startswith("registered"), compared.method
    film = {t["id"]: t["radiographs"][0] for t in truth["deposits"]}
    for ct_id, film_id in compared.matched.items():
        assert film[ct_id]["visible"], ct_id
        found = next(d for d in findings.deposits if d.id == film_id)
        assert np.hypot(*np.subtract(found.centroid_px, film[ct_id]["centroid_px"])) < 4.0
    assert set(compared.outside_field) == {i for i, f in film.items() if not f["in_field"]}
    hidden = {i for i, f in film.items() if f["in_field"]} - set(compared.matched)
    assert set(compared.not_shown) == hidden
    assert len(compared.matched) >= 2


def test_the_pipeline_reports_the_comparison(dystrophic):
    """Through the whole pipeline: the CT deposits that the truth puts on the other side
    than the filmed hand can never be on the film, whatever the registration managed."""
    result, truth = dystrophic
    (compared,) = result.comparisons
    assert compared.sop_instance_uid == result.radiographs[0].sop_instance_uid
    assert compared.statement and compared.method
    filmed = {"L": "left", "R": "right"}[truth["radiographs"][0]["laterality"]]
    other_side = [
        d.id
        for d in result.deposits
        if (t := _truth_of(d.centroid_lps_mm, truth["deposits"])) and t["laterality"] != filmed
    ]
    assert other_side, "seed 7's CT finds deposits on the side that was not filmed"
    assert set(other_side) <= set(compared.outside_field)
    assert not set(other_side) & (set(compared.matched) | set(compared.not_shown))
