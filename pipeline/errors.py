"""Exceptions that carry a message meant for the user, and plain words for those that don't.

The command line turns `UsageError` subclasses into exit code 2 with the message only (no
traceback), as the report contract requires for usage and configuration errors.
"""

import re

_INTERNAL = "an unexpected condition in calcscan's code (run with -vv for details, and please report it)"


class CalcscanError(Exception):
    """Base class of every error calcscan raises on purpose."""


class UsageError(CalcscanError):
    """Bad command line, bad config file: nothing is written, exit code 2."""


class ConfigError(UsageError):
    """A config file that cannot be read or does not validate."""


class LoadError(CalcscanError):
    """A series or image that cannot be turned into pixels with geometry."""


def plain_message(exc: BaseException, otherwise: str = "") -> str:
    """What went wrong, in words, for a reason or warning: never Python's class names or
    messages (those go to the log with -vv), which mean nothing to the person reading the
    report. System errors keep the system's own sentence ("No space left on device");
    `otherwise` says what any other failure means where it was caught."""
    if isinstance(exc, MemoryError):
        return "not enough memory"
    if isinstance(exc, RecursionError):
        return "sequences nested too deeply to read"
    if isinstance(exc, UnicodeError):
        return "text in an unknown or invalid character set"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return otherwise or _INTERNAL


def decoder_message(exc: BaseException) -> str:
    """Why pixel data did not decode, in words. pydicom's own sentences are kept (without
    the class names some messages carry); messages from deeper down (numpy's array shapes,
    a Rust decoder's panic, pydicom's "raised by all available plugins:" with the cause
    only in its log) become the sentence they stand for."""
    if isinstance(exc, MemoryError):
        return "not enough memory to decode it"
    text = str(exc).splitlines()[0].strip() if str(exc) else ""
    from_pydicom = type(exc).__module__.startswith("pydicom")
    if not from_pydicom or "all available plugins" in text or "broadcast" in text or not text:
        return (
            "the compressed data does not decode to the image the header describes "
            "(damaged data, or Rows, Columns or BitsAllocated wrong)"
        )
    text = re.sub(r"\b[A-Z]\w*(Error|Exception)\b:?\s*", "", text).strip()
    return text[:200]


def must_propagate(exc: BaseException) -> bool:
    """Whether a caught BaseException must go on up: Ctrl-C, SIGTERM and exit do; a compiled
    decoder's panic (pyo3's PanicException is a BaseException too) is a failure of that
    file's data, not a reason to lose the process, and is handled like any Exception."""
    return not isinstance(exc, Exception) and type(exc).__name__ != "PanicException"
