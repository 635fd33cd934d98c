"""Reading attribute values that never raises on malformed files.

Real archives hold invalid values (an IS of '1A', a DS with junk): a header with one bad
attribute must still be usable for everything else, so every read goes through these.
"""

from __future__ import annotations

from typing import Any

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue


def value_of(ds: Dataset | None, keyword: str) -> Any:
    if ds is None:
        return None
    try:
        return ds.get(keyword)
    except Exception:  # malformed value (bad VR, unparseable number)
        return None


def text(ds: Dataset | None, keyword: str) -> str | None:
    value = value_of(ds, keyword)
    if value is None:
        return None
    cleaned = str(value).strip()
    return cleaned or None


def strings(ds: Dataset | None, keyword: str) -> tuple[str, ...]:
    value = value_of(ds, keyword)
    if value is None or value == "":
        return ()
    if isinstance(value, str | bytes):
        value = [value]
    return tuple(str(v).strip().upper() for v in value)


def number(ds: Dataset | None, keyword: str) -> float | None:
    value = value_of(ds, keyword)
    if value is None or value == "":
        return None
    try:
        if isinstance(value, list | tuple | MultiValue):
            value = value[0]
        return float(value)
    except (TypeError, ValueError, IndexError):
        return None


def integer(ds: Dataset | None, keyword: str) -> int | None:
    found = number(ds, keyword)
    return None if found is None else int(found)


def vector(ds: Dataset | None, keyword: str, n: int) -> tuple[float, ...] | None:
    value = value_of(ds, keyword)
    try:
        numbers = tuple(float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None
    return numbers if len(numbers) == n else None


def positive_pair(ds: Dataset | None, keyword: str) -> tuple[float, float] | None:
    pair = vector(ds, keyword, 2)
    if pair is None or min(pair) <= 0:
        return None
    return (pair[0], pair[1])


def present(ds: Dataset | None, keyword: str) -> bool:
    """The attribute is in the dataset with a non-empty value (whether or not it parses)."""
    if ds is None or keyword not in ds:
        return False
    shown = raw_text(ds, keyword)
    return bool(shown)


def raw_text(ds: Dataset | None, keyword: str) -> str:
    """The value as the file spells it, for messages about values that do not parse."""
    if ds is None:
        return ""
    try:
        elem = ds.get_item(keyword)
    except Exception:
        return ""
    value = getattr(elem, "value", None)
    if isinstance(value, bytes):
        return value.decode("latin-1", "replace").strip(" \x00")[:64]
    return "" if value is None else str(value).strip()[:64]
