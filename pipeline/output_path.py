"""Is the output folder usable? Checked before anything is analysed or written.

A run that finds out only at its end (or in every worker) that OUT cannot be written has
wasted its time and dies with a traceback; an output path below a regular file, on a
read-only or pseudo file system (/proc, /sys) or in a folder without write permission is a
usage error instead (exit code 2, nothing written). The check really creates the missing
folders and a probe file, because permissions, read-only mounts and special file systems
are only reliably known by trying; then it removes what it made, so that a run stopped by
a later usage error leaves nothing behind either.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

from pipeline.errors import UsageError

_PROBE_PREFIX = ".calcscan-probe-"


def check_output_folder(out: Path) -> None:
    """Raise UsageError naming `out` and the reason unless it is, or can be made, a folder
    that files can be written in. The file system is left as it was found."""
    folder = Path(os.path.abspath(out))  # no '..' left to walk up through
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"output {out} exists and is not a folder")
    ancestor = _first_existing_ancestor(folder)
    if not ancestor.is_dir():
        raise UsageError(f"output {out} cannot be created: {_what_is_there(ancestor)}")
    created: list[Path] = []
    try:
        _make_folders(folder, ancestor, created, shown=out)
        _probe_write(folder, shown=out)
    finally:
        for made in reversed(created):
            _remove_empty(made)


def _first_existing_ancestor(path: Path) -> Path:
    """`path` itself or the nearest parent that exists (a broken symlink counts as existing:
    nothing can be created through it)."""
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(path.anchor)


def _what_is_there(path: Path) -> str:
    if path.is_symlink() and not path.exists():
        return f"{path} is a broken symbolic link"
    return f"{path} is a file, not a folder"


def _make_folders(folder: Path, ancestor: Path, created: list[Path], shown: Path) -> None:
    """Create the folders from below `ancestor` down to `folder`, recording each one made
    (`shown`: the output path as the user gave it, for messages)."""
    missing = [p for p in (folder, *folder.parents) if ancestor in p.parents]
    for step in reversed(missing):
        try:
            step.mkdir()
        except FileExistsError:
            if not step.is_dir():  # a file or broken link appeared there
                raise UsageError(f"output {shown} cannot be created: {step} is not a folder") from None
            continue  # made by someone else meanwhile: not ours to remove
        except OSError as exc:
            raise UsageError(f"output {shown} cannot be created: {_reason(exc, step.parent)}") from None
        created.append(step)


def _probe_write(folder: Path, shown: Path) -> None:
    """Create and delete a file in `folder`: only trying tells whether writing is allowed."""
    try:
        fd, name = tempfile.mkstemp(prefix=_PROBE_PREFIX, dir=folder)
    except OSError as exc:
        raise UsageError(f"output {shown} is not writable: {_reason(exc, folder)}") from None
    os.close(fd)
    Path(name).unlink(missing_ok=True)


def _remove_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):  # something was put there meanwhile: leave it
        folder.rmdir()


def _reason(exc: OSError, where: Path) -> str:
    """The OS error in words a user can act on."""
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied in {where}"
    if exc.errno == errno.EROFS:
        return f"{where} is on a read-only file system"
    if exc.errno == errno.ENOTDIR:
        return f"{where} is not a folder"
    if exc.errno == errno.ENOENT and where.is_dir():
        # pseudo file systems such as /proc answer "no such file" to any new entry
        return f"{where} does not accept new files or folders (a special or read-only file system)"
    if exc.errno == errno.ENOSPC:
        return f"no space left on the device of {where}"
    return f"{(exc.strerror or str(exc)).lower()} ({where})"
