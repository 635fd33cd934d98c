"""A DICOMweb client for a URL the user typed, and readable text for what went wrong.

requests' own messages bury the cause ("Max retries exceeded ... NewConnectionError(<object
at 0x...>)"); users need "connection refused" or "HTTP 404 Not Found" with the URL.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import requests
from dicomweb_client import DICOMwebClient

from pipeline.errors import UsageError

DEFAULT_TIMEOUT = 30.0
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


def check_http_url(url: str, what: str) -> str:
    """The URL without a trailing slash, if it is an http(s) URL with a host."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"{what}: {url!r} is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise UsageError(f"{what}: {url!r} must start with http:// or https://")
    if not parts.hostname:
        raise UsageError(f"{what}: {url!r} has no host name")
    if port == 0:
        raise UsageError(f"{what}: {url!r} has port 0")
    if parts.query or parts.fragment:
        raise UsageError(f"{what}: {url!r} must not have a query (?...) or fragment (#...)")
    return text.rstrip("/")


def make_client(url: str, timeout: float = DEFAULT_TIMEOUT) -> DICOMwebClient:
    """A client for a checked URL that retries a failed request twice, briefly.

    The library's default (5 attempts, 2-16 s apart) retries a refused connection too, so an
    unreachable server took 30 s per request to report; 0.5 s and 1 s still ride out a blip.
    """
    client = DICOMwebClient(url=url, timeout=timeout)
    client.set_http_retry_params(retry=True, max_attempts=3, wait_exponential_multiplier=250)
    return client


def describe_request_error(exc: BaseException) -> str:
    """A short reason: the HTTP status with the server's message, or the network error."""
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return _describe_http(exc.response)
    if isinstance(exc, requests.Timeout):
        return "no answer in time (timed out)"
    text = str(exc)
    found = _ERRNO.search(text)
    if found:
        return found.group(1).strip().rstrip(".").lower()
    if isinstance(exc, requests.ConnectionError):
        return f"connection failed ({text[:200]})"
    return f"{type(exc).__name__}: {text[:200]}"


def is_unreachable(exc: BaseException) -> bool:
    """No HTTP answer at all: the server is down, the port closed or the name unknown."""
    return isinstance(exc, (requests.ConnectionError, requests.Timeout))


def _describe_http(response: requests.Response) -> str:
    reason = f"HTTP {response.status_code} {response.reason or ''}".strip()
    detail = _server_message(response)
    return f"{reason}: {detail}" if detail else reason


def _server_message(response: requests.Response) -> str:
    """The server's own explanation (Orthanc sends JSON with Message/Details), shortened."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        parts = [str(body[key]) for key in ("Message", "Details") if body.get(key)]
        if parts:
            return " - ".join(parts)[:300]
    content_type = response.headers.get("Content-Type", "")
    if content_type.startswith("text/") and response.text.strip():
        return " ".join(response.text.split())[:300]
    return ""
