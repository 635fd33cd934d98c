"""Identity and stack traps are named, never silent: conflicting copies of one SOP instance,
two patients under one StudyInstanceUID, two acquisitions of the same anatomy in one series,
deposits that exist only on interpolated slices, other tools' objects in the study."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from pipeline.config import LoaderConfig
from pipeline.dicom.write import StudyMeta, uid_from
from pipeline.discover import discover
from pipeline.segment import segment_ct
from tests.conftest import SeriesWriter, axial_affine, calcscan, make_volume, phantom_study


def _run(inputs: Path, out: Path) -> dict:
    done = calcscan("-q", "run", inputs, "-o", out, "--no-dicom", "--workers", "0")
    assert done.returncode in (0, 1, 3) and "Traceback" not in done.stderr, done.stderr
    return json.loads((out / "run.json").read_text())


def test_conflicting_copies_are_both_set_aside_and_plain_copies_used_once(tmp_path):
    writer = SeriesWriter(tmp_path / "in")
    paths = writer.write(make_volume(shape=(10, 40, 48)), axial_affine(), tag="dup")
    ds = pydicom.dcmread(paths[4])
    pixels = ds.pixel_array.copy()
    pixels[10:20, 10:20] += 1500  # another image under the same SOP Instance UID
    ds.PixelData = pixels.tobytes()
    ds.save_as(paths[0].parent / "zz_conflict.dcm")
    shutil.copy(paths[2], paths[0].parent / "zz_copy.dcm")

    found = discover([writer.root])
    reasons = {p.path.name: p.reason for p in found.all_skipped}
    assert "another copy" in reasons["zz_copy.dcm"]
    for name in (paths[4].name, "zz_conflict.dcm"):
        assert "different images" in reasons[name] and "none of them is used" in reasons[name]
    (stack,) = found.studies[0].stacks
    assert paths[4] not in {i.path for i in stack.instances}
    assert any("could not be used" in w for w in found.studies[0].warnings)


def test_two_patients_under_one_study_uid_are_split_with_a_warning(tmp_path):
    writer = SeriesWriter(tmp_path / "in")
    uid = uid_from("two patients")
    hu = make_volume(shape=(6, 32, 32))
    writer.write(hu, axial_affine(), tag="a", study=StudyMeta(uid, patient_id="PAT-A"))
    writer.write(hu, axial_affine(), tag="b", study=StudyMeta(uid, patient_id="PAT-B"))
    run = _run(writer.root, tmp_path / "out")
    entries = run["studies"]
    assert len(entries) == 2 and len({e["key"] for e in entries}) == 2
    assert {e["study_instance_uid"] for e in entries} == {uid}
    assert sorted(e["n_files_used"] for e in entries) == [6, 6]
    for entry in entries:
        report = json.loads((tmp_path / "out" / entry["report"]).read_text())
        assert any("2 different patients" in w for w in report["warnings"])
        assert "PAT-" not in " ".join(report["warnings"])  # no identifier in the warning


def test_two_acquisitions_of_the_same_anatomy_are_analysed_once(tmp_path):
    writer = SeriesWriter(tmp_path / "in")
    hu = make_volume(shape=(8, 32, 32))
    series_uid = uid_from("one series")
    study = StudyMeta(uid_from("one study"))
    for acquisition, tag in ((1, "first"), (2, "second")):

        def mark(ds: pydicom.Dataset, k: int, n: int = acquisition) -> None:
            ds.AcquisitionNumber = n
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uid_from(series_uid, n, k)

        writer.write(
            hu, axial_affine(), tag=tag, study=study, series_uid=series_uid, customize=mark,
            frame_of_reference_uid=uid_from("one frame of reference"),
        )  # fmt: skip
    stacks = discover([writer.root]).studies[0].stacks
    assert [st.kind for st in stacks] == ["ct_volume", "other"]
    assert "not counted twice" in stacks[1].reason


def test_a_clump_only_on_interpolated_slices_is_not_reported():
    hu = np.full((9, 64, 64), -1000, np.int16)
    hu[:, 12:52, 12:52] = 40  # soft tissue
    hu[4, 30:36, 30:36] = 600  # dense only on slice 4
    affine = axial_affine(spacing=(0.8, 0.8, 2.5))
    from pipeline.models import CTVolume

    def volume(interpolated: tuple[int, ...]) -> CTVolume:
        ids = ("1.2", "1.2.3", "1.2.3#1")
        return CTVolume(hu.copy(), affine, *ids, None, 120.0, None, None, 2.5, interpolated)

    assert len(segment_ct(volume(())).deposits) == 1
    seg = segment_ct(volume((4,)))
    assert seg.deposits == [] and not seg.labels.any()
    assert any("only on interpolated" in w for w in seg.warnings)


@pytest.mark.parametrize("broken", [True, False], ids=["malformed-seg", "valid-seg-like"])
def test_other_tools_objects_never_change_the_analysis(tmp_path, broken):
    study = phantom_study(tmp_path / "in", "tumoral", 1)
    plain = _run(study, tmp_path / "plain")
    ct = sorted((study / "CT").glob("*.dcm"))[0]
    ds = pydicom.dcmread(ct)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.66.4"  # SEG
    ds.Modality, ds.Manufacturer = "SEG", "another tool"
    ds.SeriesInstanceUID = uid_from("other tool")
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uid_from("other tool", "seg")
    if not broken:
        ds.SegmentSequence = [pydicom.Dataset()]
        ds.SegmentSequence[0].SegmentNumber = 1
        ds.SegmentSequence[0].SegmentLabel = "liver"
    (study / "SEG").mkdir()
    ds.save_as(study / "SEG" / "seg.dcm")
    with_seg = _run(study, tmp_path / "with-seg")
    reports = [json.loads((out / run["studies"][0]["report"]).read_text())
               for out, run in ((tmp_path / "plain", plain), (tmp_path / "with-seg", with_seg))]  # fmt: skip
    assert reports[0]["deposits"] == reports[1]["deposits"]
    assert reports[0]["patterns"] == reports[1]["patterns"]
    (seg_series,) = [s for s in reports[1]["series"] if s["modality"] == "SEG"]
    assert seg_series["status"] == "skipped" and seg_series["reason"]


def test_single_slice_ct_alone_is_failed_not_skipped(tmp_path):
    writer = SeriesWriter(tmp_path / "in")
    writer.write(make_volume(shape=(1, 32, 32)), axial_affine(), tag="one")
    (stack,) = discover([writer.root], LoaderConfig()).studies[0].stacks
    assert stack.failure and "only 1 CT slice" in stack.failure
    run = _run(writer.root, tmp_path / "out")
    assert run["studies"][0]["status"] == "failed" and run["exit_code"] == 3
