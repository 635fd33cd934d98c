"""`calcscan run` end to end: the report contract on sample_data, exit codes, bad studies.

Runs the installed command in a subprocess, as a user would, on the repository's sample
studies (synthetic, with truth.json beside each CT) and on folders made here.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from pipeline.vocab import LATERALITIES, PATTERN_TYPES, REGIONS, TISSUES
from tests.conftest import (
    REPO,
    SAMPLE,
    SeriesWriter,
    axial_affine,
    calcscan,
    checksums,
    ct_deposits,
    make_volume,
)

VERDICTS = {"consistent", "possible", "unlikely"}
MATCH_MARGIN_MM = 5.0  # a detected centroid this close to a truth deposit's box is that deposit


def _reports(out: Path) -> dict[str, dict]:
    """report.json of each sample study, by sample folder name (matched on the study UID)."""
    by_uid = {}
    for path in (out / "studies").glob("*/report.json"):
        report = json.loads(path.read_text())
        by_uid[report["study"]["study_instance_uid"]] = report
    names = {}
    for truth in SAMPLE.glob("*/truth.json"):
        uid = json.loads(truth.read_text())["study_instance_uid"]
        names[truth.parent.name] = by_uid[uid]
    return names


def _truth(name: str) -> dict:
    return json.loads((SAMPLE / name / "truth.json").read_text())


def _matches(deposit: dict, truth_deposit: dict) -> bool:
    lo, hi = np.asarray(truth_deposit["bbox_lps_mm"])
    p = np.asarray(deposit["centroid_lps_mm"])
    return bool(np.all(p >= lo - MATCH_MARGIN_MM) and np.all(p <= hi + MATCH_MARGIN_MM))


def test_sample_run_exits_0_and_leaves_its_inputs_untouched(sample_run):
    out, done, before = sample_run
    assert done.returncode == 0, done.stderr[-3000:]
    assert checksums(SAMPLE) == before
    assert f"{out}/studies" in done.stderr  # says where the reports are
    assert not list(out.rglob("*.partial*")) and not list(out.rglob(".*tmp*"))


def test_run_json_and_summary_describe_every_study(sample_run):
    out, _, _ = sample_run
    run = json.loads((out / "run.json").read_text())
    assert run["exit_code"] == 0
    assert run["tool"]["name"] == "calcscan"
    assert run["config"]["segmentation"]["threshold_hu"] == 130.0
    assert len(run["studies"]) == 4
    assert {s["status"] for s in run["studies"]} == {"analyzed"}
    with open(out / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4
    for row, study in zip(rows, run["studies"], strict=True):
        assert row["study_key"] == study["key"]
        report = json.loads((out / study["report"]).read_text())
        assert int(row["n_deposits"]) == len(report["deposits"]) == study["n_deposits"]


def test_reports_follow_the_contract(sample_run):
    out, _, _ = sample_run
    for name, report in _reports(out).items():
        assert report["schema_version"].startswith("1.")
        assert "LPS" in report["coordinate_frame"]
        assert [p["type"] for p in report["patterns"]] != []
        assert sorted(p["type"] for p in report["patterns"]) == sorted(PATTERN_TYPES)
        scores = [p["score"] for p in report["patterns"]]
        assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
        assert {p["verdict"] for p in report["patterns"]} <= VERDICTS
        ids = [d["id"] for d in report["deposits"]]
        assert len(ids) == len(set(ids)), name
        for d in report["deposits"]:
            assert d["region"] in REGIONS and d["tissue"] in TISSUES and d["laterality"] in LATERALITIES
            assert d["equivalent_diameter_mm"] > 0
        for d in ct_deposits(report):
            assert len(d["centroid_lps_mm"]) == 3
            assert d["volume_mm3"] > 0 and d["max_hu"] >= 130 and d["agatston"] >= 0 and d["lobes"] >= 1
        for d in report["deposits"][len(ct_deposits(report)) :]:
            assert d["modality"] == "DX" and len(d["centroid_px"]) == 2 and d["area_mm2"] > 0
        for p in report["patterns"]:
            assert set(p["evidence"]) <= set(ids)
        assert report["summary"]["n_deposits"] == len(ids)
        assert report["summary"]["total_volume_mm3"] == pytest.approx(
            sum(d["volume_mm3"] for d in ct_deposits(report)), abs=0.05
        )
        series = {s["kind"]: s for s in report["series"]}
        assert series["ct_volume"]["status"] == "analyzed"


def test_the_control_has_no_deposits_and_no_pattern(sample_run):
    out, _, _ = sample_run
    report = _reports(out)["healthy"]
    assert report["deposits"] == [], report["deposits"]
    assert {p["verdict"] for p in report["patterns"]} == {"unlikely"}
    assert all(p["score"] == 0 for p in report["patterns"])


def test_every_reported_deposit_is_a_real_one(sample_run):
    """No false positives on the scenario studies, and the large deposits are all found."""
    out, _, _ = sample_run
    reports = _reports(out)
    for name in ("tumoral", "metastatic", "dystrophic"):
        truth = _truth(name)["deposits"]
        found = ct_deposits(reports[name])
        assert found, name
        for d in found:
            assert any(_matches(d, t) for t in truth), (name, d["id"], d["centroid_lps_mm"])
        for t in truth:
            if t["volume_mm3"] >= 1000:
                assert any(_matches(d, t) for d in found), (name, t["id"], t["site"])


def test_a_bad_config_is_a_usage_error_and_writes_nothing(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("segmentation:\n  threshold_hu: 130\n  thresold: 3\n")
    out = tmp_path / "out"
    done = calcscan("run", SAMPLE / "healthy", "-o", out, "--config", bad)
    assert done.returncode == 2
    assert "thresold" in done.stderr
    assert not out.exists()
    done = calcscan("run", SAMPLE / "healthy", "-o", out, "--set", "segmentation.threshold_hu=abc")
    assert done.returncode == 2 and "threshold_hu" in done.stderr and not out.exists()


def test_a_study_that_cannot_be_read_fails_alone(tmp_path: Path):
    """Every slice of one study is corrupt: that study fails with the reason, the other is analysed."""
    from pydicom.uid import RLELossless

    inputs = tmp_path / "in"
    writer = SeriesWriter(inputs)
    good = writer.write(make_volume(shape=(8, 40, 48)), axial_affine(), folder="good", tag="good")
    broken = writer.write(
        make_volume(shape=(8, 40, 48), seed=1),
        axial_affine(),
        folder="broken",
        tag="broken",
        transfer_syntax=RLELossless,
    )
    for path in broken:
        raw = bytearray(path.read_bytes())
        start = raw.rfind(b"\xfe\xff\x00\xe0") + 8
        raw[start + 4 : start + 64] = b"\xff" * 60  # segment offsets past the data
        path.write_bytes(bytes(raw))
    out = tmp_path / "out"
    before = checksums(inputs)
    done = calcscan("run", inputs, "-o", out)
    assert done.returncode == 1, done.stderr[-2000:]
    assert checksums(inputs) == before
    run = json.loads((out / "run.json").read_text())
    status = {s["status"]: s for s in run["studies"]}
    assert set(status) == {"analyzed", "failed"}
    assert "decode" in status["failed"]["reason"]
    assert (out / status["analyzed"]["report"]).is_file()
    # the failed study still reports what happened to each of its series
    failed_report = json.loads((out / "studies" / status["failed"]["key"] / "report.json").read_text())
    assert [s["status"] for s in failed_report["series"]] == ["failed"]
    assert failed_report["deposits"] == [] and failed_report["patterns"] == []
    good_report = json.loads((out / status["analyzed"]["report"]).read_text())
    assert good_report["study"]["study_instance_uid"] == pydicom.dcmread(good[0]).StudyInstanceUID


def test_output_paths_carry_no_patient_identity(sample_run):
    out, _, _ = sample_run
    names = " ".join(str(p.relative_to(out)) for p in out.rglob("*"))
    assert "PHANTOM" not in names.upper()


def test_rerun_into_the_same_folder_replaces_the_reports(sample_run, tmp_path: Path):
    out, _, _ = sample_run
    again = tmp_path / "again"
    shutil.copytree(out, again)
    done = calcscan("run", SAMPLE / "healthy", "-o", again)
    assert done.returncode == 0, done.stderr[-2000:]
    run = json.loads((again / "run.json").read_text())
    assert len(run["studies"]) == 1


def test_each_scenario_ranks_its_own_pattern_first(sample_run):
    out, _, _ = sample_run
    for name, report in _reports(out).items():
        intended = _truth(name)["pattern"]
        if intended is None:
            continue
        top = report["patterns"][0]
        assert top["type"] == intended and top["verdict"] != "unlikely", (name, report["patterns"])
        assert top["evidence"] and top["reasons"]


def test_deposit_sites_match_the_truth(sample_run):
    """Region and side of every detected deposit against the truth deposit it lies in."""
    out, _, _ = sample_run
    rows = []
    for name, report in _reports(out).items():
        for d in ct_deposits(report):
            t = next((t for t in _truth(name)["deposits"] if _matches(d, t)), None)
            if t is not None:
                rows.append(
                    (
                        d["region"] == t["region"],
                        d["laterality"] == t["laterality"],
                        d["tissue"] == t["tissue"],
                    )
                )
                assert d["site_evidence"], d
    assert len(rows) >= 10
    region, side, tissue = (sum(r[i] for r in rows) / len(rows) for i in range(3))
    assert region >= 0.9 and side >= 0.95 and tissue >= 0.85, (region, side, tissue)


def test_a_broken_rules_file_or_clinical_file_is_a_usage_error(tmp_path: Path):
    rules = tmp_path / "rules.yaml"
    shipped = (REPO / "configs" / "site_patterns.yaml").read_text()
    rules.write_text(
        shipped.replace("tissue: [skin_subcutaneous, muscle", "tissue: [skin_subcutaneous, muscel", 1)
    )
    out = tmp_path / "out"
    done = calcscan("run", SAMPLE / "healthy", "-o", out, "--set", f"patterns.rules_file={rules}")
    assert done.returncode == 2 and "muscel" in done.stderr and str(rules) in done.stderr
    assert not out.exists()
    clinical = tmp_path / "clinical.csv"
    clinical.write_text("study_instance_uid,serum_calcium_mg_dl\n1.2.3,high\n")
    done = calcscan("run", SAMPLE / "healthy", "-o", out, "--clinical", clinical)
    assert done.returncode == 2 and "serum_calcium_mg_dl" in done.stderr and not out.exists()


def test_clinical_context_is_quoted_in_the_report(tmp_path: Path):
    uid = _truth("dystrophic")["study_instance_uid"]
    clinical = tmp_path / "clinical.yaml"
    clinical.write_text(f"- study_instance_uid: '{uid}'\n  connective_tissue_disease: scleroderma\n")
    out = tmp_path / "out"
    done = calcscan("run", SAMPLE / "dystrophic", "-o", out, "--clinical", clinical)
    assert done.returncode == 0, done.stderr[-2000:]
    (path,) = out.glob("studies/*/report.json")
    report = json.loads(path.read_text())
    dystrophic = next(p for p in report["patterns"] if p["type"] == "dystrophic")
    assert any("scleroderma" in r for r in dystrophic["reasons"]), dystrophic["reasons"]


def test_the_sample_radiograph_opacities_are_the_truth_deposits(sample_run):
    """The dystrophic sample's hand film: its visible deposits are found where the truth
    puts them; one false positive at an interphalangeal joint is tolerated (measured)."""
    out, _, _ = sample_run
    report = _reports(out)["dystrophic"]
    film = [d for d in report["deposits"] if d["modality"] == "DX"]
    truth = [t["radiographs"][0] for t in _truth("dystrophic")["deposits"]]
    visible = [t["centroid_px"] for t in truth if t["visible"]]
    near = [[np.hypot(*np.subtract(d["centroid_px"], t)) < 5.0 for t in visible] for d in film]
    found = sum(any(row[i] for row in near) for i in range(len(visible)))
    false_positives = sum(not any(row) for row in near)
    assert found >= 3 and false_positives <= 1, (found, false_positives, film)
    assert all(d["region"] == "hand" and d["laterality"] == "right" for d in film)
    (compared,) = report["radiograph_vs_ct"]
    assert compared["statement"]
