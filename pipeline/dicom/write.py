"""Writes CT series and radiographs as real DICOM files with pydicom.

Used by the phantom generator and by the tests. Everything written is deterministic
(UIDs derived from seeds, fixed dates), so a study regenerates byte for byte. Geometry comes
from a 4x4 affine that maps voxel (i, j, k) = (column, row, slice) to LPS mm, so oblique
and gantry-tilted stacks are written exactly as the affine says.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    UID,
    ComputedRadiographyImageStorage,
    CTImageStorage,
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    generate_uid,
)

from pipeline import __version__

# Transfer syntaxes pydicom encodes itself; others are written uncompressed, then transcoded.
_NATIVE = {
    "1.2.840.10008.1.2",  # Implicit VR Little Endian
    "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian
    "1.2.840.10008.1.2.2",  # Explicit VR Big Endian
}
IMPLEMENTATION_CLASS_UID = "1.2.826.0.1.3680043.8.498.1"
IMPLEMENTATION_VERSION = f"CALCSCAN_{__version__}"[:16]


def uid_from(*parts: object) -> UID:
    """A valid UID derived from `parts`: the same parts always give the same UID."""
    return generate_uid(prefix="2.25.", entropy_srcs=[str(p) for p in parts])


@dataclass(frozen=True)
class StudyMeta:
    """Patient and study attributes shared by every file of a study."""

    study_uid: str
    patient_id: str = "ANON"
    patient_name: str = "ANONYMOUS^PATIENT"
    patient_birth_date: str = ""
    patient_sex: str = "O"
    study_date: str = "20260101"
    study_time: str = "120000"
    accession_number: str = ""
    study_description: str = ""
    study_id: str = "1"


def write_ct_series(
    hu: np.ndarray,
    affine: np.ndarray,
    out_dir: Path,
    study: StudyMeta,
    *,
    series_uid: str,
    frame_of_reference_uid: str,
    series_number: int = 1,
    series_description: str = "",
    kvp: float = 120.0,
    body_part: str = "",
    contrast_agent: str | None = None,
    slope: float = 1.0,
    intercept: float = -1024.0,
    slice_thickness: float | None = None,
    transfer_syntax: str = ExplicitVRLittleEndian,
    file_name: Callable[[int], str] = lambda k: f"CT{k + 1:04d}.dcm",
    customize: Callable[[Dataset, int], None] | None = None,
) -> list[Path]:
    """Write `hu` (z, y, x) as one classic CT file per slice; return the paths in k order.

    Slice k sits at affine @ (0, 0, k, 1); the row and column cosines are the affine's first
    two columns, normalised. Stored values are round((hu - intercept) / slope) as int16.
    `customize(ds, k)` may change a slice before it is written (tests use it to break files).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    row_cos, col_cos, spacing_rc = _in_plane(affine)
    thickness = slice_thickness or float(np.linalg.norm(affine[:3, 2]))
    stored = _to_stored(hu, slope, intercept)
    paths = []
    for k in range(hu.shape[0]):
        ds = _base_dataset(study, CTImageStorage, uid_from(series_uid, "slice", k), "CT")
        ds.SeriesInstanceUID = series_uid
        ds.SeriesNumber = series_number
        ds.SeriesDescription = series_description
        ds.FrameOfReferenceUID = frame_of_reference_uid
        ds.PositionReferenceIndicator = ""
        ds.InstanceNumber = k + 1
        ds.AcquisitionNumber = 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.KVP = _ds(kvp)
        ds.BodyPartExamined = body_part
        ds.PatientPosition = "HFS"
        if contrast_agent:
            ds.ContrastBolusAgent = contrast_agent
        ds.SliceThickness = _ds(thickness)
        position = affine[:3, :3] @ np.array([0.0, 0.0, k]) + affine[:3, 3]
        ds.ImagePositionPatient = [_ds(v) for v in position]
        ds.ImageOrientationPatient = [_ds(v) for v in (*row_cos, *col_cos)]
        ds.SliceLocation = _ds(float(position @ np.cross(row_cos, col_cos)))
        ds.PixelSpacing = [_ds(spacing_rc[0]), _ds(spacing_rc[1])]
        ds.RescaleSlope = _ds(slope)
        ds.RescaleIntercept = _ds(intercept)
        ds.RescaleType = "HU"
        ds.WindowCenter = "40"
        ds.WindowWidth = "400"
        _set_pixels(ds, stored[k], signed=True, bits_stored=16)
        if customize is not None:
            customize(ds, k)
        path = out_dir / file_name(k)
        write_dataset(ds, path, transfer_syntax)
        paths.append(path)
    return paths


def write_radiograph(
    pixels: np.ndarray,
    path: Path,
    study: StudyMeta,
    *,
    series_uid: str,
    sop_instance_uid: str | None = None,
    modality: str = "DX",
    series_number: int = 100,
    series_description: str = "",
    imager_pixel_spacing: tuple[float, float] | None = (0.15, 0.15),
    pixel_spacing: tuple[float, float] | None = None,
    magnification: float | None = None,
    body_part: str = "",
    view_position: str = "",
    laterality: str = "",
    patient_orientation: Sequence[str] = ("L", "F"),
    monochrome1: bool = False,
    bits_stored: int = 12,
    transfer_syntax: str = ExplicitVRLittleEndian,
) -> Path:
    """Write one projection radiograph (`pixels`: dense is high) as DX or CR.

    With `monochrome1` the stored values are inverted, as many CR readers write them, so the
    loader's inversion can be tested against a known image.
    """
    sop_class = (
        DigitalXRayImageStorageForPresentation if modality == "DX" else ComputedRadiographyImageStorage
    )
    sop_uid = sop_instance_uid or uid_from(series_uid, "image")
    ds = _base_dataset(study, sop_class, sop_uid, modality)
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = series_number
    ds.SeriesDescription = series_description
    ds.InstanceNumber = 1
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.BodyPartExamined = body_part
    ds.ViewPosition = view_position
    ds.PatientOrientation = list(patient_orientation)
    if laterality:
        ds.ImageLaterality = laterality
    if imager_pixel_spacing is not None:
        ds.ImagerPixelSpacing = [_ds(v) for v in imager_pixel_spacing]
    if pixel_spacing is not None:
        ds.PixelSpacing = [_ds(v) for v in pixel_spacing]
    if magnification is not None:
        ds.EstimatedRadiographicMagnificationFactor = _ds(magnification)
    if modality == "DX":
        ds.PresentationIntentType = "FOR PRESENTATION"
        ds.PresentationLUTShape = "INVERSE" if monochrome1 else "IDENTITY"
        ds.DetectorType = "SCINTILLATOR"
        ds.BurnedInAnnotation = "NO"
        ds.PixelIntensityRelationship = "LOG"
        ds.PixelIntensityRelationshipSign = -1 if monochrome1 else 1
        ds.RescaleSlope = "1"
        ds.RescaleIntercept = "0"
        ds.RescaleType = "US"
        ds.KVP = "70"
    top = (1 << bits_stored) - 1
    stored = np.clip(np.rint(pixels), 0, top).astype(np.uint16)
    if monochrome1:
        stored = (top - stored).astype(np.uint16)
    ds.WindowCenter = str(top // 2)
    ds.WindowWidth = str(top)
    _set_pixels(ds, stored, signed=False, bits_stored=bits_stored, monochrome1=monochrome1)
    write_dataset(ds, Path(path), transfer_syntax)
    return Path(path)


def write_dataset(ds: Dataset, path: Path, transfer_syntax: str = ExplicitVRLittleEndian) -> None:
    """Encode `ds` in `transfer_syntax` and write it atomically (temp file, then rename)."""
    ts = UID(transfer_syntax)
    if str(ts) not in _NATIVE:
        ds.compress(ts, generate_instance_uid=False)
    else:
        if ts == "1.2.840.10008.1.2.2":
            _to_big_endian_pixels(ds)
        ds.file_meta.TransferSyntaxUID = ts
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    pydicom.dcmwrite(tmp, ds, enforce_file_format=True)
    os.replace(tmp, path)


def _base_dataset(study: StudyMeta, sop_class: str, sop_uid: str, modality: str) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION
    ds = Dataset()
    ds.file_meta = meta
    ds.preamble = b"\0" * 128
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study.study_uid
    ds.StudyDate = study.study_date
    ds.StudyTime = study.study_time
    ds.ContentDate = study.study_date
    ds.ContentTime = study.study_time
    ds.AccessionNumber = study.accession_number
    ds.StudyDescription = study.study_description
    ds.StudyID = study.study_id
    ds.ReferringPhysicianName = ""
    ds.PatientName = study.patient_name
    ds.PatientID = study.patient_id
    ds.PatientBirthDate = study.patient_birth_date
    ds.PatientSex = study.patient_sex
    ds.Modality = modality
    ds.Manufacturer = "calcscan phantom"
    return ds


def _set_pixels(
    ds: Dataset, arr: np.ndarray, *, signed: bool, bits_stored: int, monochrome1: bool = False
) -> None:
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME1" if monochrome1 else "MONOCHROME2"
    ds.Rows, ds.Columns = (int(n) for n in arr.shape)
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    ds.PixelData = np.ascontiguousarray(arr.astype("<i2" if signed else "<u2")).tobytes()
    ds["PixelData"].VR = "OW"


def _to_big_endian_pixels(ds: Dataset) -> None:
    """pydicom writes element values in the target byte order but not OW pixel bytes."""
    dtype = "<i2" if ds.PixelRepresentation else "<u2"
    values = np.frombuffer(ds.PixelData, dtype=dtype)
    ds.PixelData = values.astype(dtype.replace("<", ">")).tobytes()


def _to_stored(hu: np.ndarray, slope: float, intercept: float) -> np.ndarray:
    stored = np.rint((np.asarray(hu, dtype=np.float32) - intercept) / slope)
    return np.clip(stored, -32768, 32767).astype(np.int16)


def _in_plane(affine: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """Row cosine, column cosine and DICOM PixelSpacing (row step, column step)."""
    col_step = float(np.linalg.norm(affine[:3, 0]))
    row_step = float(np.linalg.norm(affine[:3, 1]))
    return affine[:3, 0] / col_step, affine[:3, 1] / row_step, (row_step, col_step)


def _ds(value: float) -> str:
    """A decimal string of at most 16 characters that round-trips to within 1e-6 mm."""
    text = f"{float(value):.10g}"
    if len(text) > 16:
        text = f"{float(value):.8g}"
    return "0" if text == "-0" else text
