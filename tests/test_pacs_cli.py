"""calcscan with a real PACS: Orthanc (Debian packages orthanc and orthanc-dicomweb) started
on loopback ports, and dcmtk's storescu sending to `calcscan listen`.

What the issue asks to show: studies in Orthanc are pulled with --dicomweb, analysed, and
the SEG and SR stored back are in Orthanc afterwards (over STOW-RS and over C-STORE); a
study sent with storescu to the listener gets its report, and the listener forwards it.
Reports made from studies that went through a PACS equal those made from the files.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import calcscan, require_tool, study_uids
from tests.orthanc import free_port, start_orthanc

SEG = "1.2.840.10008.5.1.4.1.1.66.4"
COMPREHENSIVE_3D_SR = "1.2.840.10008.5.1.4.1.1.88.34"


@pytest.fixture
def orthanc(tmp_path):
    server = start_orthanc(tmp_path)
    try:
        yield server
    finally:
        server.stop()


def _written_outputs(out: Path, key: str) -> dict[str, str]:
    """SOPInstanceUID -> kind of the SEG and SR that report.json lists."""
    report = json.loads((out / "studies" / key / "report.json").read_text())
    return {entry["sop_instance_uid"]: entry["kind"] for entry in report["outputs"]["dicom"]}


def _assert_stored(orthanc, study_uid: str, outputs: dict[str, str]) -> None:
    in_pacs = {row["SOPInstanceUID"]: row for row in orthanc.study_instances(study_uid)}
    assert outputs and set(outputs) <= set(in_pacs), "SEG/SR not in the PACS"
    for uid, kind in outputs.items():
        assert in_pacs[uid]["SOPClassUID"] == {"SEG": SEG, "SR": COMPREHENSIVE_3D_SR}[kind]


def test_pull_over_dicomweb_and_store_back_with_stow(orthanc, batch_studies, batch_reference, tmp_path):
    folders = [batch_studies / "tumoral", batch_studies / "dystrophic"]
    uids = [study_uids(f)[0] for f in folders]
    for folder in folders:
        orthanc.upload(sorted(folder.rglob("*.dcm")))
    out = tmp_path / "out"
    url = orthanc.dicomweb_url
    done = calcscan(
        "run", "--dicomweb", url, "--study", uids[0], "--study", uids[1], "-o", out,
        "--store-to", f"dicomweb:{url}", "--workers", "2",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    run = json.loads((out / "run.json").read_text())
    assert {s["study_instance_uid"] for s in run["studies"]} == set(uids)
    for uid in uids:
        # pulled over DICOMweb, the study gives the report its files give
        assert (out / "studies" / uid / "report.json").read_bytes() == batch_reference[uid]
        (stored,) = next(s for s in run["studies"] if s["key"] == uid)["stored"]
        assert stored["error"] is None and stored["target"] == f"dicomweb:{url}"
        outputs = _written_outputs(out, uid)
        assert stored["n_sent"] == len(outputs)
        _assert_stored(orthanc, uid, outputs)

    # a query instead of UIDs; --resume keeps both studies and does not send them again
    again = calcscan(
        "run", "--dicomweb", url, "--query", "ModalitiesInStudy=CT", "-o", out, "--resume",
        "--store-to", f"dicomweb:{url}",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    run = json.loads((out / "run.json").read_text())
    assert {s["study_instance_uid"] for s in run["studies"]} == set(uids)
    assert all(s.get("resumed") for s in run["studies"])


def test_store_with_c_store_and_a_pacs_that_is_down(orthanc, batch_studies, tmp_path):
    folder = batch_studies / "tumoral"
    uid = study_uids(folder)[0]
    orthanc.upload(sorted(folder.rglob("*.dcm")))
    out = tmp_path / "out"
    target = f"dimse:{orthanc.aet}@127.0.0.1:{orthanc.dicom_port}"
    closed = f"dimse:NOBODY@127.0.0.1:{free_port()}"
    done = calcscan("run", folder, "-o", out, "--store-to", target, "--store-to", closed, "--workers", "1")
    assert done.returncode == 1, done.stderr  # the study is analysed, but one target failed
    (entry,) = json.loads((out / "run.json").read_text())["studies"]
    assert entry["status"] == "analyzed"
    ok, down = entry["stored"]
    assert ok["error"] is None and ok["n_sent"] == 2
    assert down["error"] and str(down["target"]) == closed
    _assert_stored(orthanc, uid, _written_outputs(out, uid))


def test_bad_store_target_is_a_usage_error(batch_studies, tmp_path):
    done = calcscan("run", batch_studies / "healthy", "-o", tmp_path / "out", "--store-to", "ftp://x")
    assert done.returncode == 2
    assert "ftp://x" in done.stderr
    assert not (tmp_path / "out").exists()


def test_listen_receives_a_study_from_storescu_and_forwards_its_results(
    orthanc, batch_studies, batch_reference, tmp_path
):
    storescu = require_tool("storescu")
    port, out = free_port(), tmp_path / "out"
    listener = subprocess.Popen(
        [
            sys.executable, "-m", "pipeline", "listen", "-o", str(out), "--port", str(port),
            "--ae-title", "CALCSCAN", "--quiet-period", "1", "--store-to", f"dicomweb:{orthanc.dicomweb_url}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        _wait_for_port(port, listener)
        sent = []
        for name in ("dystrophic", "healthy"):  # a CT with a film, and a CT
            folder = batch_studies / name
            send = [storescu, "-xr", "-aec", "CALCSCAN", "+sd", "+r", "+sp", "*.dcm"]
            done = subprocess.run(
                [*send, "127.0.0.1", str(port), str(folder)],
                capture_output=True, text=True, timeout=120,
                env={**os.environ, "TCP_NODELAY": "1"},  # dcmtk: no delayed-ACK stall on loopback
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            sent.append(study_uids(folder)[0])
        reports = [out / "studies" / uid / "report.json" for uid in sent]
        _wait_for(lambda: all(r.is_file() for r in reports) and _run_lists(out, sent), listener, 240)
    finally:
        listener.send_signal(signal.SIGTERM)
        _, stderr = listener.communicate(timeout=120)
    assert listener.returncode == 0, stderr
    for uid, report in zip(sent, reports, strict=True):
        assert report.read_bytes() == batch_reference[uid]  # as if run on the files
        if _written_outputs(out, uid):
            _assert_stored(orthanc, uid, _written_outputs(out, uid))
    index = (out / "index.html").read_text()
    assert all(uid in index for uid in sent)


def _run_lists(out: Path, uids: list[str]) -> bool:
    try:
        run = json.loads((out / "run.json").read_text())
    except (OSError, ValueError):
        return False
    return set(uids) <= {s["study_instance_uid"] for s in run["studies"]}


def _wait_for_port(port: int, process: subprocess.Popen, seconds: float = 60) -> None:
    import socket

    def listening() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    _wait_for(listening, process, seconds)


def _wait_for(condition, process: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"listener ended early: {process.stderr.read() if process.stderr else ''}")
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {seconds} s")
        time.sleep(0.2)
