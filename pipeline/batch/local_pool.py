"""Studies in local worker processes, at most `workers` at a time.

Memory is bounded by the studies in flight: each process holds one study and returns its
memory to the system when it ends. A process that dies (a segfault in a decoder, the OOM
killer) or outlives `--study-timeout` costs only its study, which is recorded as failed
with the reason; its scratch folder is removed, so no partial output is ever left.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing import forkserver
from multiprocessing.connection import Connection, wait
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess

from pipeline.batch.child import lost_worker, run_forked, timed_out
from pipeline.batch.events import Events
from pipeline.batch.job import StudyJob
from pipeline.batch.record import StudyRecord, failed_record
from pipeline.report.outputs import discard_scratch

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.5


@dataclass
class _Running:
    job: StudyJob
    process: BaseProcess
    conn: Connection
    started: float
    record: StudyRecord | None = None


def start_forkserver() -> BaseContext:
    """The forkserver the workers fork from, started now if it is not running.

    It imports calcscan once (a second or so), then forks a worker per study. Started
    before discovery, that import overlaps with reading the headers instead of delaying
    the first study."""
    ctx = multiprocessing.get_context("forkserver")
    # the analysis modules: the run itself never imports them, so its start is quick
    ctx.set_forkserver_preload(["pipeline.batch.child", "pipeline.batch.task"])
    forkserver.ensure_running()
    return ctx


def run_local(
    jobs: Sequence[StudyJob], workers: int, timeout: float | None, events: Events
) -> Iterator[StudyRecord]:
    """Yield each study's record as it finishes; stopping early (Ctrl-C, an error in the
    caller) kills the processes still running and removes their scratch folders."""
    ctx = start_forkserver()
    queue = deque(jobs)
    running: list[_Running] = []
    try:
        while queue or running:
            while queue and len(running) < workers:
                running.append(_start(ctx, queue.popleft(), events))
            wait([r.conn for r in running] + [r.process.sentinel for r in running], _POLL_SECONDS)
            for item in list(running):
                record = _check(item, timeout, events)
                if record is not None:
                    running.remove(item)
                    yield record
    finally:
        for item in running:
            _stop(item)


def _start(ctx, job: StudyJob, events: Events) -> _Running:
    receive, send = ctx.Pipe(duplex=True)  # duplex: the child also sees this end close
    process = ctx.Process(target=run_forked, args=(job, send), name=f"calcscan {job.key}", daemon=True)
    process.start()
    send.close()  # only the child holds its end: EOF here means it is gone, and the reverse
    events.started(job)
    return _Running(job, process, receive, time.monotonic())


def _check(item: _Running, timeout: float | None, events: Events) -> StudyRecord | None:
    """The study's record once its process is done (or lost, or out of time), else None."""
    _drain(item, events)
    if item.record is not None:
        item.process.join(10)
        return item.record
    elapsed = time.monotonic() - item.started
    if item.process.exitcode is not None:
        _drain(item, events)  # what it sent just before it ended
        if item.record is not None:
            return item.record
        reason = lost_worker(item.process.exitcode)
    elif timeout is not None and elapsed > timeout:
        reason = timed_out(timeout)
    else:
        return None
    log.error("study %s failed: %s", item.job.key, reason)
    _stop(item)
    return failed_record(item.job.study, item.job.key, reason, elapsed)


def _drain(item: _Running, events: Events) -> None:
    try:
        while item.record is None and item.conn.poll():
            message = item.conn.recv()
            if message[0] == "progress":
                events.progress(item.job.key, *message[1:])
            elif message[0] == "log":
                logging.getLogger(message[2]).log(message[1], "%s", message[3])
            elif message[0] == "done":
                item.record = message[1]
    except (EOFError, OSError):
        pass


def _stop(item: _Running) -> None:
    """Kill the process (if alive) and remove what it left of the study."""
    if item.process.is_alive():
        item.process.kill()
    item.process.join(10)
    item.conn.close()
    if item.record is None and item.process.pid is not None:
        discard_scratch(item.job.out, item.job.key, item.process.pid)
