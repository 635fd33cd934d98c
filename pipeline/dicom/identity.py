"""Study, series and instance identifiers for files exported without them.

Real exports sometimes leave StudyInstanceUID, SeriesInstanceUID or SOPInstanceUID empty
(a PET/CT console's anonymiser, a research converter) while the file meta and the frame of
reference are filled. Dropping such files loses whole studies without a word, so calcscan
derives the missing identifiers, in this order, and says so in the report:

- SOPInstanceUID: the file meta's MediaStorageSOPInstanceUID; failing that, a UID from the
  SHA-256 of the file's bytes.
- StudyInstanceUID: a UID from FrameOfReferenceUID, PatientID, StudyDate and StudyTime
  (images of one acquisition share a frame of reference); without a frame of reference,
  from PatientID, StudyDate, StudyTime, AccessionNumber and the folder holding the file.
- SeriesInstanceUID: a UID from the study's (possibly derived) UID, FrameOfReferenceUID,
  Modality, SeriesNumber, SeriesTime, AcquisitionNumber and the image geometry
  (orientation, rows, columns, pixel spacing), so that images that could form one volume
  land in one series; radiographs without a frame of reference also by their folder.

Every derived UID is "2.25." followed by the decimal value of the first 128 bits of a
SHA-256 of its sources (PS3.5 B.2, UUID-derived UIDs), so the same files always give the
same identifiers, on any machine and in any run.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pydicom.dataset import Dataset

from pipeline.dicom.values import strings, text

IDENTIFIERS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
_MAX_UID = 64
_UID_CHARS = set("0123456789.")


def valid_uid(value: str | None) -> bool:
    """A UID as PS3.5 9.1 allows it: digits and dots, at most 64 characters, no empty part."""
    if not value or len(value) > _MAX_UID or not set(value) <= _UID_CHARS:
        return False
    return all(part and (part == "0" or not part.startswith("0")) for part in value.split("."))


def derived_uid(*sources: object) -> str:
    digest = hashlib.sha256("\x1f".join(str(s) for s in sources).encode("utf-8")).digest()
    return f"2.25.{int.from_bytes(digest[:16], 'big')}"


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks."""
    sha = hashlib.sha256()
    with open(path, "rb") as fp:
        for block in iter(lambda: fp.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def file_digest_uid(path: Path) -> str:
    return derived_uid("file", file_sha256(path))


def resolve_identifiers(path: Path, ds: Dataset) -> tuple[dict[str, str], tuple[str, ...]]:
    """(the three identifiers to use, the names of those that were derived).

    An identifier that is present is used as it is, even if malformed (the discovery stage
    names it in its warnings); only missing or empty ones are derived.
    """
    given = {k: text(ds, k) or "" for k in IDENTIFIERS}
    derived: list[str] = []
    sop = given["SOPInstanceUID"]
    if not sop:
        meta = getattr(ds, "file_meta", None)
        sop = str(meta.get("MediaStorageSOPInstanceUID", "") or "").strip() if meta is not None else ""
        sop = sop or file_digest_uid(path)
        derived.append("SOPInstanceUID")
    study = given["StudyInstanceUID"]
    if not study:
        study = _study_uid(path, ds)
        derived.append("StudyInstanceUID")
    series = given["SeriesInstanceUID"]
    if not series:
        series = _series_uid(path, ds, study)
        derived.append("SeriesInstanceUID")
    return {"StudyInstanceUID": study, "SeriesInstanceUID": series, "SOPInstanceUID": sop}, tuple(derived)


def _study_uid(path: Path, ds: Dataset) -> str:
    when = (text(ds, "PatientID"), text(ds, "StudyDate"), text(ds, "StudyTime"))
    frame_of_reference = text(ds, "FrameOfReferenceUID")
    if frame_of_reference:
        return derived_uid("study", frame_of_reference, *when)
    return derived_uid("study", *when, text(ds, "AccessionNumber"), path.parent.resolve())


def _series_uid(path: Path, ds: Dataset, study_uid: str) -> str:
    frame_of_reference = text(ds, "FrameOfReferenceUID")
    geometry = (
        tuple(round(float(v), 3) for v in _floats(ds, "ImageOrientationPatient")),
        text(ds, "Rows"),
        text(ds, "Columns"),
        tuple(round(float(v), 4) for v in _floats(ds, "PixelSpacing")),
    )
    acquisition = (
        text(ds, "Modality"),
        text(ds, "SeriesNumber"),
        text(ds, "SeriesTime"),
        text(ds, "AcquisitionNumber"),
        strings(ds, "ImageType")[:2],
    )
    where = frame_of_reference or path.parent.resolve()
    return derived_uid("series", study_uid, where, *acquisition, *geometry)


def _floats(ds: Dataset, keyword: str) -> tuple[float, ...]:
    try:
        values = ds.get(keyword) or ()
        return tuple(float(v) for v in values)
    except Exception:
        return ()


def derived_note(names: tuple[str, ...], n_files: int) -> str:
    """The warning a study carries when some of its identifiers were derived."""
    listed = ", ".join(names)
    return (
        f"{listed} missing or empty in {n_files} file(s): derived deterministically "
        "(SOP from the file meta's MediaStorageSOPInstanceUID; study and series from "
        "FrameOfReferenceUID, patient, date, acquisition and geometry) - the study and series "
        "UIDs in this report are calcscan's, not the scanner's"
    )
