"""A real Orthanc (with its DICOMweb plugin) on loopback for one test or module.

Each server gets its own storage, index and free ports in a temporary folder, so it never
touches or collides with a system-wide Orthanc service that the Debian package may start.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

import pytest
import requests

ORTHANC = "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
START_TIMEOUT = 30.0


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_orthanc() -> str:
    """Orthanc and its DICOMweb plugin; missing is a failure under CI, a skip elsewhere."""
    executable = shutil.which("Orthanc") or (ORTHANC if os.access(ORTHANC, os.X_OK) else None)
    missing = []
    if not executable:
        missing.append("Orthanc (Debian package orthanc)")
    if not DICOMWEB_PLUGIN.is_file():
        missing.append(f"{DICOMWEB_PLUGIN} (Debian package orthanc-dicomweb)")
    if missing:
        message = f"missing: {', '.join(missing)}; scripts/install-system-deps.sh installs them"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return str(executable)


class OrthancServer:
    """A running Orthanc; `stop()` (or leaving the `with` block) ends it."""

    aet = "ORTHANC"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.http_port = free_port()
        self.dicom_port = free_port()
        self.http_url = f"http://127.0.0.1:{self.http_port}"
        self.dicomweb_url = f"{self.http_url}/dicom-web"
        self.log_path = root / "orthanc.log"
        self.session = requests.Session()
        self._process: subprocess.Popen | None = None

    def start(self, executable: str) -> OrthancServer:
        config = self._write_config()
        with open(self.log_path, "wb") as log:
            self._process = subprocess.Popen(
                [executable, str(config)], stdout=log, stderr=subprocess.STDOUT, cwd=self.root
            )
        try:
            self._wait_until_up()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        self.session.close()
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def __enter__(self) -> OrthancServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # REST helpers -------------------------------------------------------------------------

    def rest(self, method: str, path: str, **kwargs) -> requests.Response:
        response = self.session.request(method, f"{self.http_url}{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response

    def upload(self, paths: Iterable[Path]) -> int:
        """POST each file to /instances; the number Orthanc stored (or already had)."""
        count = 0
        for path in paths:
            answer = self.rest("POST", "/instances", data=Path(path).read_bytes()).json()
            assert answer["Status"] in ("Success", "AlreadyStored"), (path, answer)
            count += 1
        return count

    def study_instances(self, study_uid: str) -> list[dict]:
        """Each instance of the study: SOPInstanceUID, SOPClassUID, Modality (of its series)."""
        query = {"Level": "Instance", "Query": {"StudyInstanceUID": study_uid}, "Expand": True}
        found = self.rest("POST", "/tools/find", json=query).json()
        modality: dict[str, str] = {}
        rows = []
        for instance in found:
            series = instance["ParentSeries"]
            if series not in modality:
                tags = self.rest("GET", f"/series/{series}").json()["MainDicomTags"]
                modality[series] = tags.get("Modality", "")
            sop_class = self.rest("GET", f"/instances/{instance['ID']}/metadata/SopClassUid").text
            rows.append(
                {
                    "SOPInstanceUID": instance["MainDicomTags"]["SOPInstanceUID"],
                    "SOPClassUID": sop_class.strip(),
                    "Modality": modality[series],
                }
            )
        return rows

    def delete_study(self, study_uid: str) -> None:
        for match in self.rest("POST", "/tools/lookup", data=study_uid).json():
            if match["Type"] == "Study":
                self.rest("DELETE", f"/studies/{match['ID']}")

    # start-up -------------------------------------------------------------------------------

    def _write_config(self) -> Path:
        config = {
            "Name": "calcscan-test",
            "StorageDirectory": str(self.root / "storage"),
            "IndexDirectory": str(self.root / "index"),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": self.aet,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "SaveJobs": False,
            "Plugins": [str(DICOMWEB_PLUGIN)],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False},
        }
        path = self.root / "orthanc.json"
        path.write_text(json.dumps(config, indent=2), encoding="utf-8")
        return path

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                pytest.fail(f"Orthanc exited with code {self._process.returncode}:\n{self._log_tail()}")
            with contextlib.suppress(requests.RequestException):
                if self.session.get(f"{self.http_url}/system", timeout=2).ok:
                    self._check_dicomweb()
                    return
            time.sleep(0.1)
        pytest.fail(f"Orthanc did not answer GET /system within {START_TIMEOUT:.0f} s:\n{self._log_tail()}")

    def _check_dicomweb(self) -> None:
        plugins = self.rest("GET", "/plugins").json()
        if "dicom-web" not in plugins:
            pytest.fail(f"Orthanc runs without its DICOMweb plugin ({plugins}):\n{self._log_tail()}")

    def _log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def start_orthanc(tmp_path: Path) -> OrthancServer:
    """Start Orthanc in `tmp_path/orthanc` and wait until it answers; stop it with `.stop()`."""
    executable = require_orthanc()
    root = tmp_path / "orthanc"
    root.mkdir(parents=True, exist_ok=True)
    return OrthancServer(root).start(executable)
