"""Finding files: every regular file under the inputs, whatever its name.

DICOM files are recognised by content (the 'DICM' marker, or a raw dataset without
preamble), never by extension, because PACS exports and CD copies name files anything.

Every entry the walk meets is accounted for: a file it yields is counted in `n_found`; a
folder it does not enter (a symbolic link when links are not followed, a link back into a
folder already read) or a file reached a second time under another name is counted too and
listed with its reason, so that run.json can say what happened to each entry.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from pipeline.models import SkippedFile


class FileWalk:
    """Iterates over every file under `roots` once, in a stable order."""

    def __init__(self, roots: list[Path], follow_symlinks: bool, problems: list[SkippedFile]) -> None:
        self.roots = roots
        self.follow_symlinks = follow_symlinks
        self.problems = problems
        self.n_found = 0  # files yielded plus entries listed in `problems` by the walk
        self._files: dict[str, Path] = {}  # real path -> first path it was reached by
        self._folders: set[str] = set()

    def __iter__(self) -> Iterator[Path]:
        for root in self.roots:
            if not os.path.lexists(root):
                continue
            if root.is_dir():
                yield from self._walk(root)
            else:
                yield from self._once(root)

    def _walk(self, root: Path) -> Iterator[Path]:
        def on_error(exc: OSError) -> None:
            self._note(Path(exc.filename), f"folder cannot be listed: {exc.strerror}")

        self._folders.add(os.path.realpath(root))
        for folder, dirs, files in os.walk(root, followlinks=self.follow_symlinks, onerror=on_error):
            dirs[:] = [d for d in sorted(dirs) if self._enter(Path(folder) / d)]
            for name in sorted(files):
                yield from self._once(Path(folder) / name)

    def _enter(self, path: Path) -> bool:
        """Whether the walk goes into this subfolder; if not, say why."""
        if path.is_symlink() and not self.follow_symlinks:
            self._note(path, "symbolic link to a folder: not followed (loader.follow_symlinks reads it)")
            return False
        real = os.path.realpath(path)
        if real in self._folders:
            self._note(path, f"folder already read as {real} (a symbolic link loop or a second input)")
            return False
        self._folders.add(real)
        return True

    def _once(self, path: Path) -> Iterator[Path]:
        """A file reached twice (two roots, or a symlink to a file already listed) is read once."""
        key = os.path.realpath(path)
        first = self._files.get(key)
        if first is None:
            self._files[key] = path
            self.n_found += 1
            yield path
        elif first != path:
            self._note(path, f"same file as {first} (reached again by another path): read once")

    def _note(self, path: Path, reason: str) -> None:
        self.n_found += 1
        self.problems.append(SkippedFile(path, reason))


def missing_roots(roots: list[Path]) -> list[SkippedFile]:
    return [SkippedFile(r, "input path does not exist") for r in roots if not os.path.lexists(r)]
