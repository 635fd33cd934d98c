"""One SOP Instance UID, one image: copies used once, conflicting files set aside.

The same instance often arrives twice (a CD copy beside a PACS export, the same file
re-encoded). A copy is harmless and is used once. Two files that claim one SOP Instance UID
but hold different images are not: the one that happens to sort first would silently
decide the analysis, so neither is used and both are named.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import pydicom

from pipeline.dicom.identity import file_sha256
from pipeline.errors import must_propagate
from pipeline.models import InstanceHeader, SkippedFile


def drop_duplicate_instances(
    instances: list[InstanceHeader], skipped: list[SkippedFile]
) -> list[InstanceHeader]:
    """One SOP Instance UID, one image. Copies of it (the same bytes, or the same header and
    pixel values in another encoding) are used once, a usable copy before a damaged one.
    Files that share the UID but hold different images conflict: which one is the real
    slice cannot be known, so none is used, and each is set aside with the reason."""
    by_uid: dict[str, list[InstanceHeader]] = defaultdict(list)
    for inst in instances:
        by_uid[inst.sop_instance_uid].append(inst)
    kept: list[InstanceHeader] = []
    for uid, group in by_uid.items():
        group = sorted(group, key=lambda i: i.problem is not None)  # stable: usable first
        usable = [i for i in group if i.problem is None]
        if len({_content_key(i) for i in usable}) > 1 or (usable and _pixels_differ(usable)):
            names = ", ".join(i.path.name for i in usable[:4])
            reason = (
                f"SOP Instance UID {uid} is used by {len(usable)} files with different images "
                f"({names}): none of them is used"
            )
            kept += [replace(i, problem=reason) for i in usable]
            skipped += [SkippedFile(i.path, i.problem or reason) for i in group if i.problem]
            continue
        first = group[0]
        kept.append(first)
        for inst in group[1:]:
            copy = f"same SOP Instance UID as {first.path} (another copy of that image): used once"
            skipped.append(SkippedFile(inst.path, inst.problem or copy))
    order = {id(i): n for n, i in enumerate(instances)}
    return sorted(kept, key=lambda i: order.get(id(i), -1))


def _content_key(inst: InstanceHeader) -> tuple:
    """What two copies of one image must share: where it is and how its values map."""
    frames = tuple(
        (f.position, f.orientation, f.pixel_spacing, f.rescale_slope, f.rescale_intercept)
        for f in inst.frames
    )
    return (inst.study_uid, inst.series_uid, inst.rows, inst.columns, inst.number_of_frames, frames)


def _pixels_differ(group: list[InstanceHeader]) -> bool:
    """Whether files claiming one SOP instance hold different pixel values (decoded, so that
    a re-encoded copy is still a copy). Only files that share a UID get here: rare."""
    if len(group) < 2:
        return False
    digests = {file_sha256(i.path) for i in group}
    if len(digests) == 1:
        return False
    arrays = [_pixel_values(i.path) for i in group]
    if any(a is None for a in arrays):
        return True
    return not all(np.array_equal(arrays[0], a) for a in arrays[1:])


def _pixel_values(path: Path) -> np.ndarray | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pydicom.dcmread(path, force=True).pixel_array
    except BaseException as exc:
        if must_propagate(exc):
            raise
        return None
