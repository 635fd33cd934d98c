"""The loader on real files nobody here made: pydicom's and pydicom-data's test files and
the QRM calcium phantom scan. SimpleITK's reading is the reference."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.discover import discover
from pipeline.discover.classify import CT_IMAGE_SOP_CLASSES
from pipeline.load import load_stack
from pipeline.models import CTVolume, Radiograph
from tests.conftest import PYDICOM_FILES, QRM_DICOM, pydicom_data_dir, real_dicom_roots, require_shared
from tests.sitk_compare import assert_matches_sitk, assert_same_frame

sitk.ProcessObject_SetGlobalWarningDisplay(False)


def _real_files_of(sop_classes: set[str] | None = None, modalities: set[str] | None = None) -> list[Path]:
    """Files among the real test data whose header says so (read independently of calcscan)."""
    found = []
    for root in real_dicom_roots():
        for path in sorted(root.rglob("*")):
            if not path.is_file():
                continue
            try:
                ds = pydicom.dcmread(path)
            except Exception:
                continue
            if sop_classes is not None and str(ds.get("SOPClassUID", "")) not in sop_classes:
                continue
            if modalities is not None and ds.get("Modality") not in modalities:
                continue
            if "PixelData" in ds:
                found.append(path)
    return found


REAL_CT_FILES = _real_files_of(sop_classes=set(CT_IMAGE_SOP_CLASSES))
REAL_CR_FILES = _real_files_of(modalities={"CR", "DX"})


def _load_single(path: Path):
    found = discover([path])
    stacks = [st for study in found.studies for st in study.stacks]
    assert len(stacks) >= 1, f"{path}: nothing found ({found.skipped})"
    return [load_stack(st) for st in stacks]


def test_real_ct_files_were_found():
    names = {p.name for p in REAL_CT_FILES}
    # the CTs the issue names, and the enhanced CT, must be among them
    assert {"CT_small.dcm", "693_J2KI.dcm", "693_J2KR.dcm", "693_UNCR.dcm", "eCT_Supplemental.dcm"} <= names
    assert len(REAL_CT_FILES) >= 20


@pytest.mark.parametrize("path", REAL_CT_FILES, ids=lambda p: p.name)
def test_every_real_ct_file_matches_simpleitk(path: Path):
    image = sitk.ReadImage(str(path))
    volumes = _load_single(path)
    assert len(volumes) == 1
    volume = volumes[0]
    assert isinstance(volume, CTVolume)
    assert_matches_sitk(volume, image)


def test_enhanced_ct_uses_per_frame_rescale_and_positions():
    """eCT_Supplemental stores its rescale only in functional groups: raw values are 0..1196,
    HU are -1024..172; frames 10 mm apart must be ordered along the slice normal."""
    path = pydicom_data_dir() / "eCT_Supplemental.dcm"
    (volume,) = _load_single(path)
    assert volume.hu.min() == -1024 and volume.hu.max() == 172
    normal = np.cross(volume.direction[:, 0], volume.direction[:, 1])
    step = volume.affine[:3, 2]
    assert np.dot(step, normal) > 0 and np.isclose(np.linalg.norm(step), 10.0)
    assert_matches_sitk(volume, sitk.ReadImage(str(path)))


def test_qrm_phantom_series_matches_simpleitk_series_reader():
    require_shared(QRM_DICOM)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(QRM_DICOM)))
    image = reader.Execute()
    found = discover([QRM_DICOM])
    (stack,) = [st for s in found.studies for st in s.stacks]
    assert stack.kind == "ct_volume" and stack.n_instances == 47
    volume = load_stack(stack)
    assert volume.hu.dtype == np.int16
    assert_same_frame(volume, image)
    assert_matches_sitk(volume, image)
    assert (volume.hu == -1000).sum() > 0  # its -2048 out-of-FOV corners became air


def test_dicomdir_ct_series_match_simpleitk():
    """The DICOMDIR tree's 5-slice CT series (files without extension) as one volume."""
    folder = PYDICOM_FILES / "dicomdirtests" / "98892001" / "CT5N"
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    image = reader.Execute()
    (stack,) = [st for s in discover([folder]).studies for st in s.stacks]
    assert stack.kind == "ct_volume"
    volume = load_stack(stack)
    assert_same_frame(volume, image)
    assert_matches_sitk(volume, image)


def test_gap_in_real_series_splits_it():
    """CT2 holds one slice 202 mm away from three slices 1.25 mm apart: two stacks."""
    folder = PYDICOM_FILES / "dicomdirtests" / "77654033" / "CT2"
    stacks = [st for s in discover([folder]).studies for st in s.stacks]
    assert sorted(len(st.slices) for st in stacks) == [1, 3]
    volume_stack = next(st for st in stacks if len(st.slices) == 3)
    assert volume_stack.kind == "ct_volume"
    assert any("too long to interpolate" in w for w in volume_stack.warnings)
    volume = load_stack(volume_stack)
    assert np.isclose(volume.spacing[2], 1.25, atol=1e-3)


@pytest.mark.parametrize("path", REAL_CR_FILES, ids=lambda p: p.name)
def test_real_radiographs_load_dense_bright_like_simpleitk(path: Path):
    """GDCM (inside SimpleITK) turns MONOCHROME1 into MONOCHROME2; so must we."""
    (image,) = _load_single(path)
    assert isinstance(image, Radiograph)
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    assert image.inverted == (ds.PhotometricInterpretation == "MONOCHROME1")
    ref = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))[0].astype(np.float64)
    np.testing.assert_allclose(image.pixels, ref, atol=1e-3)


def test_rg1_and_rg3_are_radiographs_with_honest_spacing():
    data = pydicom_data_dir()
    for name in ("RG1_UNCR.dcm", "RG1_J2KI.dcm", "RG3_UNCI.dcm", "RG3_J2KR.dcm"):
        (image,) = _load_single(data / name)
        assert isinstance(image, Radiograph)
        assert image.inverted
        # RG1 stores PixelSpacing 0.0\0.0 and RG3 none: both must say "unknown", not 1 mm
        assert image.pixel_spacing_mm is None
        assert any("pixel spacing unknown" in w for w in image.warnings)
    (rg1,) = _load_single(data / "RG1_UNCR.dcm")
    assert "PixelSpacing is 0" in rg1.spacing_source
    assert rg1.body_part_examined == "CHEST" and rg1.view_position == "PA"
    assert rg1.patient_orientation == ("L", "F")
    (rg3,) = _load_single(data / "RG3_UNCR.dcm")
    assert rg3.laterality == "R"


@pytest.mark.parametrize("root", real_dicom_roots(), ids=["pydicom", "pydicom-data"])
def test_inspect_accounts_for_every_real_file(root: Path):
    """Every file is in a series or skipped with a reason; every CT/radiograph stack loads."""
    result = CliRunner().invoke(cli, ["inspect", "--json", str(root)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    listed = {f for st in summary["studies"] for se in st["series"] for f in se["files"]}
    skipped = {s["path"]: s["reason"] for s in summary["skipped"]}
    every_file = {str(p) for p in root.rglob("*") if p.is_file()}
    assert every_file == listed | set(skipped)
    assert not listed & set(skipped)
    assert all(reason.strip() for reason in skipped.values())
    for study in discover([root]).studies:
        for stack in study.stacks:
            if stack.kind == "other":
                assert stack.reason, f"{stack.label} is 'other' without a reason"
            if stack.plan is not None or stack.kind == "radiograph":
                load_stack(stack)  # must not raise


def test_truncated_real_files_are_reported_not_loaded():
    found = discover(
        [PYDICOM_FILES / "MR_truncated.dcm", pydicom_data_dir() / "emri_small_jpeg_2k_lossless_too_short.dcm"]
    )
    reasons = {s.path.name: s.reason for s in found.skipped}
    assert reasons["MR_truncated.dcm"].startswith("truncated: pixel data needs 8192 bytes")
    assert reasons["emri_small_jpeg_2k_lossless_too_short.dcm"].startswith("truncated")
    assert not found.studies
