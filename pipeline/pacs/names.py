"""Checks of the names a user types for DICOM peers: AE titles, hosts and ports."""

from __future__ import annotations

from pipeline.errors import UsageError

AE_TITLE_MAX = 16


def check_ae_title(text: str, what: str) -> str:
    """An AE title as DICOM allows it (1-16 printable ASCII characters, no backslash).

    Leading and trailing spaces are not significant in DICOM, so they are dropped here rather
    than sent, which would make some PACS reject the association.
    """
    title = text.strip()
    if not title:
        raise UsageError(f"{what}: the AE title is empty")
    if len(title) > AE_TITLE_MAX:
        raise UsageError(f"{what}: AE title {title!r} is {len(title)} characters long (at most 16)")
    bad = sorted({ch for ch in title if not (" " <= ch <= "~") or ch == "\\"})
    if bad:
        raise UsageError(f"{what}: AE title {title!r} has characters DICOM does not allow: {bad}")
    return title


def check_port(text: str | int, what: str) -> int:
    """A TCP port number, 1..65535."""
    try:
        port = int(str(text).strip())
    except ValueError:
        raise UsageError(f"{what}: port {text!r} is not a number") from None
    if not 1 <= port <= 65535:
        raise UsageError(f"{what}: port {port} is outside 1..65535")
    return port


def check_host(text: str, what: str) -> str:
    """A host name or IP address (IPv6 without brackets); empty or with spaces is a typo."""
    host = text.strip()
    if not host or any(ch.isspace() or ch in "/@" for ch in host):
        raise UsageError(f"{what}: {text!r} is not a host name or IP address")
    return host
