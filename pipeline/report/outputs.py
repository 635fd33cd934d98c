"""Writing a run's outputs so that a crash never leaves a half-written report.

Each study is written into a temporary folder beside its final place and renamed when
complete; run.json and summary.csv are written to a temporary file and renamed. A reader
therefore sees either the previous complete output or the new complete one.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

_SAFE = re.compile(r"[^0-9A-Za-z._-]")


def study_key(study_uid: str) -> str:
    """A folder name from the StudyInstanceUID only (never patient name or ID).

    A valid UID (digits and dots) is used as it is; anything else is made safe and given a
    short hash so that two different UIDs never share a folder.
    """
    cleaned = _SAFE.sub("_", study_uid.strip())[:80]
    if cleaned == study_uid and cleaned and not cleaned.startswith("."):
        return cleaned
    digest = hashlib.sha1(study_uid.encode("utf-8")).hexdigest()[:10]
    return f"{cleaned.lstrip('.') or 'study'}_{digest}"


def write_atomic(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Call `write` on a new temporary file beside `path`, then move it into place: a reader
    sees the old file or the new one, never half of one.

    The temporary name is unique per call, so two threads writing the same file at once
    (the receiver getting one instance twice) do not write into each other's file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
    try:
        with open(tmp, "xb") as stream:
            write(stream)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_bytes_atomic(path: Path, data: bytes) -> None:
    write_atomic(path, lambda stream: stream.write(data))


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def write_csv_atomic(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())


SCRATCH = ".calcscan-tmp"  # beside studies/, so that studies/ only ever holds complete folders


def scratch_folder(out: Path, key: str, pid: int | None = None) -> Path:
    """Where the process `pid` (default: this one) writes study `key` before the rename."""
    return out / SCRATCH / f"{key}.{pid or os.getpid()}"


def write_study_folder(out: Path, key: str, fill: Callable[[Path], None]) -> Path:
    """Let `fill` write a study's files into a scratch folder, then swap it into
    OUT/studies/<key> with renames on one file system: a kill at any moment leaves either
    the previous complete folder or the new complete one, never a partial one."""
    final = out / "studies" / key
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = scratch_folder(out, key)
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        fill(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = tmp.with_name(tmp.name + ".old")
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)
    return final


def discard_scratch(out: Path, key: str, pid: int) -> None:
    """Remove what a killed worker process left of study `key`."""
    tmp = scratch_folder(out, key, pid)
    for path in (tmp, tmp.with_name(tmp.name + ".old")):
        shutil.rmtree(path, ignore_errors=True)


def remove_partials(out: Path) -> None:
    """Clear leftovers of an interrupted run: the scratch folder and temporary files."""
    if not out.is_dir():
        return
    shutil.rmtree(out / SCRATCH, ignore_errors=True)
    for path in out.glob(".*.partial"):
        path.unlink(missing_ok=True)
