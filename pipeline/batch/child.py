"""The body of a worker process: one study, then exit.

A study per process means a crash, a leak or a hang costs one study: the process is killed
and its memory returned to the system, whatever the stage did. Locally the processes are
forked from a forkserver that has imported calcscan once (`run_forked`); on a Dask worker
with a study timeout, a fresh interpreter is started instead (`run_in_subprocess`), since
Dask's worker processes may not have children of their own.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection

from pipeline.batch.failpoints import VARIABLE as FAILPOINTS
from pipeline.batch.job import StudyJob
from pipeline.batch.record import StudyRecord, failed_record
from pipeline.report.outputs import discard_scratch

_PR_SET_PDEATHSIG = 1


def run_forked(job: StudyJob, conn: Connection) -> None:
    """Entry point of a local worker process: messages go back over `conn`, whose other
    end only the run holds, so that its closing means the run has ended."""
    _die_with_parent()
    threading.Thread(target=_end_with_run, args=(conn,), daemon=True).start()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _log_to(conn, job.log_level)
    from pipeline.batch.task import process_study  # imported already: the forkserver preloads it

    record = process_study(job, lambda done, total, what: conn.send(("progress", done, total, what)))
    conn.send(("done", record))
    conn.close()


def run_in_subprocess(job: StudyJob, timeout: float | None) -> StudyRecord:
    """The study in a new interpreter, killed after `timeout` seconds."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.batch.child"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, FAILPOINTS: job.failpoints} if job.failpoints else None,
    )
    try:
        out, err = proc.communicate(pickle.dumps(job), timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        discard_scratch(job.out, job.key, proc.pid)
        return failed_record(job.study, job.key, timed_out(timeout), time.perf_counter() - started)
    if proc.returncode == 0 and out:
        return pickle.loads(out)
    discard_scratch(job.out, job.key, proc.pid)
    detail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
    reason = f"{lost_worker(proc.returncode)} {detail[0]}".strip()
    return failed_record(job.study, job.key, reason, time.perf_counter() - started)


def timed_out(timeout: float | None) -> str:
    return f"stopped after {timeout:g} s (--study-timeout)"


def lost_worker(exitcode: int | None) -> str:
    """Why a worker process ended without a result, in words."""
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        hint = " (out of memory?)" if -exitcode == signal.SIGKILL else ""
        return f"worker process killed by {name}{hint}"
    return f"worker process ended with exit code {exitcode} and no result"


def _end_with_run(conn: Connection) -> None:
    """Kill this process as soon as the run that started it is gone (killed with SIGKILL,
    say): its work would be thrown away, and it must not write into OUT behind the back of
    the next run. The run never sends anything, so recv() returns only with EOF."""
    try:
        while True:
            conn.recv()
    except (EOFError, OSError):
        os.kill(os.getpid(), signal.SIGKILL)


def _die_with_parent() -> None:
    """Linux: the kernel kills this process when its parent (the forkserver) dies: a second
    line of defence beside `_end_with_run`."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class _PipeHandler(logging.Handler):
    """Log records of a worker, sent to the parent that shows them with its own handler."""

    def __init__(self, conn: Connection) -> None:
        super().__init__()
        self.conn = conn

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(("log", record.levelno, record.name, record.getMessage()))


def _log_to(conn: Connection, level: int) -> None:
    root = logging.getLogger()
    root.handlers[:] = [_PipeHandler(conn)]
    root.setLevel(level)
    logging.getLogger("pydicom").setLevel(logging.DEBUG if level <= logging.DEBUG else logging.CRITICAL + 1)


def _main() -> None:
    """`python -m pipeline.batch.child`: a pickled StudyJob on stdin, its record on stdout."""
    job: StudyJob = pickle.loads(sys.stdin.buffer.read())
    logging.basicConfig(level=job.log_level, stream=sys.stderr)
    from pipeline.batch.task import process_study

    record = process_study(job)
    sys.stdout.buffer.write(pickle.dumps(record))


if __name__ == "__main__":
    _main()
