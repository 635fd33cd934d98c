"""Sending files with C-STORE (DIMSE) over one association.

The association proposes exactly the SOP classes and transfer syntaxes of the files being
sent: a PACS accepts or rejects each one, and proposing the hundred-odd storage classes
instead would hit the limit of 128 presentation contexts and hide what was refused.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.status import STORAGE_SERVICE_CLASS_STATUS, code_to_category

from pipeline.pacs.sending import summarize_failures

Peer = tuple[str, str, int]  # called AE title, host, port
_MAX_CONTEXTS = 128
_WARNING_CODES = (0x0001, 0xB000, 0xB006, 0xB007)


def cstore_files(peer: Peer, paths: list[Path], calling_ae: str, timeout: float) -> tuple[int, str | None]:
    """(files stored, error text or None) for one association with the peer."""
    headers, failures = _read_headers(paths)
    contexts = _contexts(headers)
    if len(contexts) > _MAX_CONTEXTS:
        return 0, f"{len(contexts)} SOP class / transfer syntax pairs, more than one association allows"
    if not headers:
        return 0, summarize_failures(failures, len(paths), 0)
    ae = _requestor(calling_ae, contexts, timeout)
    called, host, port = peer
    try:
        assoc = ae.associate(host, port, ae_title=called)
    except OSError as exc:  # e.g. an unknown host name, found before connecting
        return 0, f"cannot connect to {host}:{port}: {(exc.strerror or str(exc)).lower()}"
    if not assoc.is_established:
        return 0, _association_failure(assoc, host, port, timeout)
    try:
        n_sent = _send_all(assoc, list(headers), failures)
    finally:
        if assoc.is_established:
            assoc.release()
    return n_sent, summarize_failures(failures, len(paths), n_sent)


def _read_headers(paths: list[Path]) -> tuple[dict[Path, tuple[UID, UID]], list[str]]:
    """SOP class and transfer syntax of each readable file; unreadable ones as failures."""
    headers: dict[Path, tuple[UID, UID]] = {}
    failures: list[str] = []
    for path in paths:
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            headers[path] = (UID(ds.SOPClassUID), UID(ds.file_meta.TransferSyntaxUID))
        except (OSError, InvalidDicomError, AttributeError) as exc:
            failures.append(f"{path}: cannot read SOP class and transfer syntax ({exc})")
    return headers, failures


def _contexts(headers: dict[Path, tuple[UID, UID]]) -> dict[tuple[UID, UID], list[UID]]:
    """One presentation context per (SOP class, transfer syntax) of the files.

    An uncompressed file may also go in the other little-endian syntax (pynetdicom re-encodes
    it), which helps with a PACS that accepts only implicit VR; a compressed one may not.
    """
    contexts: dict[tuple[UID, UID], list[UID]] = {}
    for sop_class, syntax in headers.values():
        syntaxes = [syntax]
        if not syntax.is_compressed:
            syntaxes += [ts for ts in (ExplicitVRLittleEndian, ImplicitVRLittleEndian) if ts != syntax]
        contexts[(sop_class, syntax)] = syntaxes
    return contexts


def _requestor(calling_ae: str, contexts: dict[tuple[UID, UID], list[UID]], timeout: float) -> AE:
    ae = AE(ae_title=calling_ae)
    for (sop_class, _), syntaxes in contexts.items():
        ae.add_requested_context(sop_class, syntaxes)
    ae.acse_timeout = timeout
    ae.dimse_timeout = timeout
    ae.network_timeout = timeout
    ae.connection_timeout = timeout
    return ae


def _send_all(assoc: Association, paths: list[Path], failures: list[str]) -> int:
    n_sent = 0
    for path in paths:
        if not assoc.is_established:
            failures.append(f"{path}: not sent, the association was aborted")
            continue
        try:
            status = assoc.send_c_store(path)
        except (ValueError, AttributeError, RuntimeError, OSError, InvalidDicomError) as exc:
            failures.append(f"{path}: {exc}")
            continue
        problem = _status_problem(status)
        if problem:
            failures.append(f"{path}: {problem}")
        else:
            n_sent += 1
    return n_sent


def _status_problem(status: pydicom.Dataset) -> str | None:
    """None for success or a warning (the instance is stored); else the status and its meaning."""
    if "Status" not in status:
        return "no answer from the PACS (timed out or the association was aborted)"
    code = int(status.Status)
    if code == 0x0000 or code in _WARNING_CODES:
        return None
    meaning = STORAGE_SERVICE_CLASS_STATUS.get(code, (code_to_category(code), ""))
    text = " - ".join(part for part in meaning if part)
    comment = status.get("ErrorComment")
    return f"status 0x{code:04X} ({text}){f': {comment}' if comment else ''}"


def _association_failure(assoc: Association, host: str, port: int, timeout: float) -> str:
    """Why no association: rejected (with the PACS's reason), no context accepted, or no connection."""
    answer = assoc.acceptor.primitive
    where = f"{host}:{port}"
    if assoc.is_rejected and answer is not None:
        return f"association rejected by {where}: {answer.reason_str} ({answer.result_str})"
    if answer is not None and getattr(answer, "result", None) == 0:
        return f"{where} accepted the association but none of the SOP classes / transfer syntaxes"
    return f"cannot connect to {where}: {_connect_error(host, port, timeout)}"


def _connect_error(host: str, port: int, timeout: float) -> str:
    """The operating system's reason (refused, timed out, unknown host), found by trying again."""
    try:
        with socket.create_connection((host, port), timeout=min(timeout, 10)):
            return "the connection opened but the DICOM association failed (is it a DICOM port?)"
    except OSError as exc:
        return (exc.strerror or str(exc) or type(exc).__name__).lower()
