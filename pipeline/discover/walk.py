"""Finding files: every regular file under the inputs, whatever its name.

DICOM files are recognised by content (the 'DICM' marker, or a raw dataset without
preamble), never by extension, because PACS exports and CD copies name files anything.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from pipeline.models import SkippedFile


def iter_files(roots: list[Path], follow_symlinks: bool, problems: list[SkippedFile]) -> Iterator[Path]:
    """Every file under `roots` once, in a stable order; unlistable folders go to `problems`."""
    seen: set[str] = set()

    def on_error(exc: OSError) -> None:
        problems.append(SkippedFile(Path(exc.filename), f"folder cannot be listed: {exc.strerror}"))

    for root in roots:
        if not os.path.lexists(root):
            continue
        if not root.is_dir():
            yield from _once(root, seen)
            continue
        for folder, dirs, files in os.walk(root, followlinks=follow_symlinks, onerror=on_error):
            dirs.sort()
            for name in sorted(files):
                yield from _once(Path(folder) / name, seen)


def _once(path: Path, seen: set[str]) -> Iterator[Path]:
    """Skip a file reached twice (two roots, or a symlink to a file already listed)."""
    key = os.path.realpath(path)
    if key not in seen:
        seen.add(key)
        yield path


def missing_roots(roots: list[Path]) -> list[SkippedFile]:
    return [SkippedFile(r, "input path does not exist") for r in roots if not os.path.lexists(r)]
