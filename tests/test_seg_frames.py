"""The SEG is built from the slices that hold a deposit voxel only.

highdicom's cost grows with the square of the number of source images it matches frames
to, so build_seg gives it the deposit slices' label map and links the frames and the
source references itself. These tests pin what that must keep: the frames (positions,
pixels, per-frame source links), the series-wide slice spacing, and references to exactly
the source images the frames were derived from (for an interpolated slice, the two
images it was interpolated between). Validity is checked with dciodvfy.
"""

from __future__ import annotations

import subprocess
import tracemalloc
from pathlib import Path

import numpy as np
import pydicom
import pytest

from pipeline.config import load_config
from pipeline.discover import discover
from pipeline.load import load_stack
from pipeline.models import Segmentation, SeriesOutcome, StudyResult
from pipeline.report import dicom_seg
from pipeline.report.dicom_out import write_dicom_outputs
from pipeline.report.dicom_seg import SegmentRef, deposit_slices
from pipeline.segment.grid import WorkGrid
from tests.conftest import SeriesWriter, axial_affine, make_volume, require_tool
from tests.deposits import deposit_from_voxels

SLICE_Z = {round(50.0 + 2.5 * k, 3): k for k in range(12)}  # axial_affine: slice k at z = 50 + 2.5 k

_SITE = {"region": "pelvis", "laterality": "midline", "tissue": "muscle"}


def _study(root: Path, boxes: dict[int, tuple[slice, slice, slice]]) -> StudyResult:
    """The series under root, loaded for real, with deposits (label: box) placed by hand."""
    config = load_config(None, {})
    (study,) = discover([root], config).studies
    (stack,) = [st for st in study.stacks if st.kind == "ct_volume"]
    volume = load_stack(stack, config)
    labels = np.zeros(volume.hu.shape, np.int32)
    for label, box in boxes.items():
        labels[box] = label
    deposits = [deposit_from_voxels(label, np.argwhere(labels == label), volume, **_SITE) for label in boxes]
    for n, deposit in enumerate(deposits, start=1):
        deposit.id = f"D{n}"
    grid = WorkGrid.for_volume(volume.hu.shape, volume.spacing[::-1])
    segmentation = Segmentation(volume, deposits, labels, {}, grid, 130.0, 10.0, False)
    return StudyResult(study, [SeriesOutcome(stack, 1, None, "analyzed", None)], deposits, [segmentation])


def _write_seg(result: StudyResult, out: Path) -> pydicom.Dataset:
    written = write_dicom_outputs(out, result, None)
    (entry,) = [e for e in written.entries if e["kind"] == "SEG"]
    path = out / entry["path"]
    done = subprocess.run([require_tool("dciodvfy"), str(path)], capture_output=True, text=True, timeout=60)
    assert [ln for ln in (done.stdout + done.stderr).splitlines() if ln.startswith("Error")] == []
    assert written.segments == {
        d.id: {"sop_instance_uid": entry["sop_instance_uid"], "segment_number": n}
        for n, d in enumerate(result.deposits, start=1)
    }
    return pydicom.dcmread(path)


def _uids_by_slice(paths: list[Path]) -> dict[int, str]:
    found = {}
    for path in paths:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        found[SLICE_Z[round(float(ds.ImagePositionPatient[2]), 3)]] = str(ds.SOPInstanceUID)
    return found


def _referenced(seg: pydicom.Dataset) -> tuple[list[str], list[str]]:
    common = [
        str(i.ReferencedSOPInstanceUID) for i in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence
    ]
    return common, [str(i.ReferencedSOPInstanceUID) for i in seg.SourceImageSequence]


def _frame_slices(seg: pydicom.Dataset) -> list[int]:
    return [
        SLICE_Z[round(float(f.PlanePositionSequence[0].ImagePositionPatient[2]), 3)]
        for f in seg.PerFrameFunctionalGroupsSequence
    ]


def test_seg_frames_and_references_cover_exactly_the_deposit_slices(
    series_writer: SeriesWriter, tmp_path: Path
):
    paths = series_writer.write(make_volume(), axial_affine())
    boxes = {1: np.s_[3:5, 20:26, 30:36], 2: np.s_[9:10, 5:8, 5:9], 3: np.s_[4:5, 30:33, 5:9]}
    result = _study(series_writer.root, boxes)
    seg = _write_seg(result, tmp_path)
    uids = _uids_by_slice(paths)
    want = sorted(uids[k] for k in (3, 4, 9))
    common, source_images = _referenced(seg)
    assert sorted(common) == sorted(source_images) == want
    # one frame per segment and slice it lies in, each on (and linked to) its own slice's image
    assert sorted(zip(_frame_slices(seg), _segment_numbers(seg), strict=True)) == [
        (3, 1), (4, 1), (4, 3), (9, 2)
    ]  # fmt: skip
    for frame, k in zip(seg.PerFrameFunctionalGroupsSequence, _frame_slices(seg), strict=True):
        (item,) = frame.DerivationImageSequence[0].SourceImageSequence
        assert str(item.ReferencedSOPInstanceUID) == uids[k]
    # the spacing of the whole series, not that of the slices with frames (2.5 mm, not 12.5)
    measures = seg.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
    assert float(measures.SpacingBetweenSlices) == pytest.approx(2.5)
    frames = seg.pixel_array.reshape(int(seg.NumberOfFrames), seg.Rows, seg.Columns)
    labels = result.segmentations[0].labels
    for frame, k, number in zip(frames, _frame_slices(seg), _segment_numbers(seg), strict=True):
        np.testing.assert_array_equal(frame > 0, labels[k] == number)


def _segment_numbers(seg: pydicom.Dataset) -> list[int]:
    return [
        int(f.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        for f in seg.PerFrameFunctionalGroupsSequence
    ]


def test_an_interpolated_slice_references_the_two_images_it_was_made_from(
    series_writer: SeriesWriter, tmp_path: Path
):
    paths = series_writer.write(make_volume(), axial_affine())
    uids = _uids_by_slice(paths)
    paths[5].unlink()  # slice 5 is interpolated between 4 and 6
    result = _study(series_writer.root, {1: np.s_[5:6, 20:26, 30:36], 2: np.s_[9:10, 5:8, 5:9]})
    assert result.segmentations[0].volume.interpolated_slices == (5,)
    seg = _write_seg(result, tmp_path)
    common, source_images = _referenced(seg)
    assert sorted(common) == sorted(source_images) == sorted(uids[k] for k in (4, 6, 9))
    for frame, k in zip(seg.PerFrameFunctionalGroupsSequence, _frame_slices(seg), strict=True):
        assert len(frame.DerivationImageSequence) == (k != 5)  # an interpolated frame has no one source


def test_label_array_is_the_lookup_of_the_deposit_slices_without_a_full_size_copy():
    rng = np.random.default_rng(3)
    labels = np.zeros((60, 128, 128), np.int32)
    for label in range(1, 9):
        k, j, i = rng.integers(0, 50), rng.integers(0, 110), rng.integers(0, 110)
        box = np.s_[k : k + rng.integers(1, 9), j : j + 12, i : i + 12]
        labels[box] = np.where(rng.random(labels[box].shape) < 0.6, label, labels[box])
    reported = [label for label in range(1, 9) if label != 5 and (labels == label).any()]  # 5: not reported
    refs = [
        SegmentRef(deposit_from_voxels(label, np.argwhere(labels == label)), n, f"1.2.{n}")
        for n, label in enumerate(reported, start=1)
    ]
    slices = deposit_slices(labels, refs)
    lookup = np.zeros(labels.max() + 1, np.uint8)
    for ref in refs:
        lookup[ref.deposit.label] = ref.segment_number
    expected = lookup[labels]
    np.testing.assert_array_equal(slices, np.flatnonzero(expected.any(axis=(1, 2))))
    tracemalloc.start()
    try:
        array = dicom_seg._label_array(labels, refs, slices)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert array.dtype == np.uint8
    np.testing.assert_array_equal(array, expected[slices])
    assert peak < array.nbytes + labels.nbytes // 8  # the output, and per-deposit boxes only
