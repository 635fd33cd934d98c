"""Pulling studies from a DICOMweb server (QIDO-RS search, WADO-RS retrieve) into a local cache.

Instances are fetched one at a time, so memory holds one instance whatever the study size,
and written as `cache/<study folder>/<SOPInstanceUID>.dcm` (UIDs only in names).  A pull that
stops half way is resumed by running it again: instances already in the cache are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
import requests
from dicomweb_client import DICOMwebClient
from pydicom.datadict import tag_for_keyword
from pydicom.errors import InvalidDicomError

from pipeline.errors import UsageError
from pipeline.pacs.files import instance_path
from pipeline.pacs.webclient import check_http_url, describe_request_error, is_unreachable, make_client
from pipeline.report.outputs import study_key, write_atomic

_STUDY_UID = "0020000D"
_SERIES_UID = "0020000E"
_SOP_UID = "00080018"
_HEX_TAG = re.compile(r"^[0-9A-Fa-f]{8}$")


@dataclass
class PullResult:
    """Folders of the studies now complete in the cache, and one line per study that is not."""

    folders: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class _StudyProblem(Exception):
    """This study cannot be pulled; the others can still be."""


class _Unreachable(Exception):
    """No HTTP answer at all: every further request would fail the same way."""


def parse_query(items: Sequence[str]) -> dict[str, str]:
    """`--query KEY=VALUE` items as QIDO-RS filters, e.g. StudyDate=20240101-20240131.

    Keys must be DICOM keywords (or 8-digit hex tags) so that a typo such as `StudyDtae`
    stops the command instead of silently matching every study on the server.
    """
    filters: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise UsageError(f"--query {item!r}: expected KEY=VALUE, e.g. StudyDate=20240101-20240131")
        if tag_for_keyword(key) is None and not _HEX_TAG.match(key):
            raise UsageError(f"--query {item!r}: {key!r} is not a DICOM keyword (e.g. ModalitiesInStudy)")
        if key in filters:
            raise UsageError(f"--query {key} is given twice")
        filters[key] = value
    return filters


def pull_studies(
    url: str,
    cache: Path,
    study_uids: Sequence[str] = (),
    filters: Mapping[str, str] | None = None,
) -> PullResult:
    """Pull the given studies, or every study matching the filters, into `cache`.

    Filters together with study UIDs are refused rather than ignored or combined: either
    reading would surprise someone, and the study UIDs alone already say what to pull.

    A study that cannot be pulled becomes a problem line and the others go on; a server that
    cannot be reached before any study is pulled is a UsageError (nothing can be done).
    """
    base = check_http_url(url, "DICOMweb source")
    client = make_client(base)
    uids = list(dict.fromkeys(uid.strip() for uid in study_uids if uid.strip()))
    if uids and filters:
        raise UsageError(f"DICOMweb source {base}: give study UIDs or query filters, not both")
    if not uids:
        uids = _search_studies(client, base, filters or {})
    result = PullResult()
    for index, uid in enumerate(uids):
        try:
            result.folders.append(_pull_study(client, cache, uid))
        except _StudyProblem as exc:
            result.problems.append(f"study {uid}: {exc}")
        except _Unreachable as exc:
            if not result.folders:
                raise UsageError(f"DICOMweb source {base}: cannot reach the server: {exc}") from None
            result.problems.extend(_not_tried(uids[index:], base, str(exc)))
            break
    return result


def _not_tried(uids: list[str], base: str, reason: str) -> list[str]:
    return [f"study {uid}: not pulled, {base} stopped answering ({reason})" for uid in uids]


def _search_studies(client: DICOMwebClient, base: str, filters: Mapping[str, str]) -> list[str]:
    """StudyInstanceUIDs of the studies matching the filters, all pages."""
    if not filters:
        raise UsageError(
            f"DICOMweb source {base}: give study UIDs or at least one query filter "
            "(pulling every study on a PACS is almost never meant)"
        )
    try:
        found = _all_pages(
            client.search_for_studies, _STUDY_UID, search_filters=dict(filters), fields=["StudyInstanceUID"]
        )
    except (requests.RequestException, ValueError) as exc:
        reason = describe_request_error(exc)
        raise UsageError(f"DICOMweb source {base}: study search failed: {reason}") from None
    return list(found)


def _all_pages(search: Callable[..., list[dict]], key: str, **kwargs: Any) -> dict[str, dict]:
    """Every QIDO-RS result, asking again from `offset` until no new result comes back.

    A server may cap how many results one answer holds; one that ignores `offset` would send
    the same page again, which ends the loop here instead of looping for ever.
    """
    found: dict[str, dict] = {}
    offset = 0
    while True:
        page = search(offset=offset, **kwargs)
        new = {uid: item for item in page if (uid := _value(item, key)) and uid not in found}
        if not new:
            return found
        found.update(new)
        offset += len(page)


def _pull_study(client: DICOMwebClient, cache: Path, study_uid: str) -> Path:
    """Retrieve the instances of one study not yet in the cache; the study folder when complete."""
    instances = _study_instances(client, study_uid)
    failed: list[str] = []
    for sop_uid, series_uid in instances.items():
        path = instance_path(cache, study_uid, sop_uid)
        if path.exists():
            continue
        problem = _retrieve(client, path, study_uid, series_uid, sop_uid)
        if problem:
            failed.append(f"{sop_uid}: {problem}")
    if failed:
        raise _StudyProblem(
            f"{len(failed)} of {len(instances)} instances not retrieved (first: {failed[0]}); "
            "run the pull again to retry them"
        )
    return cache / study_key(study_uid)


def _study_instances(client: DICOMwebClient, study_uid: str) -> dict[str, str]:
    """SOPInstanceUID -> SeriesInstanceUID of every instance of the study on the server."""
    try:
        found = _all_pages(
            client.search_for_instances,
            _SOP_UID,
            study_instance_uid=study_uid,
            fields=["SeriesInstanceUID", "SOPInstanceUID"],
        )
    except ValueError as exc:  # dicomweb-client checks the UID's syntax before asking
        raise _StudyProblem(f"not a valid StudyInstanceUID ({exc})") from None
    except requests.RequestException as exc:
        if is_unreachable(exc):
            raise _Unreachable(describe_request_error(exc)) from None
        raise _StudyProblem(f"instance search failed: {describe_request_error(exc)}") from None
    instances = {sop: _value(item, _SERIES_UID) for sop, item in found.items()}
    if not instances:
        raise _StudyProblem("not found on the server (no instances)")
    return instances


def _retrieve(client: DICOMwebClient, path: Path, study_uid: str, series_uid: str, sop_uid: str) -> str:
    """Fetch one instance in its stored transfer syntax and write it; the problem or ''."""
    if not series_uid:
        return "the server's instance search gave no SeriesInstanceUID"
    try:
        dataset = client.retrieve_instance(study_uid, series_uid, sop_uid)
    except requests.RequestException as exc:
        if is_unreachable(exc):
            raise _Unreachable(describe_request_error(exc)) from None
        return describe_request_error(exc)
    except (ValueError, InvalidDicomError) as exc:
        return f"unreadable answer ({exc})"
    if dataset.get("SOPInstanceUID") != sop_uid:
        return f"the server sent instance {dataset.get('SOPInstanceUID')} instead"
    write_atomic(path, lambda stream: pydicom.dcmwrite(stream, dataset, enforce_file_format=True))
    return ""


def _value(item: Mapping[str, Any], tag: str) -> str:
    """The first value of a tag in a DICOM JSON result, '' when absent."""
    values = (item.get(tag) or {}).get("Value") or [""]
    return str(values[0])
