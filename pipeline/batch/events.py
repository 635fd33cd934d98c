"""What the schedulers tell whoever shows the run's progress."""

from __future__ import annotations

from typing import Protocol

from pipeline.batch.job import StudyJob


class Events(Protocol):
    def started(self, job: StudyJob) -> None:
        """A study's task has started (or, on Dask, been submitted)."""

    def progress(self, key: str, done: int, total: int, what: str) -> None:
        """A study's task reached step `done` of `total`, now doing `what`."""
