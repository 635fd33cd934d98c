"""DICOM SEG and TID 1500 SR of the findings, read back by independent tools.

The sample run's objects are checked with dicom3tools' dciodvfy (IOD conformance), dcmqi's
segimage2itkimage (masks and their geometry) and tid1500reader (measurements), against
report.json. Geometries the sample data does not have (a slice gap filled by interpolation,
gantry tilt, an enhanced multi-frame source) are written from real loaded series with a
hand-placed label map, and de-identification is checked on a sample study's bytes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.sr.codedict import codes as dcm_codes

from pipeline import __version__
from pipeline.config import load_config
from pipeline.dicom.write import StudyMeta, uid_from
from pipeline.discover import discover
from pipeline.load import load_stack
from pipeline.models import CTVolume, Segmentation, SeriesOutcome, StudyResult
from pipeline.report import dicom_codes
from pipeline.report.dicom_out import write_dicom_outputs
from pipeline.segment.grid import WorkGrid
from pipeline.vocab import REGIONS
from tests.conftest import SAMPLE, SeriesWriter, axial_affine, ct_deposits, make_volume, require_tool
from tests.deposits import deposit_from_voxels

PSEUDONYM = "ANON-TEST"


# --- helpers ------------------------------------------------------------------------------------


def _tool(name: str) -> str:
    """dcmqi installs its commands beside the interpreter, which need not be on PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else require_tool(name)


def _studies_with_dicom(out: Path) -> list[tuple[Path, dict]]:
    found = []
    for report_path in sorted((out / "studies").glob("*/report.json")):
        report = json.loads(report_path.read_text())
        if report["deposits"]:
            found.append((report_path.parent, report))
    with_truth = [p for p in SAMPLE.glob("*/truth.json") if json.loads(p.read_text())["deposits"]]
    assert len(found) == len(with_truth), "every sample study with deposits has DICOM outputs to check"
    return found


def _entries(report: dict, kind: str) -> list[dict]:
    return [e for e in report["outputs"]["dicom"] if e["kind"] == kind]


def _dciodvfy_errors(path: Path) -> list[str]:
    done = subprocess.run([require_tool("dciodvfy"), str(path)], capture_output=True, text=True, timeout=60)
    lines = (done.stdout + done.stderr).splitlines()
    for line in lines:
        if line.startswith("Warning"):
            print(f"dciodvfy {path.name}: {line}")
    return [line for line in lines if line.startswith("Error")]


@cache
def _seg_masks(seg_path: Path) -> dict[str, dict]:
    """segimage2itkimage's reading of a SEG: per segment label, its metadata, voxel count,
    voxel volume and LPS centroid from the ITK image geometry."""
    target = seg_path.parent.parent / f"dcmqi-{seg_path.stem}"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    subprocess.run(
        [_tool("segimage2itkimage"), "--inputDICOM", str(seg_path), "--outputDirectory", str(target)],
        capture_output=True,
        check=True,
        timeout=120,
    )
    meta = json.loads((target / "meta.json").read_text())
    return {attrs[0]["SegmentLabel"]: _mask_summary(target, attrs[0]) for attrs in meta["segmentAttributes"]}


def _mask_summary(folder: Path, attributes: dict) -> dict:
    image = sitk.ReadImage(str(folder / f"{attributes['labelID']}.nrrd"))
    ijk = np.argwhere(sitk.GetArrayFromImage(image) > 0)[:, ::-1].astype(float)
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    to_lps = direction @ np.diag(image.GetSpacing())
    centroid = to_lps @ ijk.mean(axis=0) + np.asarray(image.GetOrigin())
    return {
        "meta": attributes,
        "n_voxels": len(ijk),
        "voxel_mm3": float(abs(np.linalg.det(to_lps))),
        "centroid_lps_mm": centroid,
    }


def _sr_groups(sr_path: Path) -> dict[str, dict]:
    """tid1500reader's reading of an SR: measurement groups by tracking identifier."""
    metadata = sr_path.parent.parent / f"dcmqi-{sr_path.stem}.json"
    subprocess.run(
        [_tool("tid1500reader"), "--inputDICOM", str(sr_path), "--outputMetadata", str(metadata)],
        capture_output=True,
        check=True,
        timeout=120,
    )
    return {g["TrackingIdentifier"]: g for g in json.loads(metadata.read_text())["Measurements"]}


def _value(group: dict, code: str, derivation: str | None = None) -> float:
    (item,) = [
        m
        for m in group["measurementItems"]
        if m["quantity"]["CodeValue"] == code
        and (derivation is None or m.get("derivationModifier", {}).get("CodeValue") == derivation)
    ]
    return float(item["value"])


def _ct_spacing(report: dict) -> dict[str, list[float]]:
    """Voxel spacing (x, y, z) of each CT series, as report.json gives its geometry."""
    return {s["series_instance_uid"]: s["geometry"]["spacing_mm"] for s in report["series"] if s["geometry"]}


def _code(item) -> tuple[str, str]:
    return (item.CodeValue, item.CodingSchemeDesignator)


def _sample_identifiers() -> set[str]:
    """Patient name, ID, birth date and accession number of every sample study, as written."""
    found = set()
    for path in SAMPLE.glob("*/CT/CT0001.dcm"):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        found |= {str(ds.PatientName), str(ds.PatientID), str(ds.PatientBirthDate), str(ds.AccessionNumber)}
    return {v for v in found if v}


# --- the sample run's objects -------------------------------------------------------------------


def test_every_study_with_deposits_has_a_seg_and_an_sr_linked_from_report_json(sample_run):
    out, done, _ = sample_run
    assert done.returncode == 0, done.stderr[-3000:]
    studies = _studies_with_dicom(out)
    assert len(studies) == 3  # tumoral, metastatic, dystrophic; the healthy control has none
    identifiers = _sample_identifiers()
    for folder, report in studies:
        (sr,) = _entries(report, "SR")
        segs = {e["sop_instance_uid"]: e for e in _entries(report, "SEG")}
        assert segs
        for entry in report["outputs"]["dicom"]:
            assert (folder / entry["path"]).is_file()
            assert not any(i.lower() in entry["path"].lower() for i in identifiers)
        ct_series = {s["series_instance_uid"] for s in report["series"] if s["modality"] == "CT"}
        film_series = {s["series_instance_uid"] for s in report["series"] if s["modality"] in ("CR", "DX")}
        for deposit in ct_deposits(report):
            segment = deposit["dicom_segment"]
            assert segment["sop_instance_uid"] in segs
            assert (
                segs[segment["sop_instance_uid"]]["referenced_series_instance_uid"]
                == deposit["series_instance_uid"]
            )
        assert set(sr["referenced_series_instance_uids"]) <= ct_series | film_series


def test_dciodvfy_finds_no_error_in_any_seg_or_sr(sample_run):
    out, _, _ = sample_run
    paths = [folder / e["path"] for folder, r in _studies_with_dicom(out) for e in r["outputs"]["dicom"]]
    assert len(paths) == 6
    for path in paths:
        assert _dciodvfy_errors(path) == [], path


def test_seg_codes_and_references_read_with_pydicom(sample_run):
    out, _, _ = sample_run
    for folder, report in _studies_with_dicom(out):
        for entry in _entries(report, "SEG"):
            seg = pydicom.dcmread(folder / entry["path"])
            assert seg.Modality == "SEG" and seg.SegmentationType == "BINARY"
            assert seg.StudyInstanceUID == report["study"]["study_instance_uid"]
            assert (
                seg.ReferencedSeriesSequence[0].SeriesInstanceUID == entry["referenced_series_instance_uid"]
            )
            for segment in seg.SegmentSequence:
                assert _code(segment.SegmentedPropertyCategoryCodeSequence[0]) == ("49755003", "SCT")
                assert _code(segment.SegmentedPropertyTypeCodeSequence[0]) == ("18115005", "SCT")
                assert segment.SegmentAlgorithmType == "AUTOMATIC"
                algorithm = segment.SegmentationAlgorithmIdentificationSequence[0]
                assert (algorithm.AlgorithmName, algorithm.AlgorithmVersion) == ("calcscan", __version__)
            frames = seg.PerFrameFunctionalGroupsSequence
            deposits = [
                d
                for d in ct_deposits(report)
                if d["dicom_segment"]["sop_instance_uid"] == entry["sop_instance_uid"]
            ]
            slices_with_deposit = sum(d["bbox_ijk"][1][2] - d["bbox_ijk"][0][2] for d in deposits)
            assert len(frames) == seg.NumberOfFrames <= slices_with_deposit  # empty frames omitted
            assert all(len(f.DerivationImageSequence) == 1 for f in frames)  # each frame on its source image


def test_dcmqi_reads_every_segment_where_report_json_puts_the_deposit(sample_run):
    out, _, _ = sample_run
    for folder, report in _studies_with_dicom(out):
        spacing = _ct_spacing(report)
        masks = {}
        for entry in _entries(report, "SEG"):
            masks.update(_seg_masks(folder / entry["path"]))
        assert set(masks) == {d["id"] for d in ct_deposits(report)}
        for deposit in ct_deposits(report):
            mask = masks[deposit["id"]]
            assert mask["n_voxels"] == deposit["n_voxels"]
            ct_voxel_mm3 = float(np.prod(spacing[deposit["series_instance_uid"]]))
            assert mask["n_voxels"] * mask["voxel_mm3"] == pytest.approx(
                deposit["n_voxels"] * ct_voxel_mm3, rel=1e-4
            )
            np.testing.assert_allclose(mask["centroid_lps_mm"], deposit["centroid_lps_mm"], atol=0.5)
            meta = mask["meta"]
            assert meta["SegmentedPropertyTypeCodeSequence"]["CodeValue"] == "18115005"
            assert meta["SegmentedPropertyCategoryCodeSequence"]["CodeValue"] == "49755003"
            assert meta["TrackingIdentifier"] == deposit["id"]
            region = dicom_codes.region_code(deposit["region"])
            assert meta.get("AnatomicRegionSequence", {}).get("CodeValue") == (
                region.value if region else None
            )
            side = dicom_codes.side_modifier(deposit["laterality"])
            modifier = meta.get("AnatomicRegionModifierSequence", {}).get("CodeValue")
            assert modifier == (side.value if side and region else None)


def test_tid1500reader_reads_the_report_json_measurements_and_sites(sample_run):
    out, _, _ = sample_run
    for folder, report in _studies_with_dicom(out):
        (sr_entry,) = _entries(report, "SR")
        groups = _sr_groups(folder / sr_entry["path"])
        assert set(groups) == {d["id"] for d in report["deposits"]}  # CT and radiograph deposits
        spacing = _ct_spacing(report)
        for deposit in ct_deposits(report):
            group = groups[deposit["id"]]
            assert group["Finding"]["CodeValue"] == "18115005"
            assert group["segmentationSOPInstanceUID"] == deposit["dicom_segment"]["sop_instance_uid"]
            assert group["ReferencedSegment"] == deposit["dicom_segment"]["segment_number"]
            assert group["SourceSeriesForImageSegmentation"] == deposit["series_instance_uid"]
            assert _value(group, "118565006") == deposit["volume_mm3"]
            assert _value(group, "112031", "373098007") == deposit["mean_hu"]
            assert _value(group, "112031", "56851009") == deposit["max_hu"]
            assert _value(group, "112058") == deposit["agatston"]
            voxel_sum = deposit["n_voxels"] * float(np.prod(spacing[deposit["series_instance_uid"]]))
            assert _value(group, "YEKZ") == pytest.approx(voxel_sum, abs=0.01)
            region = dicom_codes.region_code(deposit["region"])
            assert group.get("FindingSite", {}).get("CodeValue") == (region.value if region else None)
            side = dicom_codes.laterality_code(deposit["laterality"])
            assert group.get("Laterality", {}).get("CodeValue") == (side.value if side and region else None)


def test_sr_is_a_tid1500_report_by_the_calcscan_device_on_the_source_study(sample_run):
    out, _, _ = sample_run
    for folder, report in _studies_with_dicom(out):
        (entry,) = _entries(report, "SR")
        sr = pydicom.dcmread(folder / entry["path"])
        assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
        assert sr.StudyInstanceUID == report["study"]["study_instance_uid"]
        assert sr.ContentTemplateSequence[0].TemplateIdentifier == "1500"
        items = {i.ConceptNameCodeSequence[0].CodeMeaning: i for i in sr.ContentSequence}
        assert items["Observer Type"].ConceptCodeSequence[0].CodeValue == "121007"  # Device
        assert items["Device Observer Name"].TextValue == "calcscan"
        procedures = [
            _code(i.ConceptCodeSequence[0])
            for i in sr.ContentSequence
            if i.ConceptNameCodeSequence[0].CodeMeaning == "Procedure reported"
        ]
        assert procedures[0] == ("25045-6", "LN")  # CT; then XR (43468-8) when a film was analysed
        evidence = {
            s.SeriesInstanceUID
            for s in sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence
        }
        assert set(entry["referenced_series_instance_uids"]) <= evidence  # the source CT (and films)
        assert {e["series_instance_uid"] for e in _entries(report, "SEG")} <= evidence


# --- geometry the sample data does not have ----------------------------------------------------


def _hand_placed(root: Path, paths: list[Path] | None = None) -> StudyResult:
    """The study under `root` loaded for real, with two hand-placed deposits on its grid."""
    config = load_config(None, {})
    (study,) = discover([root], config).studies
    stacks = [st for st in study.stacks if st.kind == "ct_volume"]
    segmentations = [_segmentation(load_stack(st, config), n) for n, st in enumerate(stacks)]
    deposits = sorted((d for s in segmentations for d in s.deposits), key=lambda d: d.label)
    for n, deposit in enumerate(deposits, start=1):
        deposit.id = f"D{n}"
    outcomes = [SeriesOutcome(st, 1, None, "analyzed", None) for st in stacks]
    return StudyResult(study, outcomes, deposits, segmentations)


def _segmentation(volume: CTVolume, offset: int) -> Segmentation:
    labels = np.zeros(volume.hu.shape, np.int32)
    labels[3:8, 20:26, 30:36] = 1 + 2 * offset  # spans slices 4 and 5 (removed in the gap case)
    labels[9:11, 5:8, 5:9] = 2 + 2 * offset
    deposits = [
        deposit_from_voxels(
            label,
            np.argwhere(labels == label),
            volume,
            region="pelvis" if label % 2 else "unknown",
            laterality="midline" if label % 2 else "unknown",
            tissue="muscle",
        )
        for label in (1 + 2 * offset, 2 + 2 * offset)
    ]
    grid = WorkGrid.for_volume(volume.hu.shape, volume.spacing[::-1])
    return Segmentation(volume, deposits, labels, {}, grid, 130.0, 10.0, False)


def _frame_centroids(seg_path: Path) -> dict[int, np.ndarray]:
    """Segment centroids in LPS from each frame's own position (what a DICOM viewer does),
    independent of any volume reconstruction."""
    seg = pydicom.dcmread(seg_path)
    shared = seg.SharedFunctionalGroupsSequence[0]
    cosines = np.asarray(shared.PlaneOrientationSequence[0].ImageOrientationPatient, float)
    row_step, column_step = (float(v) for v in shared.PixelMeasuresSequence[0].PixelSpacing)
    frames = seg.pixel_array.reshape(int(seg.NumberOfFrames), seg.Rows, seg.Columns)
    points: dict[int, list[np.ndarray]] = {}
    for frame, item in zip(frames, seg.PerFrameFunctionalGroupsSequence, strict=True):
        number = int(item.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        origin = np.asarray(item.PlanePositionSequence[0].ImagePositionPatient, float)
        rc = np.argwhere(frame > 0)
        lps = (
            origin
            + np.outer(rc[:, 1] * column_step, cosines[:3])
            + np.outer(rc[:, 0] * row_step, cosines[3:])
        )
        points.setdefault(number, []).append(lps)
    return {n: np.concatenate(p).mean(axis=0) for n, p in points.items()}


def _check_outputs(result: StudyResult, tmp_path: Path) -> tuple[Path, list[str]]:
    written = write_dicom_outputs(tmp_path, result, None)
    (seg_entry,) = [e for e in written.entries if e["kind"] == "SEG"]
    for entry in written.entries:
        assert _dciodvfy_errors(tmp_path / entry["path"]) == []
    seg_path = tmp_path / seg_entry["path"]
    centroids = _frame_centroids(seg_path)
    for deposit in result.deposits:
        number = written.segments[deposit.id]["segment_number"]
        np.testing.assert_allclose(centroids[number], deposit.centroid_lps_mm, atol=1e-3)
    return seg_path, written.warnings


def test_interpolated_slices_get_frames_on_the_volume_grid(series_writer: SeriesWriter, tmp_path: Path):
    paths = series_writer.write(make_volume(), axial_affine())
    for k in (4, 5):
        paths[k].unlink()
    result = _hand_placed(series_writer.root)
    assert result.segmentations[0].volume.interpolated_slices == (4, 5)
    seg_path, warnings = _check_outputs(result, tmp_path)
    assert warnings == []
    volume_z = {round(50.0 + 2.5 * k, 3): k for k in range(12)}  # axial_affine: slice k at z = 50 + 2.5 k
    for item in pydicom.dcmread(seg_path).PerFrameFunctionalGroupsSequence:
        k = volume_z[round(float(item.PlanePositionSequence[0].ImagePositionPatient[2]), 3)]
        linked = len(item.DerivationImageSequence) == 1
        assert linked == (k not in (4, 5)), k  # copied frames name their source, filled ones none
    masks = _seg_masks(seg_path)  # dcmqi rebuilds the regular grid, gap included
    for deposit in result.deposits:
        assert masks[deposit.id]["n_voxels"] == deposit.n_voxels
        np.testing.assert_allclose(masks[deposit.id]["centroid_lps_mm"], deposit.centroid_lps_mm, atol=0.01)


def test_gantry_tilt_keeps_each_frame_on_its_source_image_and_says_so(
    series_writer: SeriesWriter, tmp_path: Path
):
    affine = axial_affine()
    affine[1, 2] = 2.5 * np.tan(np.radians(15))  # slices step 15 deg off their normal
    paths = series_writer.write(make_volume(), affine)
    result = _hand_placed(series_writer.root)
    seg_path, warnings = _check_outputs(result, tmp_path)
    (note,) = warnings
    assert "gantry-tilted" in note and "15.0 deg" in note
    source_positions = {
        tuple(np.round(np.asarray(pydicom.dcmread(p).ImagePositionPatient, float), 3)) for p in paths
    }
    for item in pydicom.dcmread(seg_path).PerFrameFunctionalGroupsSequence:
        position = np.asarray(item.PlanePositionSequence[0].ImagePositionPatient, float)
        assert tuple(np.round(position, 3)) in source_positions
        assert "DerivationImageSequence" in item


def test_enhanced_multiframe_source_is_referenced_frame_by_frame(series_writer: SeriesWriter, tmp_path: Path):
    from highdicom.legacy import LegacyConvertedEnhancedCTImage

    classic = [
        pydicom.dcmread(p) for p in series_writer.write(make_volume(), axial_affine(), folder="classic")
    ]
    enhanced = LegacyConvertedEnhancedCTImage(
        classic[::-1],
        series_instance_uid=uid_from("enhanced"),
        series_number=7,
        sop_instance_uid=uid_from("enhanced", "sop"),
        instance_number=1,
    )
    (tmp_path / "in").mkdir()
    enhanced.save_as(tmp_path / "in" / "ct.dcm")
    result = _hand_placed(tmp_path / "in")
    seg_path, _ = _check_outputs(result, tmp_path / "out")
    seg = pydicom.dcmread(seg_path)
    (source,) = seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence
    assert source.ReferencedSOPInstanceUID == enhanced.SOPInstanceUID
    for item in seg.PerFrameFunctionalGroupsSequence:
        derivation = item.DerivationImageSequence[0].SourceImageSequence[0]
        assert derivation.ReferencedSOPInstanceUID == enhanced.SOPInstanceUID
        assert 1 <= int(derivation.ReferencedFrameNumber) <= 12


def test_a_volume_without_a_seg_still_reports_its_deposits_in_the_sr(tmp_path: Path):
    writer = SeriesWriter(tmp_path / "input")
    study = StudyMeta(uid_from("two-series"), patient_id="PAT-TWO")
    writer.write(make_volume(), axial_affine(), tag="kept", study=study)
    lost = writer.write(make_volume(seed=1), axial_affine(origin=(0.0, 0.0, 200.0)), tag="lost", study=study)
    result = _hand_placed(writer.root)
    lost_uid = pydicom.dcmread(lost[0]).SeriesInstanceUID
    for path in lost:  # gone after analysis: its SEG cannot reference them
        path.unlink()
    written = write_dicom_outputs(tmp_path / "out", result, None)
    lost_ids = {d.id for d in result.deposits if d.series_uid == lost_uid}
    (warning,) = written.warnings
    assert "not written" in warning and all(i in warning for i in lost_ids)
    assert [e["kind"] for e in written.entries] == ["SEG", "SR"]
    assert set(written.segments) == {d.id for d in result.deposits} - lost_ids
    sr_path = tmp_path / "out" / "dicom" / "sr.dcm"
    assert _dciodvfy_errors(sr_path) == []
    groups = _sr_groups(sr_path)
    assert set(groups) == {d.id for d in result.deposits}
    for deposit_id in lost_ids:
        assert "ReferencedSegment" not in groups[deposit_id]
        assert _value(groups[deposit_id], "118565006") > 0


# --- identity --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tumoral_result() -> StudyResult:
    from pipeline.analyse import analyse_study

    config = load_config(None, {})
    (study,) = discover([SAMPLE / "tumoral"], config).studies
    return analyse_study(study, config)


def test_deidentified_objects_carry_the_pseudonym_and_no_input_identifier(tumoral_result, tmp_path: Path):
    source = pydicom.dcmread(SAMPLE / "tumoral" / "CT" / "CT0001.dcm", stop_before_pixels=True)
    name = str(source.PatientName)
    identifiers = {
        name,
        name.replace("^", " "),
        source.PatientID,
        source.PatientBirthDate,
        source.AccessionNumber,
    }
    assert all(identifiers)
    written = write_dicom_outputs(tmp_path, tumoral_result, PSEUDONYM)
    assert {e["kind"] for e in written.entries} == {"SEG", "SR"}
    for entry in written.entries:
        path = tmp_path / entry["path"]
        data = path.read_bytes().lower()
        assert [i for i in identifiers if i.lower().encode() in data] == [], path.name
        ds = pydicom.dcmread(path)
        assert str(ds.PatientName) == ds.PatientID == PSEUDONYM
        assert ds.PatientBirthDate == "" and ds.AccessionNumber == "" and ds.ReferringPhysicianName == ""
        assert "OtherPatientIDs" not in ds and "OtherPatientIDsSequence" not in ds
        assert ds.PatientIdentityRemoved == "YES" and ds.DeidentificationMethod
        assert ds.StudyInstanceUID == source.StudyInstanceUID  # still next to its source
        assert _dciodvfy_errors(path) == []


def test_every_code_is_the_standard_one():
    """Each code equals the entry of the DICOM context group it is documented under."""
    in_group = [
        (dicom_codes.REGIONS.values(), dcm_codes.cid4031),
        (dicom_codes.LATERALITY.values(), dcm_codes.cid244),
        ([dicom_codes.MEDIAN, *dicom_codes.LATERALITY.values()], dcm_codes.cid2),
        ([dicom_codes.MORPHOLOGICALLY_ABNORMAL_STRUCTURE], dcm_codes.cid7150),
        ([dicom_codes.PATHOLOGIC_CALCIFICATION], dcm_codes.cid3802),
        ([dicom_codes.VOLUME, dicom_codes.VOLUME_FROM_VOXEL_SUMMATION], dcm_codes.cid7469),
        ([dicom_codes.ATTENUATION_COEFFICIENT], dcm_codes.cid7469),
        ([dicom_codes.MEAN, dicom_codes.MAXIMUM], dcm_codes.cid7464),
        (
            [dicom_codes.CUBIC_MILLIMETER, dicom_codes.HOUNSFIELD_UNIT, dicom_codes.NO_UNITS],
            dcm_codes.cid7181,
        ),
        ([dicom_codes.AGATSTON_SCORING_METHOD], dcm_codes.cid6140),
        ([dicom_codes.CT_PROCEDURE, dicom_codes.XR_PROCEDURE], dcm_codes.cid100),
        ([dicom_codes.AREA, dicom_codes.DIAMETER], dcm_codes.cid7469),
        ([dicom_codes.DIAMETER], dcm_codes.cid7470),
        ([dicom_codes.SQUARE_MILLIMETER, dicom_codes.MILLIMETER], dcm_codes.cid7181),
        ([dicom_codes.DEVICE_OBSERVER], dcm_codes.cid270),
        ([dicom_codes.ALGORITHM_FAMILY], dcm_codes.cid7162),
        ([dicom_codes.SEGMENTATION_DERIVATION], dcm_codes.cid7203),
        ([dicom_codes.SOURCE_IMAGE_FOR_PROCESSING], dcm_codes.cid7202),
        ([c for k, c in dicom_codes.TISSUES.items() if k != "muscle"], dcm_codes.cid7151),
    ]
    for group_codes, group in in_group:
        standard = {(getattr(group, k).value, getattr(group, k).scheme_designator) for k in group.dir()}
        for code in group_codes:
            assert (code.value, code.scheme_designator) in standard, code
    for code in (dicom_codes.CALCIUM_SCORE, dicom_codes.CALCIUM_MASS, dicom_codes.TISSUES["muscle"]):
        scheme = getattr(dcm_codes, code.scheme_designator)
        assert any(getattr(scheme, k).value == code.value for k in scheme.dir()), code
    assert set(dicom_codes.REGIONS) | {"unknown"} == set(REGIONS)
