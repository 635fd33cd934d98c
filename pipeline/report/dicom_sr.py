"""Comprehensive 3D SR (TID 1500 Measurement Report) of a study's deposits.

One measurement group per deposit, so that a PACS, a viewer or dcmqi's tid1500reader gets
the same numbers as report.json without knowing calcscan: a deposit with a SEG segment is
a TID 1411 volumetric ROI group pointing at that segment and at its source CT series; a
deposit whose SEG could not be written keeps its measurements in a TID 1501 group (no
ROI), rather than vanishing from the structured report.

A radiograph (CR/DX) deposit has no SEG: it is a TID 1410 planar ROI group whose region is
a CIRCLE (SCOORD) on its source image, centred on the deposit with its equivalent diameter,
so that the circle's area is the deposit's area. A film whose header could not be read
keeps its deposits' measurements in TID 1501 groups, like a CT volume without a SEG.
"""

from __future__ import annotations

from collections.abc import Sequence

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.coding import Code
from pydicom.uid import generate_uid

from pipeline import __version__
from pipeline.models import Deposit, RadiographDeposit
from pipeline.report import dicom_codes as codes
from pipeline.report.dicom_seg import MANUFACTURER, SegmentRef

# The observer is the software, the same device in every report it writes.
DEVICE_OBSERVER_UID = generate_uid(prefix="2.25.", entropy_srcs=["calcscan", "device observer"])
SR_SERIES_NUMBER = 999
SR_SERIES_DESCRIPTION = "calcscan calcification measurements"

Group = (
    hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations
    | hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations
    | hd.sr.MeasurementsAndQualitativeEvaluations
)


def build_sr(
    deposits: list[Deposit],
    segments: dict[str, tuple[Dataset, SegmentRef]],
    tracking_uids: dict[str, str],
    evidence: list[Dataset],
    voxel_mm3: dict[str, float],
    radiograph_deposits: Sequence[tuple[RadiographDeposit, str, Dataset | None]] = (),
    procedures: list[Code] | None = None,
    uids: tuple[str, str] | None = None,
) -> hd.sr.Comprehensive3DSR:
    """`segments`: deposit id -> (its SEG, its segment); `evidence`: the SEGs and the source
    CT and radiograph headers, whose patient and study attributes the SR inherits;
    `voxel_mm3`: deposit id -> voxel volume of its CT; `radiograph_deposits`: each with its
    tracking UID and its film's header (None when unreadable); `procedures`: CID 100 codes
    (CT when not given); `uids`: the SR's series and SOP instance UIDs (new ones if None)."""
    groups: list[Group] = [
        _group(d, segments.get(d.id), tracking_uids[d.id], voxel_mm3[d.id]) for d in deposits
    ]
    groups += [_radiograph_group(d, uid, header) for d, uid, header in radiograph_deposits]
    procedures = procedures or [codes.CT_PROCEDURE]
    report = hd.sr.MeasurementReport(
        observation_context=_observation_context(),
        procedure_reported=procedures[0] if len(procedures) == 1 else procedures,
        imaging_measurements=groups,
    )
    return hd.sr.Comprehensive3DSR(
        evidence=evidence,
        content=report[0],
        series_instance_uid=uids[0] if uids else hd.UID(),
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=uids[1] if uids else hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=MANUFACTURER,
        software_versions=__version__,
        series_description=SR_SERIES_DESCRIPTION,
        is_complete=True,
    )


def _observation_context() -> hd.sr.ObservationContext:
    device = hd.sr.DeviceObserverIdentifyingAttributes(
        uid=DEVICE_OBSERVER_UID, name=MANUFACTURER, manufacturer_name=MANUFACTURER, model_name=MANUFACTURER
    )
    observer = hd.sr.ObserverContext(
        observer_type=codes.DEVICE_OBSERVER, observer_identifying_attributes=device
    )
    return hd.sr.ObservationContext(observer_device_context=observer)


def _group(
    deposit: Deposit, segment: tuple[Dataset, SegmentRef] | None, tracking_uid: str, voxel_mm3: float
) -> Group:
    common = {
        "tracking_identifier": hd.sr.TrackingIdentifier(uid=tracking_uid, identifier=deposit.id),
        "finding_type": codes.PATHOLOGIC_CALCIFICATION,
        "algorithm_id": hd.sr.AlgorithmIdentification(name=MANUFACTURER, version=__version__),
        "finding_sites": finding_sites(deposit) or None,
        "measurements": measurements(deposit, voxel_mm3),
    }
    if segment is None:
        return hd.sr.MeasurementsAndQualitativeEvaluations(**common)
    seg, ref = segment
    referenced = hd.sr.ReferencedSegment(
        sop_class_uid=seg.SOPClassUID,
        sop_instance_uid=seg.SOPInstanceUID,
        segment_number=ref.segment_number,
        source_series=hd.sr.SourceSeriesForSegmentation(deposit.series_uid),
    )
    return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(referenced_segment=referenced, **common)


def _radiograph_group(deposit: RadiographDeposit, tracking_uid: str, header: Dataset | None) -> Group:
    common = {
        "tracking_identifier": hd.sr.TrackingIdentifier(uid=tracking_uid, identifier=deposit.id),
        "finding_type": codes.PATHOLOGIC_CALCIFICATION,
        "algorithm_id": hd.sr.AlgorithmIdentification(name=MANUFACTURER, version=__version__),
        "finding_sites": finding_sites(deposit) or None,
        "measurements": radiograph_measurements(deposit) or None,
    }
    if header is None:
        return hd.sr.MeasurementsAndQualitativeEvaluations(**common)
    return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        referenced_region=image_region(deposit, header), **common
    )


def image_region(deposit: RadiographDeposit, header: Dataset) -> hd.sr.ImageRegion:
    """A CIRCLE on the film: its centre and a point on it, (column, row) in DICOM image
    coordinates, where a pixel's centre is 0.5 from its top-left corner; `centroid_px` counts
    from the first pixel's centre, hence + 0.5."""
    row, column = deposit.centroid_px
    centre = (column + 0.5, row + 0.5)
    radius = max(deposit.equivalent_diameter_px / 2.0, 0.5)
    points = np.array([centre, (centre[0] + radius, centre[1])], dtype=float)
    return hd.sr.ImageRegion(
        graphic_type=hd.sr.GraphicTypeValues.CIRCLE,
        graphic_data=points,
        source_image=hd.sr.SourceImageForRegion.from_source_image(header),
    )


def radiograph_measurements(deposit: RadiographDeposit) -> list[hd.sr.Measurement]:
    """Area and diameter of the equivalent circle, in mm, when the film's pixel spacing is
    known (a size in pixels has no standard unit and stays in report.json). The diameter is
    the referenced circle's, so both describe the region the group points at."""
    if deposit.area_mm2 is None:
        return []
    found = [
        hd.sr.Measurement(name=codes.AREA, value=round(deposit.area_mm2, 2), unit=codes.SQUARE_MILLIMETER)
    ]
    if deposit.equivalent_diameter_mm is not None:
        found.append(
            hd.sr.Measurement(
                name=codes.DIAMETER, value=round(deposit.equivalent_diameter_mm, 2), unit=codes.MILLIMETER
            )
        )
    return found


def finding_sites(deposit: Deposit | RadiographDeposit) -> list[hd.sr.FindingSite]:
    """The region with its side (midline as a topographical modifier: CID 244 has none);
    nothing when the region is unknown."""
    region = codes.region_code(deposit.region)
    if region is None:
        return []
    median = codes.MEDIAN if deposit.laterality == "midline" else None
    return [
        hd.sr.FindingSite(
            anatomic_location=region,
            laterality=codes.laterality_code(deposit.laterality),
            topographical_modifier=median,
        )
    ]


def measurements(deposit: Deposit, voxel_mm3: float) -> list[hd.sr.Measurement]:
    """Volume, mean and peak HU; the Agatston-method calcium score; calcium mass if calibrated.

    "Volume" is report.json's volume_mm3, corrected for partial volume at the deposit's edge;
    "Volume from Voxel Summation" is the volume of the SEG segment's voxels, so that a reader
    who measures the segment finds our number too. Values are rounded as report.json rounds
    them, so that both outputs say the same number.
    """
    found = [
        hd.sr.Measurement(name=codes.VOLUME, value=round(deposit.volume_mm3, 2), unit=codes.CUBIC_MILLIMETER),
        hd.sr.Measurement(
            name=codes.VOLUME_FROM_VOXEL_SUMMATION,
            value=round(deposit.n_voxels * voxel_mm3, 2),
            unit=codes.CUBIC_MILLIMETER,
        ),
        _hu(round(deposit.mean_hu, 1), codes.MEAN),
        _hu(round(deposit.max_hu, 1), codes.MAXIMUM),
        hd.sr.Measurement(
            name=codes.CALCIUM_SCORE,
            value=round(deposit.agatston, 2),
            unit=codes.NO_UNITS,
            method=codes.AGATSTON_SCORING_METHOD,
        ),
    ]
    if deposit.mass_mg is not None:
        found.append(
            hd.sr.Measurement(name=codes.CALCIUM_MASS, value=round(deposit.mass_mg, 3), unit=codes.MILLIGRAM)
        )
    return found


def _hu(value: float, derivation: Code) -> hd.sr.Measurement:
    return hd.sr.Measurement(
        name=codes.ATTENUATION_COEFFICIENT,
        value=value,
        unit=codes.HOUNSFIELD_UNIT,
        derivation=derivation,
    )
