"""Where received or pulled instances go on disk, and how they are written.

File and folder names come from UIDs only (never patient names or IDs), and every write goes
to a temporary file first so that a crash or a concurrent reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from pipeline.report.outputs import study_key

PARTIAL_SUFFIX = ".partial"


def instance_path(root: Path, study_uid: str, sop_uid: str) -> Path:
    """`root/<study folder>/<SOPInstanceUID>.dcm`; a malformed UID becomes a safe hashed name."""
    return root / study_key(study_uid) / f"{study_key(sop_uid)}.dcm"


def write_atomic(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Call `write` on a new temporary file beside `path`, then move it into place.

    The temporary name is unique per call, so two threads receiving the same instance at once
    do not write into each other's file; the last one to finish wins with a complete file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}{PARTIAL_SUFFIX}")
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
