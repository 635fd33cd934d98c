"""The DICOM outputs of a study: a SEG per CT volume with deposits, and one TID 1500 SR.

They go into the study's PACS next to the CT they were made from: same study, same patient
(or, under --deidentify, the report's pseudonym), every segment and measurement pointing
at its source series. A volume that cannot get a SEG costs that SEG and a warning, never
the SR: its deposits are still reported there, without a segment reference. Radiograph
(CR/DX) deposits get no SEG; the SR points at a circle on their film instead, and lists
every analysed film as evidence.
"""

from __future__ import annotations

import copy
import hashlib
import json
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sr.coding import Code
from pydicom.valuerep import PersonName

from pipeline import __version__
from pipeline.dicom import confidentiality_profile as profile
from pipeline.dicom.write import uid_from
from pipeline.errors import plain_message
from pipeline.load.pixels import output_header
from pipeline.models import RadiographFindings, Segmentation, StackPlan, StudyResult
from pipeline.report import dicom_codes as codes
from pipeline.report.deidentify import Scrubber, scrubber
from pipeline.report.dicom_seg import (
    SEG_DEVICE_SERIAL_NUMBER,
    SEG_SERIES_DESCRIPTION,
    SegmentRef,
    SegSkipped,
    build_seg,
    read_source_headers,
    segment_refs,
    tilt_note,
)
from pipeline.report.dicom_sr import SR_SERIES_DESCRIPTION, build_sr

SEG_SERIES_BASE = 900  # SEG series numbers 901, 902...; the SR is 999
DEIDENTIFICATION_METHOD = "PS3.15 E basic profile, full dates, UIDs kept; keyed pseudonym"  # LO: <= 64
# what calcscan writes itself into attributes the profile lists: no input's value, so it stays
_AUTHORED = {
    "SeriesDescription": {SEG_SERIES_DESCRIPTION, SR_SERIES_DESCRIPTION},
    "DeviceSerialNumber": {SEG_DEVICE_SERIAL_NUMBER},
}
_REQUIRED_EMPTY_OK = (  # type 2 attributes highdicom copies from the source and fails without
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "AccessionNumber",
    "StudyID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
)
_TEXT_VRS = {"LO", "SH", "ST", "LT", "UT", "UC", "PN"}


@dataclass
class DicomOutputs:
    """What was written, for report.json's outputs and each deposit's `dicom_segment`."""

    entries: list[dict] = field(default_factory=list)
    segments: dict[str, dict] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Identity:
    """The pseudonym to write and the input values that must not appear."""

    pseudonym: str
    scrubber: Scrubber | None


def write_dicom_outputs(
    folder: Path, result: StudyResult, pseudonym: str | None, identifiers: Iterable[str] | None = None
) -> DicomOutputs:
    """SEG files and sr.dcm in folder/dicom; `pseudonym` set means --deidentify, and then
    `identifiers` are the input values no text may keep (the study's when not given)."""
    if not result.deposits and not result.radiograph_deposits:  # no SR without a finding
        return DicomOutputs()
    identity = None
    if pseudonym:
        known = result.study.patient_identifiers if identifiers is None else identifiers
        identity = _Identity(pseudonym, scrubber(known))
    writer = _StudyWriter(folder / "dicom", result, identity)
    volumes = [s for s in result.segmentations if s.deposits]
    for index, (segmentation, name) in enumerate(zip(volumes, _seg_names(result, volumes), strict=True)):
        writer.seg(segmentation, name, SEG_SERIES_BASE + index + 1)
    writer.sr()
    return writer.outputs


class _StudyWriter:
    """Writes one study's objects in order, collecting what the SR must reference."""

    def __init__(self, out_dir: Path, result: StudyResult, identity: _Identity | None) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.out_dir, self.result, self.identity = out_dir, result, identity
        self.outputs = DicomOutputs()
        self.key = findings_key(result, identity)
        self.tracking = {d.id: self.uid("tracking", d.id) for d in result.deposits}  # SEG segment, SR group
        self.radiograph_tracking = {id(d): self.uid("tracking", d.id) for d in result.radiograph_deposits}
        self.segments: dict[str, tuple[Dataset, SegmentRef]] = {}
        self.evidence: list[Dataset] = []  # SEGs first: the SR copies patient and study from [0]

    def seg(self, segmentation: Segmentation, name: str, series_number: int) -> None:
        try:
            headers = read_source_headers(segmentation.volume.source_files)
            sources = [_as_written(h, self.identity) for h in headers]
            self.evidence.extend(sources)
            refs = segment_refs(segmentation, self.tracking)
            plan = _plan_of(self.result, segmentation)
            with _single_part_names_allowed(self.identity):
                uids = (self.uid("seg series", name), self.uid("seg", name))
                seg = build_seg(segmentation, sources, refs, plan, series_number, uids)
        except Exception as exc:  # one volume's SEG must not cost the study's SR
            self.outputs.warnings.append(_skipped(segmentation, exc))
            return
        self._write(seg, name, "SEG", segmentation.volume.series_uid)
        note = tilt_note(segmentation)
        if note:
            self.outputs.warnings.append(note)
        self.segments.update({r.deposit.id: (seg, r) for r in refs})
        self.outputs.segments.update(
            {
                r.deposit.id: {
                    "sop_instance_uid": str(seg.SOPInstanceUID),
                    "segment_number": r.segment_number,
                }
                for r in refs
            }
        )
        self.evidence.insert(0, seg)

    def sr(self) -> None:
        films = [(f, self._film_header(f)) for f in self.result.radiograph_findings]
        self.evidence.extend(h for _, h in films if h is not None)  # after the SEGs and CT
        if not self.evidence:
            self.outputs.warnings.append(
                "DICOM SR not written: no source CT or radiograph header could be read"
            )
            return
        voxel_mm3 = {d.id: s.volume.voxel_volume_mm3 for s in self.result.segmentations for d in s.deposits}
        radiograph_deposits = [(d, self.radiograph_tracking[id(d)], h) for f, h in films for d in f.deposits]
        with _single_part_names_allowed(self.identity):
            sr = build_sr(
                self.result.deposits,
                self.segments,
                self.tracking,
                self.evidence,
                voxel_mm3,
                radiograph_deposits,
                _procedures(self.result),
                (self.uid("sr series"), self.uid("sr")),
            )
        ct_series = sorted({d.series_uid for d in self.result.deposits})
        film_series = sorted({str(h.SeriesInstanceUID) for _, h in films if h is not None} - set(ct_series))
        self._write(sr, "sr.dcm", "SR", *ct_series, *film_series)

    def _film_header(self, findings: RadiographFindings) -> Dataset | None:
        """The film's header as the SR may quote it; None (and a warning when the film has
        deposits, which then lose their region) when it cannot be read."""
        try:
            header = output_header(findings.image.path)
            if str(header.SOPInstanceUID) != findings.image.sop_instance_uid:
                raise ValueError("the file now holds another image")
            return _as_written(header, self.identity)
        except Exception as exc:
            if findings.deposits:
                ids = ", ".join(d.id for d in findings.deposits)
                self.outputs.warnings.append(
                    f"radiograph {findings.image.stack_label} not referenced in the DICOM SR "
                    f"({plain_message(exc)}); deposits {ids} are there without an image region"
                )
            return None

    def uid(self, *parts: str) -> str:
        return uid_from(self.key, *parts)

    def _write(self, ds: Dataset, name: str, kind: str, *referenced_series: str) -> None:
        if self.identity is not None:
            _apply_identity(ds, self.identity)
        pydicom.dcmwrite(self.out_dir / name, ds, enforce_file_format=True)
        self.outputs.entries.append(_entry(name, kind, ds, *referenced_series))


def findings_key(result: StudyResult, identity: _Identity | None) -> str:
    """What the outputs' UIDs are derived from: the study, the tool version, the identity
    written and every finding. The same input and version give the same UIDs, so a resumed
    or distributed run writes the same report.json; any change in a finding, or a
    de-identified copy, gives new ones, as DICOM requires of a different object."""
    findings = [(d.id, d.series_uid, d.n_voxels, d.centroid_lps_mm) for d in result.deposits]
    findings += [(d.id, d.sop_instance_uid, d.area_px, d.centroid_px) for d in result.radiograph_deposits]
    text = json.dumps(
        [result.study.uid, __version__, identity.pseudonym if identity else None, findings], default=str
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _procedures(result: StudyResult) -> list[Code]:
    """CID 100 procedures the SR reports on: CT when a CT was analysed or has deposits,
    radiography when a film was."""
    ct = bool(result.deposits or result.segmentations)
    films = bool(result.radiograph_findings)
    return [codes.CT_PROCEDURE] * (ct or not films) + [codes.XR_PROCEDURE] * films


def _plan_of(result: StudyResult, segmentation: Segmentation) -> StackPlan | None:
    """The stack plan that made this volume; None if the loader had to re-plan (a file
    failed to decode), since the volume's slices then follow another recipe."""
    volume = segmentation.volume
    for outcome in result.series:
        plan = outcome.stack.plan
        if outcome.stack.label == volume.stack_label and plan is not None:
            same = plan.shape == volume.hu.shape and bool((abs(plan.affine - volume.affine) < 1e-6).all())
            return plan if same else None
    return None


def _seg_names(result: StudyResult, volumes: list[Segmentation]) -> list[str]:
    """seg-<series number>.dcm (-<stack> when a series was split; the volume's index when the
    series has no number or shares it with another): never anything from the patient."""
    numbers = {o.stack.label: (o.series_number, o.stack.index) for o in result.series}
    names: list[str] = []
    for index, segmentation in enumerate(volumes, start=1):
        number, stack = numbers.get(segmentation.volume.stack_label, (None, 0))
        name = f"seg-{index if number is None else number}" + (f"-{stack + 1}" if stack else "")
        while f"{name}.dcm" in names:
            name = f"{name}-{index}"
        names.append(f"{name}.dcm")
    return names


def _skipped(segmentation: Segmentation, exc: Exception) -> str:
    ids = ", ".join(sorted(d.id for d in segmentation.deposits))
    reason = str(exc) if isinstance(exc, SegSkipped) else plain_message(exc)
    return (
        f"DICOM SEG of {segmentation.volume.stack_label} not written ({reason}); deposits {ids} are "
        "in the SR without a segment reference"
    )


def _entry(name: str, kind: str, ds: Dataset, *referenced_series: str) -> dict:
    entry = {
        "path": f"dicom/{name}",
        "kind": kind,
        "sop_class_uid": str(ds.SOPClassUID),
        "sop_instance_uid": str(ds.SOPInstanceUID),
        "series_instance_uid": str(ds.SeriesInstanceUID),
        "referenced_series_instance_uid": referenced_series[0] if referenced_series else None,
    }
    if kind == "SR":
        entry["referenced_series_instance_uids"] = list(referenced_series)
    return entry


@contextmanager
def _single_part_names_allowed(identity: _Identity | None) -> Iterator[None]:
    """The pseudonym is the patient name as it is (PatientName = PatientID, as report.json
    says); highdicom warns about a one-part person name, which is intended here."""
    with warnings.catch_warnings():
        if identity is not None:
            warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person name")
        yield


def _as_written(header: Dataset, identity: _Identity | None) -> Dataset:
    """A source header as the outputs may quote it: highdicom copies the patient and study
    modules from it, so under --deidentify it must carry the pseudonym already."""
    missing = [k for k in _REQUIRED_EMPTY_OK if k not in header]
    if identity is None and not missing:
        return header
    header = copy.deepcopy(header)
    for keyword in missing:
        setattr(header, keyword, "")
    if identity is not None:
        _apply_identity(header, identity)
    return header


def _apply_identity(ds: Dataset, identity: _Identity) -> None:
    """The confidentiality profile at every depth (contributing equipment included), the
    pseudonym in place of the patient, the profile and options applied, and no input
    identifier left in any text."""
    profile.clean_dataset(ds, _AUTHORED)
    ds.PatientName = identity.pseudonym
    ds.PatientID = identity.pseudonym
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = DEIDENTIFICATION_METHOD
    ds.DeidentificationMethodCodeSequence = profile.method_codes()
    ds.LongitudinalTemporalInformationModified = "UNMODIFIED"  # dates retained as they were
    if identity.scrubber is None:
        return
    for element in ds.iterall():
        if element.VR in _TEXT_VRS and element.value:
            element.value = _scrubbed(element.value, identity.scrubber)


def _scrubbed(value: object, found: Scrubber) -> object:
    """Text with every identifier replaced."""
    if isinstance(value, str | PersonName):
        return found.text(str(value))
    if isinstance(value, list | MultiValue):
        return [found.text(str(v)) for v in value]
    return value
