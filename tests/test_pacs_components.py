"""PACS components against real peers: Orthanc (DICOMweb and DICOM), dcmtk's storescu/echoscu.

Nothing is mocked: studies go into a real Orthanc started for this module and are pulled back
with QIDO-RS/WADO-RS; the SEG and SR written by `calcscan run` are sent back with STOW-RS and
C-STORE and looked up in Orthanc; the receiver gets a study from storescu.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import Comprehensive3DSRStorage, SegmentationStorage

from pipeline.errors import UsageError
from pipeline.pacs.dicomweb_source import parse_query, pull_studies
from pipeline.pacs.receiver import StudyReceiver
from pipeline.pacs.study_tracker import StudyTracker
from pipeline.pacs.targets import StoreTarget, parse_store_target, store_files
from pipeline.report.outputs import study_key
from tests.conftest import SAMPLE, calcscan, require_tool
from tests.orthanc import OrthancServer, free_port, start_orthanc

STUDY_DIR = SAMPLE / "tumoral" / "CT"  # 139 JPEG 2000 CT images, 3.4 MB
MISSING_UID = "1.2.826.0.1.3680043.8.498.99999999999999999"


def sop_files(folder: Path) -> dict[str, Path]:
    """SOPInstanceUID -> file, for every DICOM file in the folder."""
    return {
        str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID): path
        for path in folder.glob("*.dcm")
    }


@pytest.fixture(scope="module")
def sample() -> tuple[str, dict[str, Path]]:
    """(StudyInstanceUID, SOPInstanceUID -> original file) of the sample study."""
    files = sop_files(STUDY_DIR)
    study_uid = str(pydicom.dcmread(next(iter(files.values()))).StudyInstanceUID)
    return study_uid, files


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory, sample) -> Iterator[OrthancServer]:
    """One Orthanc for the module, holding the sample study."""
    server = start_orthanc(tmp_path_factory.mktemp("pacs"))
    try:
        assert server.upload(sample[1].values()) == len(sample[1])
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def result_files(tmp_path_factory) -> list[Path]:
    """The DICOM SEG and SR of a real `calcscan run`, on a small phantom study (about 8 s, half
    the time of a sample_data study, which is what keeps this file fast)."""
    root = tmp_path_factory.mktemp("results")
    made = calcscan("phantom", "tumoral", "--size", "small", "--seed", "1", "-o", root / "ct")
    assert made.returncode == 0, made.stderr[-2000:]
    done = calcscan("run", root / "ct", "-o", root / "out")
    files = sorted((root / "out" / "studies").glob("*/dicom/*.dcm"))
    assert done.returncode == 0 and len(files) == 2, done.stdout[-1000:] + done.stderr[-3000:]
    return files


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


# store targets ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dicomweb:http://h/dicom-web", StoreTarget("dicomweb", url="http://h/dicom-web")),
        (
            "dicomweb:https://pacs.example.org:8443/dicom-web",
            StoreTarget("dicomweb", url="https://pacs.example.org:8443/dicom-web"),
        ),
        (
            "dimse:ORTHANC@127.0.0.1:4242",
            StoreTarget("dimse", ae_title="ORTHANC", host="127.0.0.1", port=4242),
        ),
        (
            "dimse:PACS SCP@pacs.local:104",
            StoreTarget("dimse", ae_title="PACS SCP", host="pacs.local", port=104),
        ),
        (
            "dimse:SIXTEEN_CHARS_AE@[::1]:11112",
            StoreTarget("dimse", ae_title="SIXTEEN_CHARS_AE", host="::1", port=11112),
        ),
    ],
)
def test_store_target_parses_and_prints_back(text: str, expected: StoreTarget) -> None:
    target = parse_store_target(text)
    assert target == expected
    assert str(target) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("orthanc@127.0.0.1:4242", "expected dicomweb:"),
        ("wado:http://h/dicom-web", "expected dicomweb:"),
        ("dicomweb:ftp://h/dicom-web", "must start with http:// or https://"),
        ("dicomweb:h/dicom-web", "must start with http:// or https://"),
        ("dicomweb:http:///dicom-web", "has no host"),
        ("dicomweb:http://h:99999/dicom-web", "not a valid URL"),
        ("dicomweb:http://h/dicom-web?x=1", "query"),
        ("dimse:ORTHANC127.0.0.1:4242", "no '@'"),
        ("dimse:ORTHANC@127.0.0.1", "no ':port'"),
        ("dimse:@127.0.0.1:4242", "AE title is empty"),
        ("dimse:SEVENTEEN_CHAR_AE@h:104", "17 characters long (at most 16)"),
        ("dimse:A\\B@h:104", "characters DICOM does not allow"),
        ("dimse:AE@h:0", "outside 1..65535"),
        ("dimse:AE@h:65536", "outside 1..65535"),
        ("dimse:AE@h:dicom", "'dicom' is not a number"),
        ("dimse:AE@:104", "not a host name"),
        ("dimse:AE@::1:104", "IPv6 address in brackets"),
    ],
)
def test_store_target_errors_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(UsageError, match="store target") as caught:
        parse_store_target(text)
    assert message in str(caught.value)


def test_store_files_sends_seg_and_sr_with_stow_rs_and_c_store(orthanc: OrthancServer, result_files) -> None:
    sent = {str(pydicom.dcmread(path).SOPInstanceUID): path for path in result_files}
    study_uid = str(pydicom.dcmread(result_files[0]).StudyInstanceUID)
    expected = {uid: str(pydicom.dcmread(path).SOPClassUID) for uid, path in sent.items()}
    assert sorted(expected.values()) == sorted([SegmentationStorage, Comprehensive3DSRStorage])
    for spec in (f"dicomweb:{orthanc.dicomweb_url}", f"dimse:{orthanc.aet}@127.0.0.1:{orthanc.dicom_port}"):
        orthanc.delete_study(study_uid)
        assert orthanc.study_instances(study_uid) == []
        outcome = store_files(parse_store_target(spec), result_files)
        assert (outcome.target, outcome.n_sent, outcome.error) == (spec, 2, None)
        stored = {row["SOPInstanceUID"]: row["SOPClassUID"] for row in orthanc.study_instances(study_uid)}
        assert stored == expected, spec


def test_store_files_reports_failures_without_raising(result_files) -> None:
    port = free_port()  # nothing listens there
    for spec in (f"dimse:ORTHANC@127.0.0.1:{port}", f"dicomweb:http://127.0.0.1:{port}/dicom-web"):
        outcome = store_files(parse_store_target(spec), result_files, timeout=5)
        assert outcome.n_sent == 0
        assert outcome.error and outcome.error.startswith(f"{spec}: ")
        assert "connection refused" in outcome.error
    unknown = store_files(parse_store_target("dimse:PACS@no-such-host.invalid:104"), result_files)
    assert unknown.n_sent == 0 and "no-such-host.invalid:104" in str(unknown.error)
    nothing = store_files(parse_store_target(f"dimse:ORTHANC@127.0.0.1:{port}"), [])
    assert (nothing.n_sent, nothing.error) == (0, None)


def test_store_files_names_an_unreadable_file(orthanc: OrthancServer, tmp_path: Path, result_files) -> None:
    broken = tmp_path / "broken.dcm"
    broken.write_bytes(b"not DICOM at all")
    for spec in (f"dicomweb:{orthanc.dicomweb_url}", f"dimse:{orthanc.aet}@127.0.0.1:{orthanc.dicom_port}"):
        outcome = store_files(parse_store_target(spec), [*result_files, broken])
        assert outcome.n_sent == 2, outcome.error
        assert outcome.error and "1 of 3 files not stored" in outcome.error and str(broken) in outcome.error


# pulling over DICOMweb ----------------------------------------------------------------------


def test_pull_by_study_uid_gets_every_instance_once(orthanc: OrthancServer, sample, tmp_path: Path) -> None:
    study_uid, originals = sample
    cache = tmp_path / "cache"
    result = pull_studies(orthanc.dicomweb_url, cache, [study_uid])
    assert result.problems == []
    assert result.folders == [cache / study_key(study_uid)]
    pulled = sop_files(result.folders[0])
    assert set(pulled) == set(originals)
    assert {path.name for path in pulled.values()} == {f"{uid}.dcm" for uid in originals}
    for uid in sorted(originals)[:: len(originals) // 2]:  # first, middle, last
        mine, theirs = pydicom.dcmread(pulled[uid]), pydicom.dcmread(originals[uid])
        assert mine.file_meta.TransferSyntaxUID == theirs.file_meta.TransferSyntaxUID  # stored syntax kept
        assert mine.file_meta.MediaStorageSOPInstanceUID == uid
        np.testing.assert_array_equal(mine.pixel_array, theirs.pixel_array)

    before = {path: (path.stat().st_mtime_ns, path.stat().st_ino) for path in cache.rglob("*")}
    again = pull_studies(orthanc.dicomweb_url, cache, [study_uid])
    assert (again.folders, again.problems) == (result.folders, [])
    after = {path: (path.stat().st_mtime_ns, path.stat().st_ino) for path in cache.rglob("*")}
    assert after == before  # nothing downloaded or rewritten, no temporary files left


def test_pull_resumes_a_partial_cache(orthanc: OrthancServer, sample, tmp_path: Path) -> None:
    study_uid, originals = sample
    cache = tmp_path / "cache"
    folder = pull_studies(orthanc.dicomweb_url, cache, [study_uid]).folders[0]
    removed = sorted(folder.glob("*.dcm"))[:5]
    kept = {path: path.stat().st_mtime_ns for path in folder.glob("*.dcm") if path not in removed}
    for path in removed:
        path.unlink()
    assert pull_studies(orthanc.dicomweb_url, cache, [study_uid]).problems == []
    assert set(sop_files(folder)) == set(originals)
    assert {path: path.stat().st_mtime_ns for path in kept} == kept


def test_pull_by_query_filters(orthanc: OrthancServer, sample, tmp_path: Path) -> None:
    study_uid, _ = sample
    filters = parse_query(["ModalitiesInStudy=CT", "StudyDate=20260101-20260131"])
    found = pull_studies(orthanc.dicomweb_url, tmp_path / "cache", filters=filters)
    assert (found.folders, found.problems) == ([tmp_path / "cache" / study_key(study_uid)], [])
    none = pull_studies(orthanc.dicomweb_url, tmp_path / "cache", filters={"ModalitiesInStudy": "MR"})
    assert (none.folders, none.problems) == ([], [])


def test_pull_missing_study_is_a_problem_and_others_continue(
    orthanc: OrthancServer, sample, tmp_path
) -> None:
    study_uid, originals = sample
    result = pull_studies(orthanc.dicomweb_url, tmp_path / "cache", [MISSING_UID, study_uid, "not-a-uid"])
    assert result.folders == [tmp_path / "cache" / study_key(study_uid)]
    assert len(list(result.folders[0].glob("*.dcm"))) == len(originals)
    assert len(result.problems) == 2
    assert result.problems[0].startswith(f"study {MISSING_UID}: ") and "not found" in result.problems[0]
    assert result.problems[1].startswith("study not-a-uid: ") and "not a valid" in result.problems[1]


def test_pull_usage_errors(sample, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/dicom-web"
    with pytest.raises(UsageError, match=rf"{url}: cannot reach the server: connection refused"):
        pull_studies(url, tmp_path / "cache", [sample[0]])
    with pytest.raises(UsageError, match=rf"{url}: study search failed: connection refused"):
        pull_studies(url, tmp_path / "cache", filters={"ModalitiesInStudy": "CT"})
    with pytest.raises(UsageError, match="must start with http:// or https://"):
        pull_studies("pacs.example.org/dicom-web", tmp_path / "cache", [sample[0]])
    with pytest.raises(UsageError, match="give study UIDs or at least one query filter"):
        pull_studies(url, tmp_path / "cache")
    with pytest.raises(UsageError, match="not both"):
        pull_studies(url, tmp_path / "cache", [sample[0]], filters={"ModalitiesInStudy": "CT"})
    assert not (tmp_path / "cache").exists()


def test_parse_query() -> None:
    assert parse_query(["StudyDate=20240101-20240131", " ModalitiesInStudy = CT "]) == {
        "StudyDate": "20240101-20240131",
        "ModalitiesInStudy": "CT",
    }
    assert parse_query(["00080061=CT"]) == {"00080061": "CT"}
    for items, message in [
        (["StudyDate"], "expected KEY=VALUE"),
        (["=CT"], "expected KEY=VALUE"),
        (["ModalitiesInStudy="], "expected KEY=VALUE"),
        (["StudyDtae=20240101"], "'StudyDtae' is not a DICOM keyword"),
        (["StudyDate=2024", "StudyDate=2025"], "given twice"),
    ]:
        with pytest.raises(UsageError, match=message):
            parse_query(items)


# receiving over DICOM -----------------------------------------------------------------------


class Completed:
    """Records each on_complete call (study UID, SOPInstanceUIDs in the folder, thread)."""

    def __init__(self, fail_first: bool = False) -> None:
        self.calls: list[tuple[str, Path, set[str], str]] = []
        self.fail_first = fail_first
        self.lock = threading.Lock()

    def __call__(self, study_uid: str, folder: Path) -> None:
        with self.lock:
            self.calls.append((study_uid, folder, set(sop_files(folder)), threading.current_thread().name))
            first = len(self.calls) == 1
        if first and self.fail_first:
            raise RuntimeError("analysis failed on purpose")


def dcmtk(*args: str | Path) -> subprocess.CompletedProcess:
    # TCP_NODELAY=1: without it dcmtk waits for a delayed ACK after each instance (~45 ms each)
    env = {**os.environ, "TCP_NODELAY": "1"}
    done = subprocess.run(list(map(str, args)), capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_receiver_hands_over_each_study_once_when_quiet(sample, tmp_path: Path, caplog) -> None:
    storescu, echoscu = require_tool("storescu"), require_tool("echoscu")
    study_uid, originals = sample
    completed = Completed(fail_first=True)
    port = free_port()
    incoming = tmp_path / "incoming"
    with StudyReceiver(port, "CALCSCAN", incoming, completed, quiet_seconds=1, host="127.0.0.1"):
        dcmtk(echoscu, "-aec", "CALCSCAN", "127.0.0.1", port)
        # -xv proposes JPEG 2000 lossless, the files' own syntax: compressed data must be accepted
        dcmtk(storescu, "-xv", "-aec", "CALCSCAN", "+sd", "+r", "127.0.0.1", port, STUDY_DIR)
        assert wait_for(lambda: len(completed.calls) >= 1, timeout=15)
        time.sleep(1.5)  # more than the quiet period: no second call without new instances
        assert len(completed.calls) == 1
        uid, folder, sops, thread = completed.calls[0]
        assert (uid, folder, sops) == (study_uid, incoming / study_key(study_uid), set(originals))
        assert thread == "calcscan-studies"
        assert "processing received study" in caplog.text and "analysis failed on purpose" in caplog.text

        received = pydicom.dcmread(folder / f"{next(iter(originals))}.dcm")
        assert received.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.90"
        assert received.pixel_array.shape == (received.Rows, received.Columns)

        one = next(iter(originals.values()))
        dcmtk(storescu, "-xv", "-aec", "CALCSCAN", "127.0.0.1", port, one)
        assert wait_for(lambda: len(completed.calls) == 2, timeout=15)
        assert completed.calls[1][:3] == (study_uid, folder, set(originals))
    assert not list(incoming.rglob("*.partial"))


def test_receiver_reports_a_busy_port(tmp_path: Path) -> None:
    with StudyReceiver(
        free_port(), "CALCSCAN", tmp_path, lambda uid, folder: None, host="127.0.0.1"
    ) as first:
        second = StudyReceiver(first.port, "CALCSCAN", tmp_path, lambda uid, folder: None, host="127.0.0.1")
        with pytest.raises(UsageError, match=rf"cannot listen on 127.0.0.1:{first.port}"):
            second.start()
    with pytest.raises(UsageError, match="at most 16"):
        StudyReceiver(104, "A" * 17, tmp_path, lambda uid, folder: None)


def test_tracker_waits_for_open_associations_and_quiet() -> None:
    now = [100.0]
    tracker = StudyTracker(quiet_seconds=5, clock=lambda: now[0])
    tracker.arrived("assoc-1", "1.2.3")
    tracker.arrived("assoc-2", "1.2.3")
    tracker.ended("assoc-1")
    now[0] += 60
    assert tracker.take_complete() is None  # assoc-2 may still send instances of it
    tracker.ended("assoc-2")
    assert tracker.take_complete() == "1.2.3"
    assert tracker.take_complete() is None  # handed over once
    tracker.arrived("assoc-3", "1.2.3")  # more of it later: pending again
    tracker.ended("assoc-3")
    now[0] += 4.9
    assert tracker.take_complete() is None  # not quiet long enough yet
    now[0] += 0.2
    assert tracker.wait_complete() == "1.2.3"
    assert tracker.pending() == []
    tracker.stop()
    assert tracker.wait_complete() is None
