"""DICOM Segmentation (SEG) of one CT volume's deposits: one binary segment per deposit.

The SEG frames are placed by their own plane positions rather than by a 1:1 pairing with
the source files: every output slice that was copied from a source image gets that image's
exact ImagePositionPatient (and a per-frame reference to it), and an interpolated slice (a
filled gap, an uneven stack resampled) gets its position on the volume's grid. The same
holds under gantry tilt, where the volume's slice axis is sheared: each frame still sits
exactly on its source image. A viewer therefore overlays every segment where calcscan
measured it, whatever the loader had to do to the stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.sr.coding import Code

from pipeline import __version__
from pipeline.dicom.header import OWN_MANUFACTURER
from pipeline.models import CTVolume, Deposit, Segmentation, StackPlan
from pipeline.report import dicom_codes as codes

MANUFACTURER = OWN_MANUFACTURER  # what discovery recognises as calcscan's own output
CONTENT_LABEL = "CALCIFICATIONS"  # CS, at most 16 characters
_SAME_POSITION_MM = 1e-3  # as highdicom matches frames to source images
DISPLAY_CIELAB = [54537, 34370, 54622]  # sRGB (255, 200, 0), amber: calcium stands out on grey CT


class SegSkipped(Exception):
    """This volume gets no SEG; the message says why (it becomes a report warning)."""


@dataclass(frozen=True)
class SegmentRef:
    """Where a deposit's mask is: the SEG instance and its segment number."""

    deposit: Deposit
    segment_number: int
    tracking_uid: str


def read_source_headers(paths: tuple[Path, ...]) -> list[Dataset]:
    """Headers of the CT files a volume was built from; highdicom needs no pixel data."""
    if not paths:
        raise SegSkipped("the volume does not list its source files")
    try:
        return [pydicom.dcmread(p, stop_before_pixels=True) for p in paths]
    except (OSError, pydicom.errors.InvalidDicomError) as exc:
        raise SegSkipped(f"source CT headers unreadable ({exc})") from exc


def segment_refs(segmentation: Segmentation, tracking_uids: dict[str, str]) -> list[SegmentRef]:
    """Deposits in report order (D1, D2...), numbered 1..n as BINARY segments must be."""
    ordered = sorted(segmentation.deposits, key=_id_number)
    return [SegmentRef(d, n, tracking_uids[d.id]) for n, d in enumerate(ordered, start=1)]


def build_seg(
    segmentation: Segmentation,
    sources: list[Dataset],
    refs: list[SegmentRef],
    plan: StackPlan | None,
    series_number: int,
    uids: tuple[str, str],
) -> hd.seg.Segmentation:
    """The SEG of one volume; `plan` (the stack's, when it made this volume) gives exact
    source positions, else positions come from the volume's affine; `uids`: its series and
    SOP instance UIDs."""
    _check_sources(segmentation, sources)
    volume = segmentation.volume
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=_label_array(segmentation.labels, refs),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[_description(r) for r in refs],
        series_instance_uid=uids[0],
        series_number=series_number,
        sop_instance_uid=uids[1],
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=MANUFACTURER,
        software_versions=__version__,
        device_serial_number="0",
        content_label=CONTENT_LABEL,
        content_description="calcscan: soft-tissue calcifications, one segment per deposit",
        series_description="calcscan calcification segments",
        plane_orientation=_plane_orientation(volume.affine),
        pixel_measures=_pixel_measures(volume),
        plane_positions=_plane_positions(volume.affine, volume.hu.shape[0], plan),
        omit_empty_frames=True,
    )
    seg.ContentCreatorName = ""  # type 2 in the content identification macro; no person made it
    _link_copied_frames(seg, sources)
    return seg


def tilt_note(segmentation: Segmentation) -> str | None:
    """A warning when the stack is sheared (gantry tilt) by more than half a pixel end to end.

    The SEG is right (each frame on its source image), but readers that rebuild an orthogonal
    volume from the frames (dcmqi, ITK) stack them along the slice normal and so shift the
    segments sideways; the user should know before measuring there.
    """
    volume = segmentation.volume
    axes = volume.affine[:3, :3]
    normal = np.cross(axes[:, 0], axes[:, 1])
    normal /= np.linalg.norm(normal)
    step = axes[:, 2]
    shift = float(np.linalg.norm(step - (step @ normal) * normal)) * (volume.hu.shape[0] - 1)
    if shift <= 0.5 * min(volume.spacing[:2]):
        return None
    return (
        f"DICOM SEG of {volume.stack_label}: gantry-tilted stack ({volume.tilt_deg:.1f} deg); each frame "
        f"is placed on its source image, but readers that rebuild an orthogonal volume from SEG "
        f"frames shift the segments by up to {shift:.1f} mm"
    )


def _check_sources(segmentation: Segmentation, sources: list[Dataset]) -> None:
    """What highdicom would reject with a less helpful message, said in the user's terms."""
    first = sources[0]
    if "FrameOfReferenceUID" not in first:
        raise SegSkipped("the source CT has no FrameOfReferenceUID, so a SEG cannot be placed")
    rows, columns = segmentation.labels.shape[1:]
    if (int(first.Rows), int(first.Columns)) != (rows, columns):
        raise SegSkipped(
            f"the volume's slices ({rows}x{columns}) differ from the source images "
            f"({first.Rows}x{first.Columns})"
        )


def _label_array(labels: np.ndarray, refs: list[SegmentRef]) -> np.ndarray:
    """Label map with deposit labels renumbered to segment numbers (other labels dropped)."""
    size = max(int(labels.max()), *(r.deposit.label for r in refs)) + 1
    lookup = np.zeros(size, dtype=np.uint16 if len(refs) > 255 else np.uint8)
    for r in refs:
        lookup[r.deposit.label] = r.segment_number
    return lookup[np.clip(labels, 0, None)]


def _description(ref: SegmentRef) -> hd.seg.SegmentDescription:
    deposit = ref.deposit
    region = codes.region_code(deposit.region)
    tissue = codes.tissue_code(deposit.tissue)
    description = hd.seg.SegmentDescription(
        segment_number=ref.segment_number,
        segment_label=deposit.id,
        segmented_property_category=codes.MORPHOLOGICALLY_ABNORMAL_STRUCTURE,
        segmented_property_type=codes.PATHOLOGIC_CALCIFICATION,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algorithm_identification(),
        tracking_uid=ref.tracking_uid,
        tracking_id=deposit.id,
        anatomic_regions=[region] if region else None,
        primary_anatomic_structures=[tissue] if tissue else None,
    )
    description.RecommendedDisplayCIELabValue = DISPLAY_CIELAB
    modifier = codes.side_modifier(deposit.laterality)
    if region and modifier:  # highdicom has no argument for it; the macro allows it
        description.AnatomicRegionSequence[0].AnatomicRegionModifierSequence = [_coded(modifier)]
    return description


def algorithm_identification() -> hd.AlgorithmIdentificationSequence:
    return hd.AlgorithmIdentificationSequence(
        name=MANUFACTURER, family=codes.ALGORITHM_FAMILY, version=__version__, source=MANUFACTURER
    )


def _coded(code: Code) -> hd.sr.CodedConcept:
    return hd.sr.CodedConcept(code.value, code.scheme_designator, code.meaning)


def _plane_orientation(affine: np.ndarray) -> hd.PlaneOrientationSequence:
    """Row and column cosines of the volume (those of its source images)."""
    axes = affine[:3, :2] / np.linalg.norm(affine[:3, :2], axis=0)
    return hd.PlaneOrientationSequence(
        coordinate_system="PATIENT", image_orientation=[float(v) for v in axes.T.flatten()]
    )


def _pixel_measures(volume: CTVolume) -> hd.PixelMeasuresSequence:
    """In-plane spacing of the volume; slice thickness as the source images say."""
    column_step, row_step, slice_step = volume.spacing
    return hd.PixelMeasuresSequence(
        pixel_spacing=[row_step, column_step], slice_thickness=volume.slice_thickness or slice_step
    )


def _plane_positions(
    affine: np.ndarray, n_slices: int, plan: StackPlan | None
) -> list[hd.PlanePositionSequence]:
    """Position of each output slice: its source image's own, or its grid position."""
    positions = [affine[:3, :3] @ np.array([0.0, 0.0, k]) + affine[:3, 3] for k in range(n_slices)]
    if plan is not None:
        for k, (sources, weights) in enumerate(zip(plan.sources, plan.weights, strict=True)):
            position = plan.slices[sources[0]].frame.position
            if len(sources) == 1 and weights[0] == 1.0 and position is not None:
                positions[k] = np.asarray(position, dtype=float)
    return [
        hd.PlanePositionSequence(coordinate_system="PATIENT", image_position=[float(v) for v in p])
        for p in positions
    ]


def _link_copied_frames(seg: hd.seg.Segmentation, sources: list[Dataset]) -> None:
    """Per-frame source references for frames that sit on a source image.

    highdicom links frames to source images only when every frame has one; with interpolated
    slices in the volume it links none. The frames copied from a source image are linked
    here as highdicom would; an interpolated frame has no single source and stays unlinked.
    """
    frames = seg.PerFrameFunctionalGroupsSequence
    if all(_linked(item) for item in frames):
        return
    candidates = [(p, ds, n) for ds in sources for p, n in _frame_positions(ds)]
    if not candidates:
        return
    positions = np.array([c[0] for c in candidates])
    for item in frames:
        if _linked(item):
            continue
        where = np.asarray(item.PlanePositionSequence[0].ImagePositionPatient, dtype=float)
        distances = np.linalg.norm(positions - where, axis=1)
        best = int(np.argmin(distances))
        if distances[best] < _SAME_POSITION_MM:
            _, source, frame_number = candidates[best]
            item.DerivationImageSequence = [_derivation_item(source, frame_number)]


def _linked(frame: Dataset) -> bool:
    return len(frame.get("DerivationImageSequence") or []) > 0


def _frame_positions(ds: Dataset) -> list[tuple[np.ndarray, int | None]]:
    """(ImagePositionPatient, 1-based frame number or None for a single-frame image)."""
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if not per_frame:
        position = ds.get("ImagePositionPatient")
        return [(np.asarray(position, dtype=float), None)] if position else []
    shared = ds.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in ds else Dataset()
    found = []
    for number, item in enumerate(per_frame, start=1):
        plane = item.get("PlanePositionSequence") or shared.get("PlanePositionSequence")
        if plane:
            found.append((np.asarray(plane[0].ImagePositionPatient, dtype=float), number))
    return found


def _derivation_item(source: Dataset, frame_number: int | None) -> Dataset:
    reference = Dataset()
    reference.ReferencedSOPClassUID = source.SOPClassUID
    reference.ReferencedSOPInstanceUID = source.SOPInstanceUID
    if frame_number is not None:
        reference.ReferencedFrameNumber = frame_number
    reference.PurposeOfReferenceCodeSequence = [_coded(codes.SOURCE_IMAGE_FOR_PROCESSING)]
    reference.SpatialLocationsPreserved = "YES"
    item = Dataset()
    item.DerivationCodeSequence = [_coded(codes.SEGMENTATION_DERIVATION)]
    item.SourceImageSequence = [reference]
    return item


def _id_number(deposit: Deposit) -> tuple[int, str]:
    digits = deposit.id[1:]
    return (int(digits), deposit.id) if digits.isdigit() else (10**9, deposit.id)
