"""Nothing lost: every file is used or listed with a reason, malformed values are named,
identifiers missing from real exports are derived, and the exit code follows the contract
(0 all analysed, 1 some failed, 3 nothing usable)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest

from pipeline.discover import discover
from tests.conftest import SHARED_DATA, SeriesWriter, axial_affine, calcscan, make_volume, require_shared

CONTRAST_CT = SHARED_DATA / "totalseg-contrast-upper-abdomen" / "dicom"
PYTHON_WORDS = ("Error", "Exception", "Traceback", "NaN to integer", "object has no attribute")


def _series(root: Path, tag: str, change: Callable[[pydicom.Dataset], None] | None = None, which=None):
    """A 10-slice CT series in root/tag, each slice in `which` (default all) changed."""
    paths = SeriesWriter(root).write(make_volume(shape=(10, 40, 48)), axial_affine(), folder=tag, tag=tag)
    for k in which if which is not None else range(len(paths)):
        if change is not None:
            ds = pydicom.dcmread(paths[k])
            change(ds)
            ds.save_as(paths[k])
    return paths


def _run(inputs: Path, out: Path) -> tuple[int, dict, dict[str, dict]]:
    done = calcscan("-q", "run", inputs, "-o", out, "--no-dicom", "--workers", "0")
    assert "Traceback" not in done.stderr, done.stderr
    run = json.loads((out / "run.json").read_text())
    by_folder = {Path(s["source_folders"][0]).name: s for s in run["studies"] if s["source_folders"]}
    return done.returncode, run, by_folder


def _warnings(out: Path, entry: dict) -> list[str]:
    report = json.loads((out / entry["report"]).read_text())
    return report["warnings"] + [w for s in report["series"] for w in s["warnings"]]


def _assert_accounted(run: dict, root: Path) -> None:
    entries = sum(len(dirs_and_files[1]) + len(dirs_and_files[2]) for dirs_and_files in os.walk(root))
    folders = sum(len(d) for _, d, _ in os.walk(root))  # real folders are walked, not files
    links = [p for p in root.rglob("*") if p.is_symlink() and p.is_dir()]
    assert run["n_files"] == entries - folders + len(links)
    skipped = [s["path"] for s in run["skipped_files"]]
    assert len(skipped) == len(set(skipped)), "a file listed twice"
    assert run["n_files"] == run["n_files_used"] + len(skipped)
    for item in run["skipped_files"]:
        assert item["reason"].strip() and not any(w in item["reason"] for w in PYTHON_WORDS), item


MALFORMED: dict[str, tuple[Callable[[pydicom.Dataset], None], list[int] | None, str, str]] = {
    # tag: (change, slices changed (None: all), expected status, words in the reason or a warning)
    "nan_position_2_of_10": (
        lambda ds: setattr(ds, "ImagePositionPatient", ["nan", 0, 0]),
        [2, 5],
        "analyzed",
        "not a finite",
    ),
    "nan_position_all": (
        lambda ds: setattr(ds, "ImagePositionPatient", ["nan", 0, 0]),
        None,
        "failed",
        "finite",
    ),
    "parallel_cosines": (
        lambda ds: setattr(ds, "ImageOrientationPatient", [1, 0, 0, 1, 0, 0]),
        [3, 4],
        "analyzed",
        "perpendicular",
    ),
    "zero_cosines": (lambda ds: setattr(ds, "ImageOrientationPatient", [0] * 6), None, "failed", "zero"),
    "non_unit_cosines": (
        lambda ds: setattr(ds, "ImageOrientationPatient", [2, 0, 0, 0, 2, 0]),
        None,
        "analyzed",
        "normalised",
    ),
    "slope_zero": (lambda ds: setattr(ds, "RescaleSlope", 0), None, "failed", "RescaleSlope 0"),
    "slope_huge": (lambda ds: setattr(ds, "RescaleSlope", "1e300"), None, "failed", "RescaleSlope"),
    "intercept_nan": (lambda ds: setattr(ds, "RescaleIntercept", "nan"), None, "failed", "RescaleIntercept"),
    "bits_allocated_8": (lambda ds: setattr(ds, "BitsAllocated", 8), None, "failed", "BitsAllocated 8"),
    "columns_smaller": (lambda ds: setattr(ds, "Columns", 40), None, "failed", "pixel data holds"),
    "negative_thickness": (lambda ds: setattr(ds, "SliceThickness", -5), None, "analyzed", "SliceThickness"),
    "no_modality": (lambda ds: delattr(ds, "Modality"), None, "analyzed", "no Modality"),
    "spacing_1e300": (
        lambda ds: setattr(ds, "PixelSpacing", ["1e300", "1e300"]),
        [1, 2],
        "analyzed",
        "PixelSpacing",
    ),
    "memory_bomb": (
        lambda ds: (
            setattr(ds, "Rows", 65535),
            setattr(ds, "Columns", 65535),
            setattr(ds, "NumberOfFrames", 100),
        ),
        None,
        "failed",
        "more than any real image",
    ),
}


@pytest.fixture(scope="module")
def malformed_run(tmp_path_factory) -> tuple[Path, Path, int, dict, dict[str, dict]]:
    root = tmp_path_factory.mktemp("malformed") / "in"
    _series(root, "clean")
    for tag, (change, which, _, _) in MALFORMED.items():
        _series(root, tag, change, which)
    group_length = _series(root, "meta_group_length")
    for path in group_length:  # one changed byte in (0002,0000): the file is otherwise whole
        raw = bytearray(path.read_bytes())
        raw[raw.find(b"\x02\x00\x00\x00UL") + 8] ^= 0x10
        path.write_bytes(bytes(raw))
    (root / "junk.bin").write_bytes(np.random.default_rng(0).bytes(3000))
    (root / "empty.dcm").write_bytes(b"")
    os.symlink(root / "clean", root / "link_to_clean")
    out = root.parent / "out"
    code, run, by_folder = _run(root, out)
    return root, out, code, run, by_folder


@pytest.mark.parametrize("tag", sorted(MALFORMED))
def test_malformed_values_are_named_never_silent(malformed_run, tag):
    _, out, _, _, by_folder = malformed_run
    _, which, status, words = MALFORMED[tag]
    entry = by_folder[tag]
    assert entry["status"] == status, entry
    said = [entry["reason"] or ""] + (
        _warnings(out, entry) if entry["report"] and status == "analyzed" else []
    )
    assert any(words in s for s in said), said
    assert not any(w in s for s in said for w in PYTHON_WORDS), said
    if status == "analyzed" and which is not None:
        assert entry["n_files_used"] == 10 - len(which)


def test_the_batch_goes_on_and_every_file_is_accounted_for(malformed_run):
    root, _, code, run, by_folder = malformed_run
    assert code == 1 and run["exit_code"] == 1  # some studies failed, others analysed
    assert by_folder["clean"]["status"] == "analyzed"
    assert by_folder["meta_group_length"]["status"] == "analyzed"
    _assert_accounted(run, root)
    reasons = {Path(s["path"]).name: s["reason"] for s in run["skipped_files"]}
    assert "symbolic link to a folder" in reasons["link_to_clean"]
    assert reasons["empty.dcm"] == "empty file (0 bytes)"
    failed_files = [s for s in run["skipped_files"] if Path(s["path"]).parent.name == "slope_zero"]
    assert len(failed_files) == 10 and all("RescaleSlope 0" in s["reason"] for s in failed_files)


def test_real_export_with_empty_uids_is_one_study_with_derived_identifiers(tmp_path):
    require_shared(CONTRAST_CT)
    files = sorted(p for p in CONTRAST_CT.iterdir() if p.is_file())
    ds = pydicom.dcmread(files[0], stop_before_pixels=True)
    assert ds.StudyInstanceUID == "" and ds.SOPInstanceUID == ""  # the data is as described
    first, second = discover([CONTRAST_CT]), discover([CONTRAST_CT])
    assert [s.uid for s in first.studies] == [s.uid for s in second.studies]  # deterministic
    (study,) = first.studies
    assert set(study.derived_ids) == {"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"}
    (stack,) = study.stacks
    assert stack.kind == "ct_volume" and len(stack.slices) == len(files)
    sops = {i.sop_instance_uid for i in stack.instances}
    assert sops == {
        str(pydicom.dcmread(f, stop_before_pixels=True).file_meta.MediaStorageSOPInstanceUID) for f in files
    }

    code, run, _ = _run(CONTRAST_CT, tmp_path / "out")
    assert code == 0
    (entry,) = run["studies"]
    assert entry["status"] == "analyzed" and entry["n_files_used"] == len(files)
    report = json.loads((tmp_path / "out" / entry["report"]).read_text())
    assert any("derived" in w and "StudyInstanceUID" in w for w in report["warnings"])
    assert report["study"]["derived_identifiers"] == [
        "SOPInstanceUID",
        "SeriesInstanceUID",
        "StudyInstanceUID",
    ]


def test_nothing_usable_is_exit_code_3_with_reasons(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, run, _ = _run(empty, tmp_path / "out-empty")
    assert code == 3 and run["studies"] == []

    not_dicom = tmp_path / "not-dicom"
    not_dicom.mkdir()
    (not_dicom / "ct.nii.gz").write_bytes(b"\x1f\x8b" + bytes(400))
    (not_dicom / "notes.txt").write_text("hello")
    code, run, _ = _run(not_dicom, tmp_path / "out-nd")
    assert code == 3
    reasons = {Path(s["path"]).name: s["reason"] for s in run["skipped_files"]}
    assert "NIfTI" in reasons["ct.nii.gz"] and "not DICOM" in reasons["notes.txt"]

    damaged = tmp_path / "damaged"
    _series(damaged, "bits", lambda ds: setattr(ds, "BitsAllocated", 8))
    code, run, _ = _run(damaged, tmp_path / "out-damaged")
    assert code == 3
    (entry,) = run["studies"]
    assert entry["status"] == "failed" and "BitsAllocated 8" in entry["reason"]
    assert len(run["skipped_files"]) == 10


def test_a_study_of_only_damaged_images_fails_beside_analysed_ones(tmp_path):
    root = tmp_path / "in"
    _series(root, "good")
    for path in _series(root, "truncated"):
        path.write_bytes(path.read_bytes()[:-700])  # pixel data cut short in every file
    code, run, by_folder = _run(root, tmp_path / "out")
    assert code == 1
    assert by_folder["good"]["status"] == "analyzed"
    assert by_folder["truncated"]["status"] == "failed"
    assert "truncated" in by_folder["truncated"]["reason"]
    _assert_accounted(run, root)


def test_compressed_data_under_another_codec_s_name_is_named(tmp_path):
    """JPEG 2000 data labelled JPEG baseline: a decoder may still read it by its content,
    but the file is mislabelled and the series says so."""
    from pydicom.uid import JPEG2000Lossless, JPEGBaseline8Bit

    root = tmp_path / "in"
    paths = SeriesWriter(root).write(
        make_volume(shape=(4, 32, 32)), axial_affine(), tag="j2k", transfer_syntax=JPEG2000Lossless
    )
    for path in paths:
        ds = pydicom.dcmread(path)
        ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
        ds.save_as(path)
    (stack,) = discover([root]).studies[0].stacks
    assert any("is JPEG 2000 but the transfer syntax says JPEG" in w for w in stack.warnings), stack.warnings
