"""Where received or pulled instances go on disk, and how they are written.

File and folder names come from UIDs only (never patient names or IDs); files are written
with pipeline.report.outputs.write_atomic, so that a crash or a concurrent reader never sees
half a file.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.report.outputs import study_key


def instance_path(root: Path, study_uid: str, sop_uid: str) -> Path:
    """`root/<study folder>/<SOPInstanceUID>.dcm`; a malformed UID becomes a safe hashed name."""
    return root / study_key(study_uid) / f"{study_key(sop_uid)}.dcm"
