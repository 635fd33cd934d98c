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
from pydicom.valuerep import format_number_as_ds

from pipeline import __version__
from pipeline.dicom.header import OWN_MANUFACTURER
from pipeline.errors import plain_message
from pipeline.load.pixels import output_header
from pipeline.models import CTVolume, Deposit, Segmentation, StackPlan
from pipeline.report import dicom_codes as codes

MANUFACTURER = OWN_MANUFACTURER  # what discovery recognises as calcscan's own output
CONTENT_LABEL = "CALCIFICATIONS"  # CS, at most 16 characters
_SAME_POSITION_MM = 1e-3  # as highdicom matches frames to source images
_SAME_SLICE = 1e-3  # slice-index tolerance: a source this close to a slice lies on it
DISPLAY_CIELAB = [54537, 34370, 54622]  # sRGB (255, 200, 0), amber: calcium stands out on grey CT
SEG_SERIES_DESCRIPTION = "calcscan calcification segments"
SEG_DEVICE_SERIAL_NUMBER = "0"  # type 1 (Enhanced General Equipment); software: one for every copy


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
        return [output_header(p) for p in paths]
    except (OSError, pydicom.errors.InvalidDicomError) as exc:
        raise SegSkipped("source CT headers unreadable (" + plain_message(exc) + ")") from exc


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
    SOP instance UIDs.

    Only the slices holding a deposit voxel go into the label array, and only the source
    images those slices derive from are referenced (a SEG's frames reference the images they
    were derived from; the SEG omits empty frames anyway). highdicom is handed just the
    first of those images, for the patient, study and frame of reference it copies: matching
    frames to N source images costs it O(N^2) attribute reads (seconds for a 400-slice
    series, and a deposit may span nearly every slice). The references and the per-frame
    links to the source images are added here instead, as highdicom would write them."""
    _check_sources(segmentation, sources)
    volume = segmentation.volume
    slices = deposit_slices(segmentation.labels, refs)
    if not len(slices):
        raise SegSkipped("the label map holds no voxel of its deposits")
    positions = _plane_positions(volume.affine, slices, plan)
    sources = _sources_near(sources, volume.affine, slices)
    seg = hd.seg.Segmentation(
        source_images=sources[:1],
        pixel_array=_label_array(segmentation.labels, refs, slices),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[_description(r) for r in refs],
        series_instance_uid=uids[0],
        series_number=series_number,
        sop_instance_uid=uids[1],
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=MANUFACTURER,
        software_versions=__version__,
        device_serial_number=SEG_DEVICE_SERIAL_NUMBER,
        content_label=CONTENT_LABEL,
        content_description="calcscan: soft-tissue calcifications, one segment per deposit",
        series_description=SEG_SERIES_DESCRIPTION,
        plane_orientation=_plane_orientation(volume.affine),
        pixel_measures=_pixel_measures(volume),
        plane_positions=positions,
        omit_empty_frames=True,
    )
    seg.ContentCreatorName = ""  # type 2 in the content identification macro; no person made it
    _set_slice_spacing(seg, sources[0], volume.affine, volume.hu.shape[0], plan)
    _reference_sources(seg, sources)
    _link_copied_frames(seg, sources)
    return seg


def deposit_slices(labels: np.ndarray, refs: list[SegmentRef]) -> np.ndarray:
    """Ascending indices of the volume's slices that hold a voxel of any of the deposits,
    read inside each deposit's bounding box (never a pass over the whole label volume)."""
    found: set[int] = set()
    for ref in refs:
        box, k0 = _box(ref.deposit)
        in_slice = (labels[box] == ref.deposit.label).any(axis=(1, 2))
        found.update((k0 + np.flatnonzero(in_slice)).tolist())
    return np.array(sorted(found), dtype=np.intp)


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


def _label_array(labels: np.ndarray, refs: list[SegmentRef], slices: np.ndarray) -> np.ndarray:
    """(slices, rows, columns) map of segment numbers on the given slices (labels of other
    deposits dropped). Written voxel by voxel from each deposit's box, so memory grows with
    the deposits, not with the volume (no full-size int64 or clipped copy of `labels`)."""
    dtype = np.uint16 if len(refs) > 255 else np.uint8
    out = np.zeros((len(slices), *labels.shape[1:]), dtype=dtype)
    row_of = np.full(labels.shape[0], -1, dtype=np.intp)
    row_of[slices] = np.arange(len(slices))
    for ref in refs:
        box, _ = _box(ref.deposit)
        k, j, i = np.nonzero(labels[box] == ref.deposit.label)
        out[row_of[k + box[0].start], j + box[1].start, i + box[2].start] = ref.segment_number
    return out


def _box(deposit: Deposit) -> tuple[tuple[slice, slice, slice], int]:
    """The deposit's bounding box as (k, j, i) slices, and its first slice."""
    (i0, j0, k0), (i1, j1, k1) = deposit.bbox_ijk
    return (slice(k0, k1), slice(j0, j1), slice(i0, i1)), k0


def _sources_near(sources: list[Dataset], affine: np.ndarray, slices: np.ndarray) -> list[Dataset]:
    """The source images the given volume slices derive from: for each slice, the nearest
    source frame at or below it and at or above it along the slice axis (the image itself
    when the slice was copied, its two neighbours when it was interpolated). All sources
    when no source position can be read."""
    placed = [(index, k) for index, ds in enumerate(sources) for k in _slice_indices(ds, affine)]
    if not placed or not len(slices):
        return sources
    owner = np.array([p[0] for p in placed])
    at = np.array([p[1] for p in placed])
    keep: set[int] = set()
    for k in slices.tolist():
        below, above = at <= k + _SAME_SLICE, at >= k - _SAME_SLICE
        if below.any():
            keep.add(int(owner[below][np.argmax(at[below])]))
        if above.any():
            keep.add(int(owner[above][np.argmin(at[above])]))
    return [sources[i] for i in sorted(keep)]


def _slice_indices(ds: Dataset, affine: np.ndarray) -> list[float]:
    """Continuous slice index (k of the volume grid) of each frame of a source image."""
    inverse = np.linalg.inv(affine)
    return [float((inverse @ np.append(p, 1.0))[2]) for p, _ in _frame_positions(ds)]


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
    affine: np.ndarray, slices: np.ndarray, plan: StackPlan | None
) -> list[hd.PlanePositionSequence]:
    """PlanePositionSequence of each of the given output slices."""
    return [
        hd.PlanePositionSequence(
            coordinate_system="PATIENT", image_position=[float(v) for v in _position(affine, k, plan)]
        )
        for k in slices.tolist()
    ]


def _position(affine: np.ndarray, k: int, plan: StackPlan | None) -> np.ndarray:
    """Position of output slice k: its source image's own, or its grid position."""
    if plan is not None:
        sources, weights = plan.sources[k], plan.weights[k]
        copied = plan.slices[sources[0]].frame.position
        if len(sources) == 1 and weights[0] == 1.0 and copied is not None:
            return np.asarray(copied, dtype=float)
    return affine[:3, :3] @ np.array([0.0, 0.0, k]) + affine[:3, 3]


def _set_slice_spacing(
    seg: hd.seg.Segmentation, source: Dataset, affine: np.ndarray, n_slices: int, plan: StackPlan | None
) -> None:
    """SpacingBetweenSlices as highdicom writes it when given every slice of the volume: the
    source image's own, else the whole stack's when its slices are evenly spaced, else none.
    Readers rebuild the volume from the frames with it; derived from the slices with frames
    only, two frames 80 mm apart would claim an 80 mm spacing."""
    if _declared_spacing(source) is not None:
        return
    measures = seg.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
    spacing, _ = hd.spatial.get_volume_positions(
        image_positions=np.array([_position(affine, k, plan) for k in range(n_slices)]),
        image_orientation=seg.SharedFunctionalGroupsSequence[0]
        .PlaneOrientationSequence[0]
        .ImageOrientationPatient,
    )
    if spacing is not None:
        measures.SpacingBetweenSlices = format_number_as_ds(spacing)
    elif "SpacingBetweenSlices" in measures:
        del measures.SpacingBetweenSlices


def _declared_spacing(source: Dataset) -> object | None:
    """The source image's SpacingBetweenSlices (a multi-frame image's shared one), if any."""
    shared = source.get("SharedFunctionalGroupsSequence")
    if shared and "PixelMeasuresSequence" in shared[0]:
        return shared[0].PixelMeasuresSequence[0].get("SpacingBetweenSlices")
    return source.get("SpacingBetweenSlices")


def _reference_sources(seg: hd.seg.Segmentation, sources: list[Dataset]) -> None:
    """The Source Image Sequence and the Referenced Series Sequence (common instance
    reference) listing every source image, as highdicom writes them for its source images."""
    by_series: dict[str, list[Dataset]] = {}
    items = []
    for source in sources:
        item = Dataset()
        item.ReferencedSOPClassUID = source.SOPClassUID
        item.ReferencedSOPInstanceUID = source.SOPInstanceUID
        items.append(item)
        by_series.setdefault(str(source.SeriesInstanceUID), []).append(item)
    seg.SourceImageSequence = items
    series = []
    for uid, instances in by_series.items():
        item = Dataset()
        item.SeriesInstanceUID = uid
        item.ReferencedInstanceSequence = instances
        series.append(item)
    seg.ReferencedSeriesSequence = series


def _link_copied_frames(seg: hd.seg.Segmentation, sources: list[Dataset]) -> None:
    """Per-frame source references for frames that sit on a source image.

    highdicom links frames to source images only when every frame has one among those it
    was given; build_seg gives it one, and with interpolated slices in the volume it would
    link none. The frames copied from a source image are linked here as highdicom would;
    an interpolated frame has no single source and stays unlinked.
    """
    frames = [item for item in seg.PerFrameFunctionalGroupsSequence if not _linked(item)]
    candidates = [(p, ds, n) for ds in sources for p, n in _frame_positions(ds)]
    if not frames or not candidates:
        return
    positions = np.array([c[0] for c in candidates])
    derivation = [_coded(codes.SEGMENTATION_DERIVATION)]
    purpose = [_coded(codes.SOURCE_IMAGE_FOR_PROCESSING)]
    for item in frames:
        where = np.asarray(item.PlanePositionSequence[0].ImagePositionPatient, dtype=float)
        distances = np.linalg.norm(positions - where, axis=1)
        best = int(np.argmin(distances))
        if distances[best] < _SAME_POSITION_MM:
            _, source, frame_number = candidates[best]
            item.DerivationImageSequence = [_derivation_item(source, frame_number, derivation, purpose)]


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


def _derivation_item(
    source: Dataset, frame_number: int | None, derivation: list[Dataset], purpose: list[Dataset]
) -> Dataset:
    """One frame's Derivation Image Sequence item; the code items are shared between frames
    (as highdicom shares its own), since building them per frame costs more than the rest."""
    reference = Dataset()
    reference.ReferencedSOPClassUID = source.SOPClassUID
    reference.ReferencedSOPInstanceUID = source.SOPInstanceUID
    if frame_number is not None:
        reference.ReferencedFrameNumber = frame_number
    reference.PurposeOfReferenceCodeSequence = purpose
    reference.SpatialLocationsPreserved = "YES"
    item = Dataset()
    item.DerivationCodeSequence = derivation
    item.SourceImageSequence = [reference]
    return item


def _id_number(deposit: Deposit) -> tuple[int, str]:
    digits = deposit.id[1:]
    return (int(digits), deposit.id) if digits.isdigit() else (10**9, deposit.id)
