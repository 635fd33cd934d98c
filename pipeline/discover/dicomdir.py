"""DICOMDIR media indexes: the files they list are read directly by the folder walk.

The index itself is only checked: files it references but that are missing on disk are
worth a warning (an incomplete CD copy), the rest is redundant with what the walk finds.
"""

from __future__ import annotations

from pathlib import Path

from pydicom.dataset import Dataset


def dicomdir_summary(path: Path, ds: Dataset) -> tuple[str, list[str]]:
    """(reason to list the DICOMDIR as not analysed itself, warnings for missing files)."""
    referenced = []
    for record in ds.get("DirectoryRecordSequence") or []:
        file_id = record.get("ReferencedFileID")
        if file_id:
            parts = [file_id] if isinstance(file_id, str) else list(file_id)
            referenced.append(Path(*[str(p) for p in parts]))
    base = path.parent
    missing = [ref for ref in referenced if not _exists_any_case(base, ref)]
    note = f"DICOMDIR media index of {len(referenced)} files (those files are read directly)"
    warnings = [f"{path}: DICOMDIR lists {ref} but it is not on disk" for ref in missing[:20]]
    if len(missing) > 20:
        warnings.append(f"{path}: ... and {len(missing) - 20} more missing files")
    return note, warnings


def _exists_any_case(base: Path, rel: Path) -> bool:
    """ISO 9660 media upper-case their names; copies to other file systems may not."""
    if (base / rel).exists():
        return True
    current = base
    for part in rel.parts:
        try:
            names = {p.name.upper(): p for p in current.iterdir()}
        except OSError:
            return False
        if part.upper() not in names:
            return False
        current = names[part.upper()]
    return True
