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

from pipeline.dicom.checks import (
    PixelDataInfo,
    PixelModule,
    codec_note,
    pixel_module_problem,
)
from pipeline.dicom.confidentiality_profile import profile_identifiers
from pipeline.dicom.frames import CT_SOP_PREFIX, frame_headers, functional_body_part, functional_number
from pipeline.dicom.identity import resolve_identifiers, valid_uid
from pipeline.dicom.values import integer, number, present, strings, text
from pipeline.errors import plain_message
from pipeline.models import FrameHeader, InstanceHeader

_MALFORMED = "a malformed or out-of-range value"
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"  # DICOMDIR
OWN_MANUFACTURER = "calcscan"  # Manufacturer of the SEG and SR calcscan writes
DEFLATED = "1.2.840.10008.1.2.1.99"
_PIXEL_TAGS = {(0x7FE0, 0x0010), (0x7FE0, 0x0008), (0x7FE0, 0x0009)}
_PIXEL_VRS = {b"OB", b"OW", b"OF", b"OD", b"OV", b"UN"}


class HeaderProblem(Exception):
    """A file that cannot be used, with the reason to report.

    `dataset` is the header when it could be read before the damage was found (cut pixel
    data), so that the file can still be counted with its study."""

    def __init__(self, reason: str, dataset: Dataset | None = None) -> None:
        super().__init__(reason)
        self.dataset = dataset


def read_header(path: Path) -> tuple[Dataset, PixelDataInfo]:
    """Read the header of `path` (never its pixels) and check the pixel data is complete.

    Returns the dataset and what its pixel data element says (present, length). Raises
    HeaderProblem with a specific reason for anything that is not a usable DICOM file.
    """
    _check_regular_file(path)
    try:
        with open(path, "rb") as fp:
            head = fp.read(348)
            has_preamble = head[128:132] == b"DICM"
            if not has_preamble and not _looks_like_raw_dataset(head):
                raise HeaderProblem(_not_dicom(path, head))
            fp.seek(0)
            ds = _parse(fp, force=not has_preamble)
            _check_meta_complete(ds, has_preamble, os.fstat(fp.fileno()).st_size)
            cut = _element_cut_short(ds)
            if cut:
                raise HeaderProblem(f"truncated: the file ends inside element {cut}", ds)
            if _transfer_syntax(ds) == DEFLATED:
                ds, pixels = _reread_deflated(path)
            else:
                try:
                    pixels = _check_pixel_data(fp, ds)
                except HeaderProblem as exc:
                    raise HeaderProblem(str(exc), ds) from None
    except OSError as exc:
        raise HeaderProblem(f"unreadable: {exc.strerror or exc}") from None
    if not sop_class_of(ds) and "SOPInstanceUID" not in ds:
        raise HeaderProblem("not DICOM: no SOP Class or SOP Instance UID in the header")
    return ds, pixels


_KNOWN_FORMATS = (  # (magic bytes at the start, what the file is and what to do)
    (b"\x1f\x8b", "a gzip-compressed file, not DICOM: unpack it first"),
    (b"PK\x03\x04", "a zip archive, not DICOM: unpack it first"),
    (b"\x89PNG", "a PNG picture, not DICOM"),
    (b"\xff\xd8\xff", "a JPEG picture, not DICOM"),
    (b"%PDF", "a PDF document, not DICOM"),
)


def _not_dicom(path: Path, head: bytes) -> str:
    """Why a file is not DICOM, naming the format when it is a common one."""
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")) or head[344:348] in (b"n+1\x00", b"ni1\x00"):
        return (
            "a NIfTI image, not DICOM: calcscan analyses DICOM CT series and radiographs "
            "(a TotalSegmentator label map is given with --anatomy)"
        )
    for magic, what in _KNOWN_FORMATS:
        if head.startswith(magic):
            return what
    return "not DICOM: no 'DICM' marker and no DICOM data elements at the start"


def sop_class_of(ds: Dataset) -> str:
    """SOP Class UID from the dataset, or from the file meta (DICOMDIR has it only there)."""
    uid = ds.get("SOPClassUID")
    if not uid:
        meta = getattr(ds, "file_meta", None)
        uid = meta.get("MediaStorageSOPClassUID") if meta is not None else None
    return str(uid or "")


def instance_header(path: Path, ds: Dataset, pixels: PixelDataInfo) -> InstanceHeader:
    """The summary discovery keeps of one file (attributes it groups, sorts and shows by).

    Missing identifiers are derived (pipeline.dicom.identity); the pixel module is checked
    against the pixel data (`problem` says why the file cannot be used, `notes` what was
    repaired). Any other surprise in a malformed header becomes a HeaderProblem."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # values are converted lazily; odd ones warn
        try:
            ids, derived = resolve_identifiers(path, ds)
            inst = _instance_header(path, ds, pixels, ids, derived)
        except HeaderProblem:
            raise
        except Exception as exc:
            why = plain_message(exc, _MALFORMED)
            raise HeaderProblem(f"header values cannot be interpreted ({why})") from None
    return inst


def _instance_header(
    path: Path, ds: Dataset, pixels: PixelDataInfo, ids: dict[str, str], derived: tuple[str, ...]
) -> InstanceHeader:
    frames = frame_headers(ds)
    problem, notes = _image_checks(ds, pixels, frames)
    notes += [_uid_note(k, ids[k]) for k in ids if k not in derived and not valid_uid(ids[k])]
    return InstanceHeader(
        path=path,
        sop_class_uid=str(ds.get("SOPClassUID", "") or sop_class_of(ds)),
        sop_instance_uid=ids["SOPInstanceUID"],
        transfer_syntax_uid=_transfer_syntax(ds),
        modality=text(ds, "Modality") or "",
        patient_id=text(ds, "PatientID"),
        study_uid=ids["StudyInstanceUID"],
        study_date=text(ds, "StudyDate"),
        accession_number=text(ds, "AccessionNumber"),
        study_description=text(ds, "StudyDescription"),
        series_uid=ids["SeriesInstanceUID"],
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
        has_pixel_data=pixels.present,
        body_part_examined=text(ds, "BodyPartExamined") or functional_body_part(ds),
        view_position=text(ds, "ViewPosition"),
        laterality=text(ds, "ImageLaterality") or text(ds, "Laterality"),
        kvp=number(ds, "KVP") or functional_number(ds, "CTXRayDetailsSequence", "KVP"),
        contrast_agent=text(ds, "ContrastBolusAgent"),
        frames=frames,
        patient_identifiers=patient_identifiers(ds),
        derived_ids=derived,
        patient_key=text(ds, "PatientID") or text(ds, "PatientName") or "",
        problem=problem,
        notes=tuple(notes),
    )


def _uid_note(keyword: str, value: str) -> str:
    """A malformed UID is used as it is (it still tells images apart) but named: a
    receiving PACS may refuse objects that quote it. SOP UIDs differ per file, so their
    note does not quote the value (one line per series, not per file)."""
    shown = "" if keyword == "SOPInstanceUID" else f" '{value[:70]}'"
    return (
        f"{keyword}{shown} is not a valid DICOM UID (digits and dots, at most 64 characters, "
        "PS3.5 9.1): used as it is"
    )


def _image_checks(
    ds: Dataset, pixels: PixelDataInfo, frames: tuple[FrameHeader, ...]
) -> tuple[str | None, list[str]]:
    """Why an image's pixel module cannot be used (None if it can), and what was repaired.

    Only images with pixel data are checked: other objects (SR, SEG...) are listed, not read."""
    if not pixels.present:
        return None, []
    module = PixelModule(
        rows=integer(ds, "Rows"),
        columns=integer(ds, "Columns"),
        frames=max(integer(ds, "NumberOfFrames") or 1, 1),
        samples_per_pixel=integer(ds, "SamplesPerPixel") or 1,
        bits_allocated=integer(ds, "BitsAllocated"),
        bits_stored=integer(ds, "BitsStored"),
        high_bit=integer(ds, "HighBit"),
        pixel_representation=integer(ds, "PixelRepresentation"),
        photometric=text(ds, "PhotometricInterpretation"),
    )
    problem, notes = pixel_module_problem(module, pixels)
    mislabelled = codec_note(pixels)
    if mislabelled:
        notes.append(mislabelled)
    frames_given = integer(ds, "NumberOfFrames")
    if frames_given is not None and frames_given < 1:
        notes.append(f"NumberOfFrames {frames_given}: taken as 1")
    if problem is None and len(frames) != module.frames and "PerFrameFunctionalGroupsSequence" in ds:
        problem = f"NumberOfFrames {module.frames} but {len(frames)} per-frame functional group items"
    is_ct = str(ds.get("SOPClassUID", "")).startswith(CT_SOP_PREFIX)
    if is_ct and not text(ds, "Modality"):
        notes.append("no Modality in the header: taken as CT from its SOP Class")
    if is_ct and not present(ds, "RescaleSlope") and "PerFrameFunctionalGroupsSequence" not in ds:
        notes.append("no RescaleSlope/RescaleIntercept: stored values taken as Hounsfield units")
    return problem, notes


def is_own_output(ds: Dataset) -> bool:
    """A SEG or SR that calcscan wrote (stored back to a PACS and pulled again with its
    study): never an input, else a rerun would see its own findings as the study's."""
    return text(ds, "Manufacturer") == OWN_MANUFACTURER and text(ds, "Modality") in ("SEG", "SR")


_IDENTIFYING = ("PatientID", "PatientBirthDate", "AccessionNumber", "OtherPatientIDs")


def patient_identifiers(ds: Dataset) -> tuple[str, ...]:
    """The values --deidentify must keep out of every output: the name as written and as a
    reader would type it, IDs, birth date and accession number (empty values dropped).

    Single parts of the name are not included: a patient called Hip or Stone must not erase
    every hip and stone from the report."""
    found: list[str] = []
    for keyword in ("PatientName", "PatientBirthName"):
        name = text(ds, keyword)
        if name:
            found += [name, " ".join(name.replace("^", " ").split())]
    for keyword in _IDENTIFYING:
        found += [v.strip() for v in strings(ds, keyword) if v.strip()]
    # and every other value the PS3.15 basic profile removes (institution, station, ...)
    return tuple(dict.fromkeys([*found, *profile_identifiers(ds)]))


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
        raise HeaderProblem(f"malformed DICOM header ({plain_message(exc, _MALFORMED)})") from None


def _check_meta_complete(ds: Dataset, has_preamble: bool, size: int) -> None:
    """A file whose dataset is empty after its file meta is cut short.

    The meta group's own length (0002,0000) tells where the meta should end; it is only
    believed when the dataset is indeed empty, because a damaged length in an otherwise
    whole file (pydicom reads the meta by its elements, not by that length) is no reason
    to lose the file."""
    tags = list(ds.keys())
    if not has_preamble or any(tag.group != 0x0002 for tag in tags):
        return
    meta = getattr(ds, "file_meta", None)
    try:
        group_length = int(meta.get("FileMetaInformationGroupLength")) if meta is not None else None
    except (TypeError, ValueError):
        group_length = None
    end = 132 + 12 + group_length if group_length is not None else None
    if end is not None and size < end:
        raise HeaderProblem(
            f"truncated: the file ends inside its file meta information ({size} of {end} bytes)"
        )
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


def _reread_deflated(path: Path) -> tuple[Dataset, PixelDataInfo]:
    """A deflated dataset is one zlib stream: read it whole to see its pixel data."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, force=True)
    except Exception as exc:
        raise HeaderProblem(f"malformed deflated DICOM file ({plain_message(exc, _MALFORMED)})") from None
    keywords = [k for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData") if k in ds]
    length = len(ds[keywords[0]].value or b"") if keywords else None
    for keyword in keywords:
        del ds[keyword]
    return ds, PixelDataInfo(present=bool(keywords), length=length)


def _transfer_syntax(ds: Dataset) -> str | None:
    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    return str(ts) if ts else None


def _check_pixel_data(fp: Any, ds: Dataset) -> PixelDataInfo:
    """With pydicom stopped before the pixel data, read its element header and check length.

    Says whether the file has pixel data and how long it is. Raises HeaderProblem when the
    pixel data is cut short (a truncated copy or transfer): defined-length data must fit in
    the file, encapsulated data must end with its sequence delimiter.
    """
    start = fp.tell()
    size = os.fstat(fp.fileno()).st_size
    header = fp.read(12)
    if len(header) < 8:
        return PixelDataInfo(present=False)
    little = getattr(ds, "original_encoding", (False, True))[1] is not False
    e = "<" if little else ">"
    group, elem = struct.unpack(e + "HH", header[:4])
    if (group, elem) not in _PIXEL_TAGS:
        return PixelDataInfo(present=False)
    # some writers use implicit VR whatever the transfer syntax says: look at the bytes
    if header[4:6] not in _PIXEL_VRS:
        (length,) = struct.unpack(e + "L", header[4:8])
        value_start = start + 8
    else:
        (length,) = struct.unpack(e + "L", header[8:12])
        value_start = start + 12
    if length == 0xFFFFFFFF:
        fragments, compressed, head = _check_encapsulated(fp, value_start, size, e)
        return PixelDataInfo(True, None, True, fragments, compressed, head, _transfer_syntax(ds))
    if value_start + length > size:
        missing = value_start + length - size
        raise HeaderProblem(
            f"truncated: pixel data needs {length} bytes but the file ends {missing} bytes short"
        )
    return PixelDataInfo(present=True, length=length)


def _check_encapsulated(fp: Any, offset: int, size: int, e: str) -> tuple[int, int, bytes]:
    """Walk the fragment items by their lengths; a whole file ends with a delimiter.

    Returns (number of fragments after the basic offset table, their bytes in all, the
    first 64 bytes of the first fragment: the codestream's own header)."""
    items, compressed, head = 0, 0, b""
    while offset + 8 <= size:
        fp.seek(offset)
        group, elem, length = struct.unpack(e + "HHL", fp.read(8))
        if (group, elem) == (0xFFFE, 0xE0DD):
            return max(items - 1, 0), compressed, head
        if (group, elem) != (0xFFFE, 0xE000):
            raise HeaderProblem(f"malformed encapsulated pixel data at byte {offset}")
        if items == 1:
            head = fp.read(min(length, 64))
        if items:
            compressed += length
        items += 1
        offset += 8 + length
    raise HeaderProblem("truncated: compressed pixel data ends before its last fragment")
