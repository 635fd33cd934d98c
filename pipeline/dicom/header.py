"""Header-only reading of one file: is it DICOM, is it whole, and what does it say.

Discovery reads every file under a folder, so this stays cheap: pixel data is never read,
only its element header, to tell a complete file from a truncated one.
"""

from __future__ import annotations

import os
import stat
import struct
import warnings
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from pipeline.dicom.values import integer, number, positive_pair, strings, text, vector
from pipeline.models import FrameHeader, InstanceHeader

MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"  # DICOMDIR
OWN_MANUFACTURER = "calcscan"  # Manufacturer of the SEG and SR calcscan writes
DEFLATED = "1.2.840.10008.1.2.1.99"
_PIXEL_TAGS = {(0x7FE0, 0x0010), (0x7FE0, 0x0008), (0x7FE0, 0x0009)}
_PLACEMENT_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
_PIXEL_VRS = {b"OB", b"OW", b"OF", b"OD", b"OV", b"UN"}


class HeaderProblem(Exception):
    """A file that cannot be used, with the reason to report."""


def read_header(path: Path) -> tuple[Dataset, bool]:
    """Read the header of `path` (never its pixels) and check the pixel data is complete.

    Returns the dataset and whether it holds pixel data. Raises HeaderProblem with a
    specific reason for anything that is not a usable DICOM file.
    """
    _check_regular_file(path)
    try:
        with open(path, "rb") as fp:
            head = fp.read(132)
            has_preamble = head[128:132] == b"DICM"
            if not has_preamble and not _looks_like_raw_dataset(head):
                raise HeaderProblem("not DICOM: no 'DICM' marker and no DICOM data elements at the start")
            fp.seek(0)
            ds = _parse(fp, force=not has_preamble)
            _check_meta_complete(ds, has_preamble, os.fstat(fp.fileno()).st_size)
            cut = _element_cut_short(ds)
            if cut:
                raise HeaderProblem(f"truncated: the file ends inside element {cut}")
            if _transfer_syntax(ds) == DEFLATED:
                ds, has_pixels = _reread_deflated(path)
            else:
                has_pixels = _check_pixel_data(fp, ds)
    except OSError as exc:
        raise HeaderProblem(f"unreadable: {exc.strerror or exc}") from None
    if not sop_class_of(ds) and "SOPInstanceUID" not in ds:
        raise HeaderProblem("not DICOM: no SOP Class or SOP Instance UID in the header")
    return ds, has_pixels


def sop_class_of(ds: Dataset) -> str:
    """SOP Class UID from the dataset, or from the file meta (DICOMDIR has it only there)."""
    uid = ds.get("SOPClassUID")
    if not uid:
        meta = getattr(ds, "file_meta", None)
        uid = meta.get("MediaStorageSOPClassUID") if meta is not None else None
    return str(uid or "")


def instance_header(path: Path, ds: Dataset, has_pixels: bool) -> InstanceHeader:
    """The summary discovery keeps of one file (attributes it groups, sorts and shows by)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # values are converted lazily; odd ones warn
        missing = [k for k in _PLACEMENT_UIDS if not text(ds, k)]
        if missing:
            raise HeaderProblem(f"missing {', '.join(missing)}: the file cannot be placed in a study")
        return _instance_header(path, ds, has_pixels)


def _instance_header(path: Path, ds: Dataset, has_pixels: bool) -> InstanceHeader:
    return InstanceHeader(
        path=path,
        sop_class_uid=str(ds.get("SOPClassUID", "")),
        sop_instance_uid=str(ds.SOPInstanceUID),
        transfer_syntax_uid=_transfer_syntax(ds),
        modality=text(ds, "Modality") or "",
        patient_id=text(ds, "PatientID"),
        study_uid=str(ds.StudyInstanceUID),
        study_date=text(ds, "StudyDate"),
        accession_number=text(ds, "AccessionNumber"),
        study_description=text(ds, "StudyDescription"),
        series_uid=str(ds.SeriesInstanceUID),
        series_number=integer(ds, "SeriesNumber"),
        series_description=text(ds, "SeriesDescription"),
        frame_of_reference_uid=text(ds, "FrameOfReferenceUID"),
        instance_number=integer(ds, "InstanceNumber"),
        acquisition_number=integer(ds, "AcquisitionNumber"),
        image_type=strings(ds, "ImageType"),
        rows=integer(ds, "Rows"),
        columns=integer(ds, "Columns"),
        samples_per_pixel=integer(ds, "SamplesPerPixel") or 1,
        number_of_frames=max(integer(ds, "NumberOfFrames") or 1, 1),
        has_pixel_data=has_pixels,
        body_part_examined=text(ds, "BodyPartExamined"),
        view_position=text(ds, "ViewPosition"),
        laterality=text(ds, "ImageLaterality") or text(ds, "Laterality"),
        kvp=number(ds, "KVP"),
        contrast_agent=text(ds, "ContrastBolusAgent"),
        frames=frame_headers(ds),
        patient_identifiers=patient_identifiers(ds),
    )


def is_own_output(ds: Dataset) -> bool:
    """A SEG or SR that calcscan wrote (stored back to a PACS and pulled again with its
    study): never an input, else a rerun would see its own findings as the study's."""
    return text(ds, "Manufacturer") == OWN_MANUFACTURER and text(ds, "Modality") in ("SEG", "SR")


_IDENTIFYING = ("PatientID", "PatientBirthDate", "AccessionNumber", "OtherPatientIDs", "PatientBirthName")


def patient_identifiers(ds: Dataset) -> tuple[str, ...]:
    """The values --deidentify must keep out of every output: the name as written and as a
    reader would type it, IDs, birth date and accession number (empty values dropped).

    Single parts of the name are not included: a patient called Hip or Stone must not erase
    every hip and stone from the report."""
    found: list[str] = []
    name = text(ds, "PatientName")
    if name:
        found += [name, " ".join(name.replace("^", " ").split())]
    for keyword in _IDENTIFYING:
        found += [v.strip() for v in strings(ds, keyword) if v.strip()]
    return tuple(dict.fromkeys(found))


def frame_headers(ds: Dataset) -> tuple[FrameHeader, ...]:
    """Per-frame geometry and rescale, from functional groups when the file has them."""
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if not per_frame:
        return (_classic_frame(ds),)
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else Dataset()
    return tuple(_functional_frame(i, item, shared) for i, item in enumerate(per_frame))


def _classic_frame(ds: Dataset) -> FrameHeader:
    slope, intercept = number(ds, "RescaleSlope"), number(ds, "RescaleIntercept")
    return FrameHeader(
        index=0,
        position=vector(ds, "ImagePositionPatient", 3),
        orientation=vector(ds, "ImageOrientationPatient", 6),
        pixel_spacing=positive_pair(ds, "PixelSpacing"),
        slice_thickness=number(ds, "SliceThickness"),
        rescale_slope=1.0 if slope in (None, 0.0) else slope,
        rescale_intercept=intercept or 0.0,
        rescale_type=text(ds, "RescaleType"),
        temporal_index=integer(ds, "TemporalPositionIdentifier"),
        frame_type=strings(ds, "ImageType"),
    )


def _functional_frame(index: int, item: Dataset, shared: Dataset) -> FrameHeader:
    """One frame of an enhanced image: per-frame groups win over shared ones (PS3.3 C.7.6.16)."""

    def group(name: str) -> Dataset | None:
        for source in (item, shared):
            seq = source.get(name)
            if seq:
                return seq[0]
        return None

    position = group("PlanePositionSequence")
    orientation = group("PlaneOrientationSequence")
    measures = group("PixelMeasuresSequence")
    transform = group("PixelValueTransformationSequence")
    content = group("FrameContentSequence")
    frame_type = group("CTImageFrameTypeSequence")
    slope = number(transform, "RescaleSlope") if transform else None
    return FrameHeader(
        index=index,
        position=vector(position, "ImagePositionPatient", 3) if position else None,
        orientation=vector(orientation, "ImageOrientationPatient", 6) if orientation else None,
        pixel_spacing=positive_pair(measures, "PixelSpacing") if measures else None,
        slice_thickness=number(measures, "SliceThickness") if measures else None,
        rescale_slope=1.0 if slope in (None, 0.0) else slope,
        rescale_intercept=(number(transform, "RescaleIntercept") or 0.0) if transform else 0.0,
        rescale_type=text(transform, "RescaleType") if transform else None,
        temporal_index=integer(content, "TemporalPositionIndex") if content else None,
        stack_id=text(content, "StackID") if content else None,
        frame_type=strings(frame_type, "FrameType") if frame_type else (),
    )


# --- file checks -------------------------------------------------------------------------


def _check_regular_file(path: Path) -> None:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise HeaderProblem(f"unreadable: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise HeaderProblem("not a regular file (device, pipe or socket)")
    if st.st_size == 0:
        raise HeaderProblem("empty file (0 bytes)")


def _looks_like_raw_dataset(head: bytes) -> bool:
    """A dataset written without preamble starts with a low, even group (0002 or 0008)."""
    if len(head) < 8:
        return False
    for fmt in ("<HH", ">HH"):
        group, _elem = struct.unpack(fmt, head[:4])
        if group in (0x0002, 0x0008):
            return True
    return False


def _parse(fp: Any, force: bool) -> Dataset:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warns on every odd value; we report per file
            return pydicom.dcmread(fp, stop_before_pixels=True, force=force)
    except InvalidDicomError as exc:
        raise HeaderProblem(f"not DICOM: {exc}") from None
    except EOFError:
        raise HeaderProblem("truncated: the file ends inside the header") from None
    except Exception as exc:  # pydicom raises many kinds on malformed headers
        raise HeaderProblem(f"malformed DICOM header: {type(exc).__name__}: {exc}") from None


def _check_meta_complete(ds: Dataset, has_preamble: bool, size: int) -> None:
    """The file meta group states its own length: a file shorter than that is cut."""
    meta = getattr(ds, "file_meta", None)
    group_length = meta.get("FileMetaInformationGroupLength") if meta is not None else None
    if not has_preamble or group_length is None:
        return
    end = 132 + 12 + int(group_length)  # preamble, 'DICM', the group length element, the group
    if size < end:
        raise HeaderProblem(
            f"truncated: the file ends inside its file meta information ({size} of {end} bytes)"
        )
    if size == end:
        raise HeaderProblem("truncated: the file ends after its file meta information (no dataset)")


def _element_cut_short(ds: Dataset) -> str | None:
    """The tag of a last element whose value is shorter than its declared length.

    pydicom reads a file cut inside the header without complaint and returns what it got;
    only the last element (or the last element of its last sequence item) can be short.
    """
    keys = list(ds.keys())
    if not keys:
        return None
    raw = ds.get_item(keys[-1])
    length = getattr(raw, "length", None)
    value = getattr(raw, "value", None)
    if isinstance(value, bytes) and length not in (None, 0xFFFFFFFF) and len(value) < length:
        return str(keys[-1])
    if getattr(raw, "VR", None) == "SQ":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                items = ds[keys[-1]].value
            except Exception:
                return str(keys[-1])
        if items:
            return _element_cut_short(items[-1])
    return None


def _reread_deflated(path: Path) -> tuple[Dataset, bool]:
    """A deflated dataset is one zlib stream: read it whole to see its pixel data."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, force=True)
    except Exception as exc:
        raise HeaderProblem(f"malformed deflated DICOM file: {type(exc).__name__}: {exc}") from None
    has_pixels = any(tag in ds for tag in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"))
    for keyword in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"):
        if keyword in ds:
            del ds[keyword]
    return ds, has_pixels


def _transfer_syntax(ds: Dataset) -> str | None:
    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    return str(ts) if ts else None


def _check_pixel_data(fp: Any, ds: Dataset) -> bool:
    """With pydicom stopped before the pixel data, read its element header and check length.

    Returns False when the file has no pixel data. Raises HeaderProblem when the pixel
    data is cut short (a truncated copy or transfer): defined-length data must fit in the
    file, encapsulated data must end with its sequence delimiter.
    """
    start = fp.tell()
    size = os.fstat(fp.fileno()).st_size
    header = fp.read(12)
    if len(header) < 8:
        return False
    little = getattr(ds, "original_encoding", (False, True))[1] is not False
    e = "<" if little else ">"
    group, elem = struct.unpack(e + "HH", header[:4])
    if (group, elem) not in _PIXEL_TAGS:
        return False
    # some writers use implicit VR whatever the transfer syntax says: look at the bytes
    if header[4:6] not in _PIXEL_VRS:
        (length,) = struct.unpack(e + "L", header[4:8])
        value_start = start + 8
    else:
        (length,) = struct.unpack(e + "L", header[8:12])
        value_start = start + 12
    if length == 0xFFFFFFFF:
        _check_encapsulated(fp, value_start, size, e)
    elif value_start + length > size:
        missing = value_start + length - size
        raise HeaderProblem(
            f"truncated: pixel data needs {length} bytes but the file ends {missing} bytes short"
        )
    return True


def _check_encapsulated(fp: Any, offset: int, size: int, e: str) -> None:
    """Walk the fragment items by their lengths; a whole file ends with a delimiter."""
    while offset + 8 <= size:
        fp.seek(offset)
        group, elem, length = struct.unpack(e + "HHL", fp.read(8))
        if (group, elem) == (0xFFFE, 0xE0DD):
            return
        if (group, elem) != (0xFFFE, 0xE000):
            raise HeaderProblem(f"malformed encapsulated pixel data at byte {offset}")
        offset += 8 + length
    raise HeaderProblem("truncated: compressed pixel data ends before its last fragment")
