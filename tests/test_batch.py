"""The batch engine with real processes: fault isolation, kill and --resume, Dask, the lock.

Studies are small phantoms written as real DICOM. Faults are real: a study whose every CT
slice fails to decode, and CALCSCAN_FAILPOINTS (pipeline/batch/failpoints.py) for a stage
that raises, a worker process that is SIGKILLed and a study that hangs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.batch.lock import output_lock
from pipeline.report.schema import validate_report
from pipeline.timing import STAGES
from tests.conftest import BATCH_STUDIES as GOOD
from tests.conftest import calcscan, phantom_study, study_uids

COMPLETE = ("report.json", "report.html", "record.json")


def _corrupt_every_slice(folder: Path) -> None:
    """Headers intact, RLE pixel data undecodable: found only when the pixels are read."""
    for path in (folder / "CT").glob("*.dcm"):
        raw = bytearray(path.read_bytes())
        start = raw.rfind(b"\xfe\xff\x00\xe0") + 8
        raw[start + 4 : start + 64] = b"\xff" * 60  # segment offsets past the data
        path.write_bytes(bytes(raw))


@pytest.fixture(scope="module")
def faulty(batch_studies: Path, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The good studies plus four bad ones: (input folder, study UID by fault)."""
    root = tmp_path_factory.mktemp("batch-faulty")
    shutil.copytree(batch_studies, root / "good")
    corrupt = phantom_study(root / "corrupt", "tumoral", 6)
    _corrupt_every_slice(corrupt)
    uids = {"corrupt": study_uids(corrupt)[0]}
    for fault, seed in (("raise", 5), ("crash", 7), ("hang", 8)):
        study, series = study_uids(phantom_study(root / fault, "calcific_tendinitis", seed))
        uids[fault] = study
        uids[f"{fault}_series"] = series
    return root, uids


def _reports(out: Path) -> dict[str, bytes]:
    return {p.parent.name: p.read_bytes() for p in (out / "studies").glob("*/report.json")}


def _assert_only_complete_folders(out: Path) -> None:
    for folder in (out / "studies").iterdir():
        missing = [name for name in COMPLETE if not (folder / name).is_file()]
        assert not missing, f"partial study folder {folder.name}: no {missing}"
    assert not any(p.name.endswith(".partial") for p in out.rglob("*")), "temporary files left behind"


def test_bad_studies_are_reported_with_reasons_and_the_good_ones_complete(faulty, batch_reference, tmp_path):
    root, uids = faulty
    out = tmp_path / "out"
    failpoints = f"raise:{uids['raise_series']},crash:{uids['crash']},hang:{uids['hang']}"
    done = calcscan(
        "run", root, "-o", out, "--workers", "2", "--study-timeout", "30",
        env={"CALCSCAN_FAILPOINTS": failpoints},
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    run = json.loads((out / "run.json").read_text())
    by_uid = {s["study_instance_uid"]: s for s in run["studies"]}
    assert len(by_uid) == len(GOOD) + 4
    expected = {
        "corrupt": "no slice of the stack could be decoded",
        "raise": "internal error while analysing this series",
        "crash": "killed by SIGKILL",
        "hang": "stopped after 30 s (--study-timeout)",
    }
    for fault, words in expected.items():
        entry = by_uid[uids[fault]]
        assert entry["status"] == "failed", (fault, entry)
        assert words in entry["reason"], (fault, entry["reason"])
    # the studies whose process died have no folder; the others a complete one
    assert not (out / "studies" / uids["crash"]).exists()
    assert not (out / "studies" / uids["hang"]).exists()
    _assert_only_complete_folders(out)
    assert not (out / ".calcscan-tmp").exists()
    # every good study: analysed, its outputs complete and the same as a run without faults
    assert _reports(out).items() >= batch_reference.items()
    for key in batch_reference:
        assert by_uid[key]["status"] == "analyzed"
        report = json.loads((out / "studies" / key / "report.json").read_text())
        assert validate_report(report) == []
        listed = report["outputs"]["dicom"]
        assert all((out / "studies" / key / entry["path"]).is_file() for entry in listed)
        if any(d["modality"] == "CT" for d in report["deposits"]):
            assert {"SEG", "SR"} <= {entry["kind"] for entry in listed}
    rows = (out / "summary.csv").read_text().splitlines()
    assert sum(",failed," in row for row in rows) == 4
    assert "[7/7]" in done.stderr  # a plain progress line per study when stderr is not a terminal


def _start_and_wait_for_a_study(inputs: Path, out: Path, stderr: int) -> subprocess.Popen:
    """A run with one worker, once its first study folder is in place (more are to come)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "run", str(inputs), "-o", str(out), "--workers", "1"],
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        text=True,
    )
    deadline = time.monotonic() + 300
    while not list((out / "studies").glob("*/record.json")):
        assert proc.poll() is None and time.monotonic() < deadline, "run ended before it could be stopped"
        time.sleep(0.05)
    return proc


def test_kill_midway_then_resume_gives_the_outputs_of_an_uninterrupted_run(
    batch_studies, batch_reference, tmp_path
):
    out = tmp_path / "out"
    proc = _start_and_wait_for_a_study(batch_studies, out, stderr=subprocess.DEVNULL)
    proc.kill()  # SIGKILL: no handler runs, the worker dies with its parent
    proc.wait()
    time.sleep(1.0)  # let an orphaned worker, if the kernel did not kill it, show itself
    finished_before = {p.parent.name for p in (out / "studies").glob("*/record.json")}
    assert 1 <= len(finished_before) < len(GOOD)
    _assert_only_complete_folders(out)
    assert {p.name for p in (out / "studies").iterdir()} == finished_before

    done = calcscan("run", batch_studies, "-o", out, "--resume", "--workers", "2")
    assert done.returncode == 0, done.stderr
    run = json.loads((out / "run.json").read_text())
    kept = {s["key"] for s in run["studies"] if s.get("resumed")}
    assert kept == finished_before
    assert run["batch"]["n_kept"] == len(finished_before)
    assert _reports(out) == batch_reference
    _assert_only_complete_folders(out)
    assert not (out / ".calcscan-tmp").exists()


def test_sigterm_stops_the_run_and_records_what_finished(batch_studies, batch_reference, tmp_path):
    out = tmp_path / "out"
    proc = _start_and_wait_for_a_study(batch_studies, out, stderr=subprocess.PIPE)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    run = json.loads((out / "run.json").read_text())
    assert run["interrupted"]["signal"] == "SIGTERM"
    finished = {s["key"] for s in run["studies"]}
    assert finished == {p.name for p in (out / "studies").iterdir()}
    assert set(run["interrupted"]["unfinished"]) == set(batch_reference) - finished
    _assert_only_complete_folders(out)
    assert not (out / ".calcscan-tmp").exists()
    for key in finished:
        assert (out / "studies" / key / "report.json").read_bytes() == batch_reference[key]


def test_resume_redoes_a_study_whose_settings_changed(batch_studies, tmp_path):
    out = tmp_path / "out"
    one = batch_studies / "healthy"
    assert calcscan("run", one, "-o", out, "--workers", "0").returncode == 0
    again = calcscan("run", one, "-o", out, "--resume", "--workers", "0")
    assert json.loads((out / "run.json").read_text())["batch"]["n_kept"] == 1, again.stderr
    stricter = "segmentation.min_volume_mm3=5"
    changed = calcscan("run", one, "-o", out, "--resume", "--workers", "0", "--set", stricter)
    assert changed.returncode == 0, changed.stderr
    assert json.loads((out / "run.json").read_text())["batch"]["n_kept"] == 0


def test_a_second_run_into_the_same_output_folder_is_refused(batch_studies, tmp_path):
    out = tmp_path / "out"
    with output_lock(out):
        done = calcscan("run", batch_studies / "healthy", "-o", out)
    assert done.returncode == 2
    assert "in use by another calcscan run" in done.stderr
    assert not (out / "studies").exists()


def test_quiet_prints_nothing_on_success(batch_studies, tmp_path):
    done = calcscan("-q", "run", batch_studies / "healthy", "-o", tmp_path / "out", "--workers", "1")
    assert done.returncode == 0
    assert done.stderr == ""


def test_run_json_says_where_each_study_spent_its_time_and_memory(batch_studies, tmp_path):
    """Per-study seconds by stage (in the order of pipeline.timing.STAGES) and the worker's
    peak memory: what a user sizing --workers needs, and what benchmarks/ reads."""
    out = tmp_path / "out"
    assert calcscan("-q", "run", batch_studies / "dystrophic", "-o", out, "--workers", "1").returncode == 0
    (study,) = json.loads((out / "run.json").read_text())["studies"]
    stages = study["stage_seconds"]
    # a CT and a radiograph: every stage ran, and nothing else is timed
    assert list(stages) == [s for s in STAGES if s in stages]
    assert set(stages) == set(STAGES), stages
    assert all(v > 0 for v in stages.values()), stages
    # the stages do not overlap: together no longer than the study took end to end
    assert sum(stages.values()) <= study["seconds"] + stages["report"] + stages["dicom_outputs"] + 0.05
    # the worker held the int16 CT volume it analysed, and far less than 4x more beside it
    shape = json.loads((batch_studies / "dystrophic" / "truth.json").read_text())["ct"]["shape_zyx"]
    volume_mib = 2 * shape[0] * shape[1] * shape[2] / 2**20
    assert volume_mib < study["peak_rss_mb"] < 1024, (volume_mib, study["peak_rss_mb"])


def test_progress_bars_on_a_terminal(batch_studies, tmp_path):
    """stderr a terminal: rich bars (overall and per study) and the summary table."""
    import pty

    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "run", str(batch_studies / "healthy"), "-o", str(tmp_path / "o")],
        stdout=subprocess.DEVNULL,
        stderr=secondary,
        env={**os.environ, "COLUMNS": "120", "TERM": "xterm"},
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(primary, 65536)
        except OSError:  # the other end closed
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(60) == 0
    text = b"".join(chunks).decode("utf-8", "replace")
    assert "studies" in text and "━" in text  # the overall bar
    assert "\x1b[" in text  # drawn with terminal control sequences
    assert "calcscan: 1 analyzed" in text  # the summary table's title


def test_dask_local_cluster_gives_identical_reports(batch_studies, batch_reference, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        out = tmp_path / "out"
        done = calcscan(
            "run", batch_studies, "-o", out, env={"DASK_SCHEDULER_ADDRESS": cluster.scheduler_address}
        )
        assert done.returncode == 0, done.stderr
        run = json.loads((out / "run.json").read_text())
        assert run["batch"]["scheduler"] == cluster.scheduler_address
        assert _reports(out) == batch_reference

        # errors come back the same way: a study that hangs is stopped on its worker
        hang = batch_studies / "healthy"
        uid = study_uids(hang)[0]
        out2 = tmp_path / "out2"
        done = calcscan(
            "run", hang, "-o", out2, "--scheduler", cluster.scheduler_address, "--study-timeout", "5",
            env={"CALCSCAN_FAILPOINTS": f"hang:{uid}"},
        )  # fmt: skip
        assert done.returncode == 1, done.stderr
        (entry,) = json.loads((out2 / "run.json").read_text())["studies"]
        assert entry["status"] == "failed" and "stopped after 5 s" in entry["reason"]
        assert not (out2 / "studies").exists() or not any((out2 / "studies").iterdir())
