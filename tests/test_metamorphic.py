"""Same study, same answer: a CT series stored differently must give the same report.

Each test id is one seed and one variant (e.g. `chest-transposed`): the variant is written
under tmp_path by tests/metamorphic/variants.py, checked with an independent reader to show
the same patient-space image, run through `calcscan run --no-dicom --workers 0`, and its
report.json compared with the original's (tests/metamorphic/compare.py says what "same"
means). The failure message lists every difference: extra or missing deposits with their
LPS centroids and volumes, changed sites, a changed pattern ranking, changed warnings.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import NoReturn

import numpy as np
import pytest

from tests.conftest import SeriesWriter, axial_affine, make_volume
from tests.metamorphic.compare import differences
from tests.metamorphic.patient_space import Grid, read_planes, same_image_problems
from tests.metamorphic.runs import Runs
from tests.metamorphic.seeds import SEEDS, Seed
from tests.metamorphic.variants import (
    ALL,
    NotApplicable,
    VariantUnavailable,
    identity_problems,
    read_series,
    write_variant,
)

CASES = [
    pytest.param(seed, variant, id=f"{seed.name}-{variant}") for seed in SEEDS for variant in seed.variants
]


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """One Runs per session, so that each seed's original is run once for all its variants."""
    return Runs(tmp_path_factory.mktemp("metamorphic"))


@pytest.mark.slow
@pytest.mark.parametrize(("seed", "variant"), CASES)
def test_same_answer(seed: Seed, variant: str, runs: Runs) -> None:
    original = runs.seed(seed).original
    assert original.report is not None, f"the original {seed.name} itself: {original.problem}"
    try:
        outcome = runs.variant(seed, variant)
    except VariantUnavailable as why:
        _unavailable(str(why))
    except NotApplicable as why:
        pytest.skip(f"{seed.name} cannot be stored as {variant}: {why}")
    print(f"{seed.name}-{variant}: calcscan {outcome.seconds:.1f} s (original {original.seconds:.1f} s)")
    assert outcome.report is not None, f"{seed.name}-{variant}: {outcome.problem}"
    found = differences(original.report, outcome.report, runs.seed(seed).grid)
    assert not found, f"{seed.name}-{variant} answers differently:\n  " + "\n  ".join(found)


def _unavailable(reason: str) -> NoReturn:
    """A writer missing on this machine: a failure under CI (make test installs it), else a skip."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(reason)
    pytest.skip(reason)


# --- the suite's own tools, on a small oblique series (fast: no calcscan run) --------------


@pytest.fixture
def oblique_series(series_writer: SeriesWriter) -> Path:
    """12 slices of 40 x 48 with structure everywhere, tilted out of every axis, so that a
    variant writer that confused rows, columns or slice order could not pass by symmetry."""
    affine = axial_affine()
    tilt_x, tilt_z = np.deg2rad(20), np.deg2rad(35)
    rx = np.array([[1, 0, 0], [0, np.cos(tilt_x), -np.sin(tilt_x)], [0, np.sin(tilt_x), np.cos(tilt_x)]])
    rz = np.array([[np.cos(tilt_z), -np.sin(tilt_z), 0], [np.sin(tilt_z), np.cos(tilt_z), 0], [0, 0, 1]])
    affine[:3, :3] = rz @ rx @ affine[:3, :3]
    return series_writer.write(make_volume(), affine)[0].parent


@pytest.mark.parametrize("variant", ALL)
def test_every_variant_is_the_same_patient_image(variant: str, oblique_series: Path, tmp_path: Path) -> None:
    """The independent reader finds the source image in every variant, voxel for voxel."""
    try:
        folder = write_variant(read_series(oblique_series), variant, tmp_path / variant)
    except VariantUnavailable as why:
        _unavailable(str(why))
    assert same_image_problems(read_planes(oblique_series), read_planes(folder)) == []
    if variant != "enhanced":
        assert identity_problems(oblique_series, folder) == []


def test_the_image_check_sees_pixels_moved_without_their_geometry(
    oblique_series: Path, tmp_path: Path
) -> None:
    """Rows reversed but IPP and cosines kept: another image, which the check must refuse."""
    slices = read_series(oblique_series)
    for item in slices:
        rows = np.frombuffer(item.ds.PixelData, "<u2").reshape(item.ds.Rows, item.ds.Columns)
        item.ds.PixelData = rows[::-1].tobytes()
    folder = write_variant(slices, "explicit_little", tmp_path / "wrong")
    assert len(same_image_problems(read_planes(oblique_series), read_planes(folder))) == 12


def _deposit(ident: str, centroid: list[float], volume: float, site: tuple[str, str, str]) -> dict:
    region, laterality, tissue = site
    return {
        "id": ident,
        "centroid_lps_mm": centroid,
        "volume_mm3": volume,
        "region": region,
        "laterality": laterality,
        "tissue": tissue,
    }


def _report(deposits: list[dict], ranking: list[tuple[str, str]], warnings: list[str]) -> dict:
    patterns = [{"type": kind, "verdict": verdict} for kind, verdict in ranking]
    return {"deposits": deposits, "patterns": patterns, "warnings": warnings, "series": []}


def test_differences_name_each_change_and_ignore_only_the_storage() -> None:
    hip = ("hip", "right", "periarticular")
    original = _report(
        [_deposit("D1", [-90.0, 10.0, -580.0], 1000.0, hip), _deposit("D2", [60.0, 0.0, -300.0], 50.0, hip)],
        [("tumoral", "consistent"), ("metastatic", "possible")],
        ["metal implant (2.7 mL): slices 39-47 (z -582 to -542 mm LPS) not searched", "2 dense speck(s)"],
    )
    variant = copy.deepcopy(original)
    variant["deposits"][0]["centroid_lps_mm"] = [-89.0, 10.5, -578.0]  # within one 2.5 mm voxel
    variant["deposits"][0]["volume_mm3"] = 1009.0  # within 1%
    variant["warnings"][0] = variant["warnings"][0].replace("39-47", "0-8")  # the other slice order
    variant["warnings"].append(
        "SOPInstanceUID missing or empty in 3 file(s): derived deterministically (...)"
    )
    grid = Grid(voxel_mm=2.5, voxel_mm3=1.0)
    assert differences(original, variant, grid) == []

    variant["deposits"][0]["volume_mm3"] = 1020.0
    variant["deposits"][0]["laterality"] = "left"
    variant["deposits"][1]["centroid_lps_mm"] = [60.0, 0.0, -290.0]
    variant["patterns"].reverse()
    variant["warnings"][1] = "3 dense speck(s)"
    found = differences(original, variant, grid)
    assert [line.split(" ")[0] for line in found] == [
        "missing:",
        "extra:",
        "volume",
        "site",
        "pattern",
        "warning",
        "warning",
    ], found
    assert "D2 at (60.0, 0.0, -300.0) mm LPS, 50.0 mm3, hip/right/periarticular" in found[0]
