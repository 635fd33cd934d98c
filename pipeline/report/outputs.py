"""Writing a run's outputs so that a crash never leaves a half-written report.

Each study is written into a temporary folder beside its final place and renamed when
complete; run.json and summary.csv are written to a temporary file and renamed. A reader
therefore sees either the previous complete output or the new complete one.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def write_csv_atomic(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())


def write_study_folder(final: Path, fill: Callable[[Path], None]) -> None:
    """Let `fill` write a study's files into a temporary folder, then swap it into place."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        fill(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = final.with_name(f".{final.name}.{os.getpid()}.old")
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)


def remove_partials(root: Path) -> None:
    """Clear leftovers of an interrupted run (temporary files and folders)."""
    if not root.is_dir():
        return
    for path in root.rglob(".*.partial"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    for path in root.rglob(".*.old"):
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
