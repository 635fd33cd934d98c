"""The small, picklable objects the batch engine hands to wherever a study is analysed (a
worker process, a Dask worker, this process)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.batch.failpoints import VARIABLE as FAILPOINTS
from pipeline.config import Config
from pipeline.models import Study
from pipeline.report.outputs import study_key
from pipeline.report.study_outputs import OutputOptions
from pipeline.study_inputs import StudyInputs


@dataclass(frozen=True)
class StudyJob:
    """Everything one study's task needs: the task reads its files and writes OUT/studies/<key>."""

    study: Study
    out: Path
    config: Config
    extras: StudyInputs
    options: OutputOptions
    n_studies: int  # a single --anatomy file applies only to a run of one study
    fingerprint: str  # of inputs and settings, kept in record.json for --resume
    log_level: int  # the command line's, for worker processes
    # the command line's CALCSCAN_FAILPOINTS (tests only): a Dask worker has its own environment
    failpoints: str = field(default_factory=lambda: os.environ.get(FAILPOINTS, ""))

    @property
    def key(self) -> str:
        return study_key(self.study.uid) + self.study.output_suffix


@dataclass(frozen=True)
class BatchOptions:
    """How the studies of a run are scheduled (the command line's batch options)."""

    workers: int | None = None  # local worker processes; None: one per core; 0: in this process
    study_timeout: float | None = None  # seconds per study, then it is stopped and failed
    resume: bool = False  # keep complete outputs of an earlier run with the same inputs and settings
    scheduler: str | None = None  # a Dask distributed scheduler address: run the tasks there
    store_to: tuple = ()  # pipeline.pacs.targets.StoreTarget: where the SEG and SR are sent
    keep_other_studies: bool = False  # run.json also lists complete studies already in OUT (listener)
    progress: str = "auto"  # auto (bars on a terminal, lines otherwise) | bars | lines | none
    summary_table: bool = True  # at the end of the run (not for the listener's one-study runs)
    lock: bool = True  # hold OUT's lock for the run (the listener holds it itself)
    source_problems: tuple[str, ...] = ()  # studies the source could not give (a failed PACS pull)

    def n_workers(self, n_jobs: int) -> int:
        wanted = (os.cpu_count() or 1) if self.workers is None else self.workers
        return max(0, min(wanted, n_jobs))
