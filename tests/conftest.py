"""Shared test fixtures: where the real data lives, and how to write test series.

Real data is used read-only from where it is installed (pydicom, pydicom-data) or from
../shared/data beside the repository; nothing is copied into the repository.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

from pipeline.dicom.write import StudyMeta, uid_from, write_ct_series

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
QRM_DICOM = SHARED_DATA / "qrm-canon-large-rep1" / "dicom"
PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
SAMPLE = REPO / "sample_data"


def calcscan(*args: str | Path | int, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The installed command in a subprocess, as a user runs it (`env`: added variables)."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, **(env or {})},
    )


def ct_deposits(report: dict) -> list[dict]:
    """report.json's CT deposits (radiograph deposits have no volume, HU or SEG segment)."""
    return [d for d in report["deposits"] if d["modality"] == "CT"]


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess, dict[str, str]]:
    """One `calcscan run sample_data/` per test session, shared by every test that reads its
    outputs (report.json, report.html, DICOM SEG/SR): (output folder, process, input checksums)."""
    before = checksums(SAMPLE)
    out = tmp_path_factory.mktemp("sample-run") / "out"
    done = calcscan("run", SAMPLE, "-o", out)
    return out, done, before


def pydicom_data_dir() -> Path:
    """pydicom-data installs its files as the `data_store` package."""
    import data_store  # type: ignore[import-not-found]

    return Path(data_store.__file__).parent / "data"


def real_dicom_roots() -> list[Path]:
    return [PYDICOM_FILES, pydicom_data_dir()]


def require_tool(name: str) -> str:
    """Path of a command-line tool; missing is a failure under CI, a skip elsewhere."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} not on PATH (make test installs it: scripts/install-system-deps.sh)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


def require_shared(path: Path) -> Path:
    if not path.exists():
        message = f"real test data missing: {path} (expected ../shared/data beside the repo)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def checksums(root: Path) -> dict[str, str]:
    """sha256 of every regular file under root (symlinks and special files by name only)."""
    sums = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.is_file():
            sums[str(path)] = "special"
            continue
        try:
            sums[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            sums[str(path)] = "unreadable"
    return sums


def axial_affine(spacing=(0.8, 0.7, 2.5), origin=(-100.0, -120.0, 50.0)) -> np.ndarray:
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = origin
    return affine


def make_volume(shape=(12, 40, 48), seed=0) -> np.ndarray:
    """A volume with structure in every slice, so misordered slices are caught."""
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(shape)
    hu = -900 + 30 * z + 10 * y - 5 * x + rng.integers(-40, 40, shape)
    hu[:, 5:15, 10:20] = 1200  # a dense block, like bone
    return np.clip(hu, -1000, 3000).astype(np.int16)  # physical HU (below -1024 is "no data")


class SeriesWriter:
    """Writes numbered test series under a folder, each with its own UIDs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.count = 0

    def write(self, hu: np.ndarray, affine: np.ndarray, folder: str | None = None, **kwargs) -> list[Path]:
        self.count += 1
        tag = kwargs.pop("tag", f"series{self.count}")
        study = kwargs.pop("study", StudyMeta(uid_from(self.root, tag, "study"), patient_id=f"PAT-{tag}"))
        return write_ct_series(
            hu,
            affine,
            self.root / (folder or tag),
            study,
            series_uid=kwargs.pop("series_uid", uid_from(self.root, tag, "series")),
            frame_of_reference_uid=kwargs.pop("frame_of_reference_uid", uid_from(self.root, tag, "for")),
            **kwargs,
        )


@pytest.fixture
def series_writer(tmp_path: Path) -> SeriesWriter:
    return SeriesWriter(tmp_path / "input")


# small phantom studies for the batch engine and PACS tests: (scenario, seed)
BATCH_STUDIES = (("tumoral", 1), ("dystrophic", 4), ("healthy", 3))


def phantom_study(folder: Path, scenario: str, seed: int) -> Path:
    """A small phantom written as real DICOM (CT/, and DX/ for scenarios with a film)."""
    from pipeline.phantom import make_phantom, write

    write(make_phantom(scenario, seed, "small"), folder)
    return folder


def study_uids(folder: Path) -> tuple[str, str]:
    """(StudyInstanceUID, SeriesInstanceUID of the CT) of a phantom study folder."""
    ds = pydicom.dcmread(next((folder / "CT").glob("*.dcm")), stop_before_pixels=True)
    return ds.StudyInstanceUID, ds.SeriesInstanceUID


@pytest.fixture(scope="session")
def batch_studies(tmp_path_factory) -> Path:
    """A folder of BATCH_STUDIES, one subfolder per scenario (with truth.json beside the DICOM)."""
    root = tmp_path_factory.mktemp("batch-studies")
    for scenario, seed in BATCH_STUDIES:
        phantom_study(root / scenario, scenario, seed)
    return root


@pytest.fixture(scope="session")
def batch_reference(batch_studies: Path, tmp_path_factory) -> dict[str, bytes]:
    """report.json of each batch study from a plain run in one process, by study key: what
    every other way of running the same studies must reproduce byte for byte."""
    out = tmp_path_factory.mktemp("batch-reference") / "out"
    done = calcscan("run", batch_studies, "-o", out, "--workers", "0")
    assert done.returncode == 0, done.stderr
    reports = {p.parent.name: p.read_bytes() for p in (out / "studies").glob("*/report.json")}
    assert len(reports) == len(BATCH_STUDIES)
    return reports
