"""Studies as tasks on an existing Dask distributed cluster (`--scheduler`).

The task is the same `process_study` as locally, so the outputs are the same; the workers
read the inputs and write OUT/studies/<key>/ themselves, so both must be on a file system
the workers share with this machine. At most two tasks per worker thread are submitted at a
time, so that the scheduler never holds the whole batch. With `--study-timeout` each study
runs in a child interpreter of the worker that is killed when its time is up; a worker lost
while running a study fails that study (after Dask's own retries), never the batch.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import deque
from collections.abc import Iterator, Sequence

from pipeline.batch.child import run_in_subprocess
from pipeline.batch.events import Events
from pipeline.batch.job import StudyJob
from pipeline.batch.record import StudyRecord, failed_record
from pipeline.batch.task import process_study
from pipeline.errors import UsageError

log = logging.getLogger(__name__)


def run_dask(
    jobs: Sequence[StudyJob], address: str, timeout: float | None, events: Events
) -> Iterator[StudyRecord]:
    """Yield each study's record as its task finishes on the cluster."""
    try:
        from distributed import Client, as_completed
    except ImportError as exc:
        raise UsageError(f"--scheduler needs dask.distributed ({exc})") from None
    try:
        client = Client(address, timeout="30s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise UsageError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    with client:
        window = max(2, 2 * sum(client.nthreads().values()))
        queue, pending, completed = deque(jobs), {}, as_completed(loop=client.loop)
        run_id = uuid.uuid4().hex[:8]

        def submit() -> None:
            job = queue.popleft()
            future = client.submit(dask_task, job, timeout, key=f"calcscan-{run_id}-{job.key}", pure=False)
            pending[future] = (job, time.perf_counter())
            completed.add(future)
            events.started(job)

        for _ in range(min(window, len(queue))):
            submit()
        for future in completed:
            job, started = pending.pop(future)
            yield _outcome(future, job, started)
            future.release()
            if queue:
                submit()


def dask_task(job: StudyJob, timeout: float | None) -> StudyRecord:
    """What runs on a Dask worker."""
    if timeout is not None:
        return run_in_subprocess(job, timeout)
    return process_study(job)


def _outcome(future, job: StudyJob, started: float) -> StudyRecord:
    try:
        return future.result()
    except Exception as exc:  # the task could not run: worker lost, unpicklable, cancelled
        reason = f"Dask task failed: {type(exc).__name__}: {exc}"
        log.error("study %s failed: %s", job.key, reason)
        return failed_record(job.study, job.key, reason, time.perf_counter() - started)
