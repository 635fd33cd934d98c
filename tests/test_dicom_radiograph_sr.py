"""Radiograph (CR/DX) deposits in the TID 1500 SR: TID 1410 planar ROI groups on the film.

Built from the dystrophic sample study's real DX hand film with hand-placed deposits at the
phantom's truth positions, so that the SR does not wait for (or depend on) the radiograph
detector; checked with dciodvfy, dcmqi's tid1500reader and pydicom.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from pipeline.config import load_config
from pipeline.discover import discover
from pipeline.load import load_stack
from pipeline.models import RadiographDeposit, RadiographFindings, StudyResult
from pipeline.report.dicom_out import write_dicom_outputs
from tests.conftest import SAMPLE
from tests.test_dicom_outputs import _code, _dciodvfy_errors, _hand_placed, _sr_groups

STUDY = SAMPLE / "dystrophic"
RADIUS_PX = 3


def _findings(config=None) -> RadiographFindings:
    """The study's DX loaded for real, with two disc deposits at the truth's first two
    visible positions."""
    config = config or load_config(None, {})
    (study,) = discover([STUDY], config).studies
    (stack,) = [st for st in study.stacks if st.kind == "radiograph"]
    image = load_stack(stack, config)
    truth = json.loads((STUDY / "truth.json").read_text())
    visible = [
        d["radiographs"][0]["centroid_px"] for d in truth["deposits"] if d["radiographs"][0]["visible"]
    ]
    labels = np.zeros(image.pixels.shape, np.int32)
    rows, columns = np.indices(labels.shape)
    deposits = []
    for label, (row, column) in enumerate(visible[:2], start=1):
        disc = (rows - round(row)) ** 2 + (columns - round(column)) ** 2 <= RADIUS_PX**2
        labels[disc] = label
        rc = np.argwhere(disc)
        area_px = int(disc.sum())
        diameter_px = 2.0 * np.sqrt(area_px / np.pi)
        row_mm, column_mm = image.pixel_spacing_mm
        deposits.append(
            RadiographDeposit(
                label=label,
                series_uid=image.series_uid,
                stack_label=image.stack_label,
                sop_instance_uid=image.sop_instance_uid,
                centroid_px=(float(rc[:, 0].mean()), float(rc[:, 1].mean())),
                bbox_px=(tuple(rc.min(axis=0)), tuple(rc.max(axis=0) + 1)),
                area_px=area_px,
                area_mm2=area_px * row_mm * column_mm,
                equivalent_diameter_px=diameter_px,
                equivalent_diameter_mm=diameter_px * np.sqrt(row_mm * column_mm),
                contrast=10.0,
                id=f"R{label}",
                region="hand",
                laterality="right",
            )
        )
    return RadiographFindings(image=image, deposits=deposits, labels=labels, noise_sd=10.0)


@pytest.fixture(scope="module")
def radiograph_only(tmp_path_factory) -> tuple[Path, StudyResult, dict]:
    config = load_config(None, {})
    (study,) = discover([STUDY], config).studies
    findings = _findings(config)
    result = StudyResult(
        study=study,
        series=[],
        deposits=[],
        radiograph_findings=[findings],
    )
    out = tmp_path_factory.mktemp("radiograph-sr")
    written = write_dicom_outputs(out, result, None)
    (entry,) = written.entries
    assert entry["kind"] == "SR" and written.warnings == [] and written.segments == {}
    return out / entry["path"], result, entry


def _planar_groups(sr: pydicom.Dataset) -> dict[str, pydicom.Dataset]:
    """TID 1410 groups by tracking identifier, read with pydicom alone."""
    (measurements,) = [i for i in sr.ContentSequence if i.ConceptNameCodeSequence[0].CodeValue == "126010"]
    groups = {}
    for group in measurements.ContentSequence:
        items = group.ContentSequence
        (tracking,) = [i for i in items if i.ConceptNameCodeSequence[0].CodeValue == "112039"]
        groups[tracking.TextValue] = group
    return groups


def _item(group: pydicom.Dataset, code: str) -> pydicom.Dataset:
    (item,) = [i for i in group.ContentSequence if i.ConceptNameCodeSequence[0].CodeValue == code]
    return item


def test_radiograph_only_sr_passes_dciodvfy(radiograph_only):
    sr_path, _, _ = radiograph_only
    assert _dciodvfy_errors(sr_path) == []


def test_radiograph_sr_references_the_film_and_reports_radiography(radiograph_only):
    sr_path, result, entry = radiograph_only
    image = result.radiographs[0]
    sr = pydicom.dcmread(sr_path)
    assert sr.StudyInstanceUID == result.study.uid
    assert entry["referenced_series_instance_uids"] == [image.series_uid]
    (evidence,) = sr.CurrentRequestedProcedureEvidenceSequence
    (series,) = evidence.ReferencedSeriesSequence
    assert series.SeriesInstanceUID == image.series_uid
    (instance,) = series.ReferencedSOPSequence
    assert instance.ReferencedSOPInstanceUID == image.sop_instance_uid
    source = pydicom.dcmread(image.path, stop_before_pixels=True)
    assert instance.ReferencedSOPClassUID == source.SOPClassUID
    procedures = [
        _code(i.ConceptCodeSequence[0])
        for i in sr.ContentSequence
        if i.ConceptNameCodeSequence[0].CodeMeaning == "Procedure reported"
    ]
    assert procedures == [("43468-8", "LN")]  # XR unspecified body region


def test_each_film_deposit_is_a_circle_on_the_film_with_its_area_and_site(radiograph_only):
    sr_path, result, _ = radiograph_only
    image = result.radiographs[0]
    groups = _planar_groups(pydicom.dcmread(sr_path))
    deposits = {d.id: d for d in result.radiograph_deposits}
    assert set(groups) == set(deposits) == {"R1", "R2"}
    for deposit_id, group in groups.items():
        deposit = deposits[deposit_id]
        assert group.ContentTemplateSequence[0].TemplateIdentifier == "1410"
        assert _code(_item(group, "121071").ConceptCodeSequence[0]) == ("18115005", "SCT")  # finding
        site = _item(group, "363698007")
        assert _code(site.ConceptCodeSequence[0]) == ("85562004", "SCT")  # hand
        (side,) = site.ContentSequence
        assert _code(side.ConceptCodeSequence[0]) == ("24028007", "SCT")  # right
        region = _item(group, "111030")  # Image Region
        assert region.ValueType == "SCOORD" and region.GraphicType == "CIRCLE"
        centre, edge = np.asarray(region.GraphicData, float).reshape(2, 2)
        row, column = deposit.centroid_px
        np.testing.assert_allclose(centre, (column + 0.5, row + 0.5), atol=1e-4)
        assert np.linalg.norm(edge - centre) == pytest.approx(deposit.equivalent_diameter_px / 2, abs=1e-4)
        (selected,) = region.ContentSequence
        (reference,) = selected.ReferencedSOPSequence
        assert reference.ReferencedSOPInstanceUID == image.sop_instance_uid
        area = _item(group, "42798000")
        assert float(area.MeasuredValueSequence[0].NumericValue) == pytest.approx(deposit.area_mm2, abs=0.01)
        assert area.MeasuredValueSequence[0].MeasurementUnitsCodeSequence[0].CodeValue == "mm2"
        diameter = _item(group, "81827009")
        assert float(diameter.MeasuredValueSequence[0].NumericValue) == pytest.approx(
            deposit.equivalent_diameter_mm, abs=0.01
        )


def test_dcmqi_reads_the_film_groups(radiograph_only):
    """tid1500reader gives a planar group's finding, site and measurements; its JSON has no
    field for the SCOORD region, which the pydicom test above checks."""
    sr_path, result, _ = radiograph_only
    groups = _sr_groups(sr_path)
    assert set(groups) == {"R1", "R2"}
    for deposit in result.radiograph_deposits:
        group = groups[deposit.id]
        assert group["Finding"]["CodeValue"] == "18115005"
        assert (group["FindingSite"]["CodeValue"], group["Laterality"]["CodeValue"]) == (
            "85562004",
            "24028007",
        )
        (area,) = [m for m in group["measurementItems"] if m["quantity"]["CodeValue"] == "42798000"]
        assert float(area["value"]) == pytest.approx(deposit.area_mm2, abs=0.01)
        assert area["units"]["CodeValue"] == "mm2"


def test_ct_and_film_deposits_share_one_sr(tmp_path: Path):
    result = _hand_placed(STUDY)  # the study's CT with two hand-placed deposits D1, D2
    findings = _findings()
    result.radiograph_findings = [findings]
    written = write_dicom_outputs(tmp_path, result, None)
    assert written.warnings == []
    assert [e["kind"] for e in written.entries] == ["SEG", "SR"]
    (sr_entry,) = [e for e in written.entries if e["kind"] == "SR"]
    ct_series = result.deposits[0].series_uid
    assert sr_entry["referenced_series_instance_uids"] == [ct_series, findings.image.series_uid]
    sr_path = tmp_path / sr_entry["path"]
    for entry in written.entries:
        assert _dciodvfy_errors(tmp_path / entry["path"]) == []
    sr = pydicom.dcmread(sr_path)
    procedures = [
        _code(i.ConceptCodeSequence[0])
        for i in sr.ContentSequence
        if i.ConceptNameCodeSequence[0].CodeMeaning == "Procedure reported"
    ]
    assert procedures == [("25045-6", "LN"), ("43468-8", "LN")]
    evidence = {
        s.SeriesInstanceUID: {i.ReferencedSOPInstanceUID for i in s.ReferencedSOPSequence}
        for s in sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence
    }
    assert findings.image.sop_instance_uid in evidence[findings.image.series_uid]
    assert ct_series in evidence
    groups = _sr_groups(sr_path)
    assert set(groups) == {"D1", "D2", "R1", "R2"}
    assert all("ReferencedSegment" in groups[i] for i in ("D1", "D2"))
    uids = [g["TrackingUniqueIdentifier"] for g in groups.values() if "TrackingUniqueIdentifier" in g]
    assert len(set(uids)) == len(uids)
