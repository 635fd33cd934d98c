"""report.json against its JSON Schema, run.json/index.html per run, --no-dicom and --deidentify.

Every report.json of the sample data and of a run over every phantom scenario must validate
against the schema shipped in the package; with --deidentify, no identifier of the input may
appear in any byte written under OUT.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pydicom
import pytest
from jsonschema import Draft202012Validator

from pipeline.phantom.scenarios import SCENARIOS
from pipeline.report.deidentify import Deidentifier, scrub
from pipeline.report.schema import report_schema, validate_report
from pipeline.vocab import PATTERN_TYPES
from tests.conftest import SAMPLE, calcscan

PHANTOM_SEED = 11  # not one of the seeds the segmentation was tuned on
IDENTITY = {
    "PatientName": "Doe^Jane^Quinn",
    "PatientID": "MRN-93817",
    "PatientBirthDate": "19610417",
    "AccessionNumber": "ACC55123",
    "OtherPatientIDs": "ALT-44120",
}


@pytest.fixture(scope="module")
def phantom_run(tmp_path_factory) -> Path:
    """Every phantom scenario at the sample size, one seed, through one `calcscan run`."""
    root = tmp_path_factory.mktemp("phantoms")
    for name in SCENARIOS:
        done = calcscan("phantom", name, "--seed", PHANTOM_SEED, "--size", "sample", "-o", root / "in" / name)
        assert done.returncode == 0, done.stderr[-2000:]
    done = calcscan("run", root / "in", "-o", root / "out")
    assert done.returncode == 0, done.stderr[-2000:]
    return root / "out"


def _reports(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((out / "studies").glob("*/report.json"))]


def _check_contract(report: dict) -> None:
    assert validate_report(report) == [], report["study"]["study_instance_uid"]
    assert not any("schema violation" in w for w in report["warnings"])
    analysed = any(s["status"] == "analyzed" for s in report["series"])
    assert sorted(p["type"] for p in report["patterns"]) == (sorted(PATTERN_TYPES) if analysed else [])
    scores = [p["score"] for p in report["patterns"]]
    assert scores == sorted(scores, reverse=True)
    ids = [d["id"] for d in report["deposits"]]
    assert len(set(ids)) == len(ids)
    evidence = {e for p in report["patterns"] for e in p["evidence"]}
    assert evidence <= set(ids)
    if not ids:
        assert {p["verdict"] for p in report["patterns"]} <= {"unlikely"}
    for path in [report["outputs"].get("report_html"), *report["outputs"].get("images", [])]:
        assert path is None or not Path(path).is_absolute()


def test_the_shipped_schema_is_a_valid_draft_2020_12_schema():
    Draft202012Validator.check_schema(report_schema())


def test_the_schema_rejects_what_the_contract_forbids(sample_run):
    out, _, _ = sample_run
    report = next(r for r in _reports(out) if r["deposits"])
    assert validate_report(report) == []
    broken = json.loads(json.dumps(report))
    broken["deposits"].append({**report["deposits"][0], "region": "wrist", "laterality": "sinister"})
    del broken["summary"]["n_deposits"]
    problems = validate_report(broken)
    assert any("wrist" in p for p in problems)
    assert any("sinister" in p for p in problems)
    assert any("n_deposits" in p for p in problems)


def test_every_sample_report_follows_the_schema_and_the_contract(sample_run):
    out, done, _ = sample_run
    assert done.returncode == 0, done.stderr[-2000:]
    reports = _reports(out)
    assert len(reports) == len(list(SAMPLE.glob("*/truth.json")))
    for report in reports:
        _check_contract(report)


def test_every_phantom_report_follows_the_schema_and_the_contract(phantom_run):
    reports = _reports(phantom_run)
    assert len(reports) == len(SCENARIOS)
    for report in reports:
        _check_contract(report)
    found = {r["study"]["description"].split()[2]: r["summary"]["n_deposits"] for r in reports}
    assert found["healthy"] == 0 and found["tumoral"] > 0


def test_run_json_and_index_list_every_study_with_its_outputs(phantom_run):
    run = json.loads((phantom_run / "run.json").read_text())
    index = (phantom_run / "index.html").read_text()
    for entry in run["studies"]:
        assert entry["status"] == "analyzed"
        assert (phantom_run / entry["report"]).is_file()
        assert (phantom_run / entry["report_html"]).is_file()
        assert entry["report_html"] in index
        assert len(entry["top_pattern"]) > 0 and entry["top_verdict"] in {
            "consistent",
            "possible",
            "unlikely",
        }


def test_no_dicom_leaves_the_dicom_folder_out(tmp_path: Path):
    out = tmp_path / "out"
    done = calcscan("run", SAMPLE / "tumoral", "-o", out, "--no-dicom")
    assert done.returncode == 0, done.stderr[-2000:]
    (report_path,) = (out / "studies").glob("*/report.json")
    report = json.loads(report_path.read_text())
    assert report["deposits"]
    assert not (report_path.parent / "dicom").exists()
    assert "dicom" not in report["outputs"]
    assert validate_report(report) == []


def _identified_copy(source: Path, root: Path) -> Path:
    """A copy of a sample study carrying a realistic identity, in a folder named after the
    patient (as PACS exports often are), so that a leak through paths is caught too."""
    target = root / "Doe_Jane_MRN-93817" / "ACC55123"
    shutil.copytree(source, target)
    for path in target.rglob("*.dcm"):
        ds = pydicom.dcmread(path)
        for keyword, value in IDENTITY.items():
            setattr(ds, keyword, value)
        ds.save_as(path, enforce_file_format=True)
    return root / "Doe_Jane_MRN-93817"


def _leaks(out: Path) -> list[str]:
    needles = {*IDENTITY.values(), "Doe Jane Quinn", "Doe^Jane"}
    leaks = []
    for path in out.rglob("*"):
        text = str(path.relative_to(out))
        data = path.read_bytes() if path.is_file() else b""
        for needle in needles:
            if needle.lower() in text.lower() or needle.lower().encode() in data.lower():
                leaks.append(f"{needle} in {path.relative_to(out)}")
    return leaks


def test_deidentify_leaves_no_identifier_of_the_input_anywhere(tmp_path: Path, monkeypatch):
    source = _identified_copy(SAMPLE / "dystrophic", tmp_path / "in")
    plain = calcscan("run", source, "-o", tmp_path / "plain")
    assert plain.returncode == 0, plain.stderr[-2000:]
    assert _leaks(tmp_path / "plain"), "the identity should be in a run without --deidentify"

    monkeypatch.setenv("CALCSCAN_PSEUDONYM_KEY", "test-key")
    out = tmp_path / "deid"
    done = calcscan("run", source, "-o", out, "--deidentify")
    assert done.returncode == 0, done.stderr[-2000:]
    assert _leaks(out) == []
    (report_path,) = (out / "studies").glob("*/report.json")
    report = json.loads(report_path.read_text())
    expected = Deidentifier(b"test-key", key_is_random=False).pseudonym(IDENTITY["PatientID"])
    assert report["study"]["patient_id"] == expected
    assert report["study"]["accession_number"] is None
    assert report["deposits"], "the de-identified run still reports the deposits"
    for path in (report_path.parent / "dicom").glob("*.dcm"):
        ds = pydicom.dcmread(path)
        assert ds.PatientID == expected and str(ds.PatientName) == expected
        assert not ds.get("PatientBirthDate") and not ds.get("AccessionNumber")
        assert ds.PatientIdentityRemoved == "YES"


def test_pseudonyms_are_keyed_and_stable():
    a, b = Deidentifier(b"k1", False), Deidentifier(b"k2", False)
    assert a.pseudonym("123") == a.pseudonym("123") != a.pseudonym("124")
    assert a.pseudonym("123") != b.pseudonym("123")


def test_scrub_replaces_identifiers_in_text_but_keeps_uids():
    value = {
        "path": "/data/Doe^Jane/ct",
        "uid": "1.2.93817.5",
        "list": ["MRN-93817 failed", 3],
        "id": "93817",
    }
    cleaned = scrub(value, ["Doe^Jane", "MRN-93817", "93817"])
    assert cleaned == {
        "path": "/data/[removed]/ct",
        "uid": "1.2.93817.5",
        "list": ["[removed] failed", 3],
        "id": "[removed]",  # a bare number is not a UID: an all-digit ID is still removed
    }
