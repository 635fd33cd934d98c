"""Seconds per stage of one study, and the peak memory of the process that ran it.

A batch user sizing workers or hunting a slow study wants to know where the time went
(loading, masks, segmentation...), not just the total. The stages mark themselves with
`with stage("masks"):`; the batch task opens a `stage_clock()` around a study and puts what
it collected in run.json. Outside a clock (tests, library use), `stage` costs nothing.
The clock lives in a context variable, so the stages need no extra argument, and threads
(Dask) each see their own study's clock.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# the order run.json lists them in; stages do not nest, so the seconds add up
STAGES = (
    "load",
    "masks",
    "segmentation",
    "measures",
    "site_mapping",
    "radiograph",
    "report",
    "dicom_outputs",
)

_clock: ContextVar[dict[str, float] | None] = ContextVar("calcscan_stage_clock", default=None)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Add the time spent in the block to stage `name` of the current study's clock."""
    clock = _clock.get()
    if clock is None:
        yield
        return
    started = time.perf_counter()
    try:
        yield
    finally:
        clock[name] = clock.get(name, 0.0) + time.perf_counter() - started


@contextmanager
def stage_clock() -> Iterator[dict[str, float]]:
    """A fresh clock for one study; the dict fills in as the stages run."""
    clock: dict[str, float] = {}
    token = _clock.set(clock)
    try:
        yield clock
    finally:
        _clock.reset(token)


def stage_seconds(clock: dict[str, float]) -> dict[str, float]:
    """The clock in stage order, rounded to milliseconds, for run.json."""
    order = {name: i for i, name in enumerate(STAGES)}
    return {k: round(v, 3) for k, v in sorted(clock.items(), key=lambda kv: order.get(kv[0], len(order)))}


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MiB (Linux reports KiB, macOS bytes).

    In a batch worker (one process per study) this is the study's peak; in-process runs
    (--workers 0) it is the whole run's peak so far."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)
