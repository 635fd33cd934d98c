"""Sending files with STOW-RS (DICOMweb), one request per file.

One file per request keeps memory to one instance and lets a failure name the exact file; a
study's results are a SEG and an SR, so the extra requests cost nothing noticeable.
"""

from __future__ import annotations

from pathlib import Path

import pydicom
import requests
from pydicom.errors import InvalidDicomError

from pipeline.pacs.sending import summarize_failures
from pipeline.pacs.webclient import describe_request_error, is_unreachable, make_client


def stow_files(url: str, paths: list[Path], timeout: float) -> tuple[int, str | None]:
    """(files stored, error text or None); stops at the first network failure, as the rest
    would fail the same way, each after its retries."""
    client = make_client(url, timeout)
    failures: list[str] = []
    n_sent = 0
    for index, path in enumerate(paths):
        try:
            dataset = pydicom.dcmread(path)
        except (OSError, InvalidDicomError) as exc:
            failures.append(f"{path}: cannot read ({exc})")
            continue
        try:
            response = client.store_instances([dataset])
        except (requests.RequestException, ValueError) as exc:
            if is_unreachable(exc):
                skipped = len(paths) - index - 1
                rest = f", {skipped} more not tried" if skipped else ""
                failures.append(f"{path}: server unreachable ({describe_request_error(exc)}){rest}")
                break
            failures.append(f"{path}: {describe_request_error(exc)}{_failure_reasons(exc)}")
            continue
        failed = _failed_sops(response)
        if failed:
            failures.append(f"{path}: refused by the server ({failed})")
        else:
            n_sent += 1
    return n_sent, summarize_failures(failures, len(paths), n_sent)


def _failed_sops(response: pydicom.Dataset) -> str:
    """The FailedSOPSequence of a STOW-RS answer as text (empty when nothing failed)."""
    items = response.get("FailedSOPSequence") or []
    return ", ".join(
        f"{item.get('ReferencedSOPInstanceUID', '?')}: failure reason "
        f"0x{int(item.get('FailureReason', 0)):04X}"
        for item in items
    )


def _failure_reasons(exc: Exception) -> str:
    """An HTTP 4xx/5xx may still carry a STOW-RS answer with the DICOM failure reason."""
    response = getattr(exc, "response", None)
    if response is None or "json" not in response.headers.get("Content-Type", ""):
        return ""
    try:
        failed = _failed_sops(pydicom.Dataset.from_json(response.json()))
    except (ValueError, TypeError, KeyError):
        return ""
    return f" ({failed})" if failed else ""
