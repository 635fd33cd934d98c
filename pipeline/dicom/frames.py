"""Per-frame geometry and rescale of an image, checked, from whichever module holds them.

A classic CT file keeps its plane position, orientation, pixel measures and rescale at the
top level; an enhanced or legacy-converted CT keeps them in functional group macros, per
frame or shared (PS3.3 C.7.6.16), and so do its kVp and anatomy. Reading both into the same
`FrameHeader` lets one planner sort, split and check every kind of CT stack; every value is
checked here (pipeline.dicom.checks) so that nothing malformed reaches the analysis.
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from pipeline.dicom.checks import check_geometry, rescale_problem, stored_range
from pipeline.dicom.values import integer, number, present, raw_text, strings, text, vector
from pipeline.models import FrameHeader

CT_SOP_PREFIX = "1.2.840.10008.5.1.4.1.1.2"  # CT, enhanced CT, legacy converted enhanced CT


def frame_headers(ds: Dataset) -> tuple[FrameHeader, ...]:
    """Per-frame geometry and rescale, from functional groups when the file has them."""
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if not per_frame:
        return (_classic_frame(ds),)
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else Dataset()
    return tuple(_functional_frame(ds, i, item, shared) for i, item in enumerate(per_frame))


def _classic_frame(ds: Dataset) -> FrameHeader:
    return _checked_frame(
        ds,
        index=0,
        geometry=(ds, ds, ds),
        transform=ds,
        temporal_index=integer(ds, "TemporalPositionIdentifier"),
        stack_id=None,
        frame_type=strings(ds, "ImageType"),
    )


def _checked_frame(
    ds: Dataset,
    *,
    index: int,
    geometry: tuple[Dataset | None, Dataset | None, Dataset | None],
    transform: Dataset | None,
    temporal_index: int | None,
    stack_id: str | None,
    frame_type: tuple[str, ...],
) -> FrameHeader:
    """One frame's values, checked: `problem` set when its geometry or rescale is unusable.

    `geometry` holds the datasets with the position, the orientation and the pixel
    measures (the file itself for a classic image, functional group items otherwise)."""
    position_ds, orientation_ds, measures_ds = geometry
    problems = [
        _unparsed(position_ds, "ImagePositionPatient", 3),
        _unparsed(orientation_ds, "ImageOrientationPatient", 6),
        _unparsed(measures_ds, "PixelSpacing", 2),
    ]
    checked = check_geometry(
        vector(position_ds, "ImagePositionPatient", 3),
        vector(orientation_ds, "ImageOrientationPatient", 6),
        vector(measures_ds, "PixelSpacing", 2),
        number(measures_ds, "SliceThickness"),
    )
    slope, intercept, rescale_note = _rescale_values(transform)
    is_ct = str(ds.get("SOPClassUID", "")).startswith(CT_SOP_PREFIX)
    bits = stored_range(integer(ds, "BitsStored"), integer(ds, "PixelRepresentation"))
    problem = next((p for p in [*problems, checked.problem] if p), None)
    bad_rescale = rescale_note or rescale_problem(slope, intercept, bits, hounsfield=is_ct)
    repairs = checked.repairs
    if not is_ct and bad_rescale is None and slope is not None and slope < 0:
        inverted = f"RescaleSlope {slope:g} is negative: the modality LUT inverts the image (as given)"
        repairs += (inverted,)
    spacing = checked.pixel_spacing
    return FrameHeader(
        index=index,
        position=checked.position,  # type: ignore[arg-type]
        orientation=checked.orientation,  # type: ignore[arg-type]
        pixel_spacing=spacing if spacing and min(spacing) > 0 else None,  # type: ignore[arg-type]
        slice_thickness=checked.slice_thickness,
        rescale_slope=slope if bad_rescale is None and slope is not None else 1.0,
        rescale_intercept=intercept if bad_rescale is None and intercept is not None else 0.0,
        rescale_type=text(transform, "RescaleType") if transform is not None else None,
        temporal_index=temporal_index,
        stack_id=stack_id,
        frame_type=frame_type,
        geometry_problem=problem,
        rescale_problem=bad_rescale,
        repairs=repairs,
    )


def _unparsed(ds: Dataset | None, keyword: str, n: int) -> str | None:
    """A value that is present but is not `n` numbers: a problem, never taken as absent."""
    if not present(ds, keyword) or vector(ds, keyword, n) is not None:
        return None
    return f"{keyword} '{raw_text(ds, keyword)}' is not {n} numbers"


def _rescale_values(transform: Dataset | None) -> tuple[float | None, float | None, str | None]:
    """(slope, intercept, problem): present values that do not parse are problems."""
    values: list[float | None] = []
    for keyword in ("RescaleSlope", "RescaleIntercept"):
        value = number(transform, keyword)
        if value is None and present(transform, keyword):
            return None, None, f"{keyword} '{raw_text(transform, keyword)}' is not a number"
        values.append(value)
    return values[0], values[1], None


def _functional_frame(root: Dataset, index: int, item: Dataset, shared: Dataset) -> FrameHeader:
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
    return _checked_frame(
        root,
        index=index,
        geometry=(position, orientation, measures),
        transform=transform,
        temporal_index=integer(content, "TemporalPositionIndex") if content else None,
        stack_id=text(content, "StackID") if content else None,
        frame_type=strings(frame_type, "FrameType") if frame_type else (),
    )


def _functional_item(ds: Dataset, sequence: str) -> Dataset | None:
    """The first item of a functional group macro, shared first, else the first frame's:
    enhanced CT keeps kVp and anatomy there rather than at the top level (PS3.3 C.7.6.16)."""
    for groups in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        items = ds.get(groups) or []
        if items and items[0].get(sequence):
            return items[0].get(sequence)[0]
    return None


def functional_number(ds: Dataset, sequence: str, keyword: str) -> float | None:
    return number(_functional_item(ds, sequence), keyword)


def functional_body_part(ds: Dataset) -> str | None:
    """The Frame Anatomy macro's coded region, as a BodyPartExamined-style word ("CHEST")."""
    anatomy = _functional_item(ds, "FrameAnatomySequence")
    region = anatomy.get("AnatomicRegionSequence") if anatomy is not None else None
    meaning = text(region[0], "CodeMeaning") if region else None
    return meaning.upper() if meaning else None
