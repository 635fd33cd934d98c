"""Where the SEG and SR of a study are sent: a DICOMweb (STOW-RS) URL or a DICOM (C-STORE) peer.

A target is typed on the command line as `dicomweb:https://pacs/dicom-web` or
`dimse:AET@host:port`; it is checked before any analysis runs, so a typo stops the run at once
instead of after hours of work.  Sending never raises for network or PACS failures: the study's
results are already on disk, and the outcome is reported per target.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import UsageError
from pipeline.pacs.cstore import cstore_files
from pipeline.pacs.names import check_ae_title, check_host, check_port
from pipeline.pacs.stow import stow_files
from pipeline.pacs.webclient import check_http_url

DICOMWEB = "dicomweb"
DIMSE = "dimse"
_FORMS = "expected dicomweb:http(s)://host/path or dimse:AET@host:port"


@dataclass(frozen=True)
class StoreTarget:
    """A parsed store target; `str()` gives the spec text back (for logs and run records)."""

    kind: str  # "dicomweb" | "dimse"
    url: str | None = None
    ae_title: str | None = None
    host: str | None = None
    port: int | None = None

    def __str__(self) -> str:
        if self.kind == DICOMWEB:
            return f"{DICOMWEB}:{self.url}"
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        return f"{DIMSE}:{self.ae_title}@{host}:{self.port}"


@dataclass
class StoreOutcome:
    """What happened when sending to one target: `error` is None when every file was stored."""

    target: str
    n_sent: int
    error: str | None


def parse_store_target(text: str) -> StoreTarget:
    """`dicomweb:URL` or `dimse:AET@host:port`, checked; UsageError says what is wrong."""
    kind, sep, rest = text.strip().partition(":")
    if not sep or kind.lower() not in (DICOMWEB, DIMSE):
        raise UsageError(f"store target {text!r}: {_FORMS}")
    what = f"store target {text!r}"
    if kind.lower() == DICOMWEB:
        return StoreTarget(DICOMWEB, url=check_http_url(rest, what))
    return _parse_dimse(rest, what)


def _parse_dimse(rest: str, what: str) -> StoreTarget:
    ae_title, at, address = rest.rpartition("@")
    if not at:
        raise UsageError(f"{what}: no '@' ({_FORMS})")
    host, colon, port = address.rpartition(":")
    if not colon:
        raise UsageError(f"{what}: no ':port' after the host ({_FORMS})")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]  # an IPv6 address in brackets
    elif ":" in host:
        raise UsageError(f"{what}: write an IPv6 address in brackets, e.g. dimse:AET@[::1]:104")
    return StoreTarget(
        DIMSE,
        ae_title=check_ae_title(ae_title, what),
        host=check_host(host, what),
        port=check_port(port, what),
    )


def store_files(
    target: StoreTarget, paths: list[Path], calling_ae: str = "CALCSCAN", timeout: float = 30
) -> StoreOutcome:
    """Send the files to the target; failures come back as text naming the target and file.

    Nothing here raises for a bad calling AE title either: this runs after the analysis, and
    one unusable target must not lose the other targets or the rest of the batch.
    """
    paths = list(dict.fromkeys(paths))  # a file listed twice is sent once
    if not paths:
        return StoreOutcome(str(target), 0, None)
    if target.kind == DICOMWEB:
        n_sent, error = stow_files(str(target.url), paths, timeout)
    else:
        try:
            calling = check_ae_title(calling_ae, "calling AE title")
        except UsageError as exc:
            return StoreOutcome(str(target), 0, f"{target}: {exc}")
        peer = (str(target.ae_title), str(target.host), int(target.port or 0))
        n_sent, error = cstore_files(peer, paths, calling, timeout)
    return StoreOutcome(str(target), n_sent, f"{target}: {error}" if error else None)
