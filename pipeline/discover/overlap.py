"""One analysed volume per body region of a study: never the same finding counted twice.

A CT study routinely holds the same anatomy several times: soft-tissue and bone kernels,
thin and thick slices, axial acquisitions with coronal and sagittal reformats, two
acquisitions at the same positions in one series. Each analysed on its own would report
every deposit once per copy, and add them up in the study's totals and pattern evidence.
So among the volumes that share a frame of reference and image mostly the same space
(more than half of the smaller one's box), one is analysed and the others are listed with
the reason. The one kept is, in order of preference: acquired axially (a reformat is
derived from it), covering more of the body (in steps of 20%, so that two reconstructions
of one acquisition tie), without a contrast agent named in its header (contrast can hide
calcium), with more slices (thinner), then the lower series number.
"""

from __future__ import annotations

import math

import numpy as np

from pipeline.models import Series, Stack, Study

OVERLAP = 0.5  # share of the smaller box two volumes must share to be the same anatomy


def one_volume_per_anatomy(study: Study) -> None:
    """Mark every volume that repeats the anatomy of a preferred one as not analysed."""
    where = {id(st): se for se in study.series for st in se.stacks}
    volumes = [st for st in study.stacks if _candidate(st)]
    boxes = {id(st): st.plan.extent_lps for st in volumes}  # type: ignore[union-attr]
    kept: list[Stack] = []
    for stack in sorted(volumes, key=lambda st: _preference(st, where[id(st)], boxes[id(st)])):
        twin = next((k for k in kept if _same_space(stack, k, boxes)), None)
        if twin is None:
            kept.append(stack)
            continue
        stack.kind = "other"
        stack.reason = (
            f"shows the same anatomy as {_name(twin, where[id(twin)], where[id(stack)])}, which is "
            "analysed: not analysed too, so that a finding is not counted twice"
        )


def _candidate(stack: Stack) -> bool:
    return stack.kind == "ct_volume" and stack.plan is not None and not stack.failure


def _preference(stack: Stack, series: Series, box: tuple[np.ndarray, np.ndarray]) -> tuple:
    first = stack.slices[0].instance
    size = float(np.prod(np.maximum(box[1] - box[0], 1.0)))
    number = series.number if series.number is not None else 1 << 30
    return (
        stack.plan.orientation_label != "axial",  # type: ignore[union-attr]
        -math.floor(math.log(size) / math.log(1.2)),
        bool(first.contrast_agent),
        -len(stack.slices),
        number,
        series.uid,
        stack.index,
    )


def _same_space(a: Stack, b: Stack, boxes: dict[int, tuple[np.ndarray, np.ndarray]]) -> bool:
    frame_a = a.slices[0].instance.frame_of_reference_uid
    if not frame_a or frame_a != b.slices[0].instance.frame_of_reference_uid:
        return False
    return overlap(boxes[id(a)], boxes[id(b)]) > OVERLAP


def _name(twin: Stack, twin_series: Series, series: Series) -> str:
    if twin_series is series:
        return f"stack {twin.index + 1} of this series"
    number = f"series {twin_series.number}" if twin_series.number is not None else "another series"
    return f"{number} ({twin.series_uid})"


def overlap(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
    """Shared volume as a share of the smaller box (a single slice counts 1 mm deep)."""
    lo, hi = np.maximum(a[0], b[0]), np.minimum(a[1], b[1])
    if np.any(hi < lo):
        return 0.0
    shared = float(np.prod(np.maximum(hi - lo, 1.0)))
    return shared / min(float(np.prod(np.maximum(box[1] - box[0], 1.0))) for box in (a, b))
