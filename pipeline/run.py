"""A calcscan run: discover the inputs, analyse every study, write the contract's outputs.

OUT/run.json, OUT/summary.csv, OUT/index.html and per study OUT/studies/<key>/ (report.json,
report.html with images/, dicom/ SEG and SR, record.json). One study failing never stops
the others; the exit code says whether any did (report contract: 0 all analysed, 1 at least
one failed, 2 usage error; 130/143 when interrupted by SIGINT/SIGTERM, after run.json has
recorded the studies finished so far).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import logging
import platform
import signal
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from pipeline import __version__
from pipeline.batch.job import BatchOptions, StudyJob
from pipeline.batch.local_pool import run_local, start_forkserver
from pipeline.batch.lock import output_lock
from pipeline.batch.progress import Bars, Lines, Silent
from pipeline.batch.record import SUMMARY_COLUMNS, StudyRecord
from pipeline.batch.resume import completed, fingerprint, matching_record, records_in
from pipeline.config import Config
from pipeline.discover import discover
from pipeline.file_accounting import top_reasons
from pipeline.models import Discovery
from pipeline.report.deidentify import scrub
from pipeline.report.html_index import write_index_html
from pipeline.report.outputs import remove_partials, write_csv_atomic, write_json_atomic
from pipeline.report.study_outputs import OutputOptions
from pipeline.study_inputs import StudyInputs

log = logging.getLogger(__name__)

_SIGNAL_EXIT = {"SIGINT": 130, "SIGTERM": 143}
NOTHING_TO_ANALYSE = 3


class Interrupted(BaseException):
    """SIGTERM, turned into an exception so that the run ends as cleanly as after Ctrl-C
    (a BaseException, like KeyboardInterrupt, so that no study's error handling takes it)."""


def run_batch(
    inputs: Sequence[Path],
    out: Path,
    config: Config,
    extras: StudyInputs | None = None,
    options: OutputOptions | None = None,
    batch: BatchOptions | None = None,
) -> int:
    """Run every study under `inputs` into `out`; the exit code of the report contract."""
    batch = batch or BatchOptions()
    options = options or OutputOptions()
    options = replace(options, settings=options.settings or config.as_dict())
    with output_lock(out) if batch.lock else contextlib.nullcontext(), _sigterm_raises():
        return _run(inputs, out, config, extras or StudyInputs(), options, batch)


def _run(
    inputs: Sequence[Path],
    out: Path,
    config: Config,
    extras: StudyInputs,
    options: OutputOptions,
    batch: BatchOptions,
) -> int:
    started = dt.datetime.now(dt.UTC)
    out.mkdir(parents=True, exist_ok=True)
    remove_partials(out)
    if not batch.scheduler and batch.workers != 0:
        start_forkserver()  # its import of calcscan overlaps with discovery
    found = discover(list(inputs), config)
    log.info("%d studies in %d files (%d not used)", len(found.studies), found.n_files, len(found.skipped))
    _warn_single_label_map(found, extras)
    jobs = _jobs(found, out, config, extras, options)
    kept = {j.key: r for j in jobs if batch.resume and (r := completed(out, j.study, j.fingerprint))}
    with _display(batch, len(jobs)) as show:
        records, interrupted = _process(jobs, kept, out, batch, show)
        ordered = [records[j.key] for j in jobs if j.key in records]
        if batch.keep_other_studies:
            ordered += records_in(out, exclude={j.key for j in jobs})
        finished = dt.datetime.now(dt.UTC)
        if batch.summary_table:
            show.summary(ordered, (finished - started).total_seconds())
    code = _exit_code(ordered, interrupted, batch)
    if code == NOTHING_TO_ANALYSE:
        _say_nothing_to_analyse(found, ordered)
    run = _run_json(inputs, config, found, ordered, started, finished, code, batch, len(jobs) - len(kept))
    if interrupted:
        run["interrupted"] = {
            "signal": interrupted,
            "unfinished": [j.key for j in jobs if j.key not in records],
        }
    _write_run_files(out, run, ordered, found, options)
    remove_partials(out)  # what workers stopped by a timeout or an interrupt left
    return code


def _process(
    jobs: list[StudyJob], kept: dict[str, StudyRecord], out: Path, batch: BatchOptions, show: Silent
) -> tuple[dict[str, StudyRecord], str | None]:
    """Every study's record by key (kept ones first, then as their tasks finish), each stored
    to the --store-to targets as it comes; and the signal that interrupted the run, if any."""
    previous = _previous_entries(out)
    todo = [j for j in jobs if j.key not in kept]
    records: dict[str, StudyRecord] = {}
    try:
        with contextlib.closing(_finished(kept.values(), todo, batch, show)) as stream:
            for record in stream:
                _store(record, out, batch.store_to, previous.get(record.key))
                records[record.key] = record
                show.finished(record, len(records), len(jobs))
    except (KeyboardInterrupt, Interrupted) as exc:
        interrupted = "SIGTERM" if isinstance(exc, Interrupted) else "SIGINT"
        records.update(_written_meanwhile(out, [j for j in jobs if j.key not in records]))
        log.error("run interrupted (%s): %d of %d studies finished", interrupted, len(records), len(jobs))
        return records, interrupted
    return records, None


def _jobs(
    found: Discovery, out: Path, config: Config, extras: StudyInputs, options: OutputOptions
) -> list[StudyJob]:
    n = len(found.studies)
    level = logging.getLogger().getEffectiveLevel()
    return [
        StudyJob(
            study, out, config, extras, options, n, fingerprint(study, config, options, extras, n), level
        )
        for study in found.studies
    ]


def _finished(
    kept: Iterable[StudyRecord], todo: list[StudyJob], batch: BatchOptions, show: Silent
) -> Iterator[StudyRecord]:
    """The kept records first, then each study's record as its task finishes."""
    yield from kept
    with contextlib.closing(_execute(todo, batch, show)) as records:  # stops the workers when closed
        yield from records


def _written_meanwhile(out: Path, unfinished: list[StudyJob]) -> dict[str, StudyRecord]:
    """Studies whose worker had put the complete folder in place when the run was interrupted,
    before it could report back: run.json lists every complete folder of this run."""
    records = {job.key: matching_record(out, job.key, job.fingerprint) for job in unfinished}
    return {key: record for key, record in records.items() if record is not None}


def _execute(todo: list[StudyJob], batch: BatchOptions, show: Silent) -> Iterator[StudyRecord]:
    if not todo:
        return (record for record in ())  # closable, like the schedulers
    if batch.scheduler:
        from pipeline.batch.dask_pool import run_dask

        return run_dask(todo, batch.scheduler, batch.study_timeout, show)
    workers = batch.n_workers(len(todo))
    if workers == 0:
        return _in_process(todo, batch, show)
    return run_local(todo, workers, batch.study_timeout, show)


def _in_process(todo: list[StudyJob], batch: BatchOptions, show: Silent) -> Iterator[StudyRecord]:
    """--workers 0: every study in this process, one after another (for debugging)."""
    if batch.study_timeout is not None:
        log.warning("--study-timeout is not enforced with --workers 0 (no worker process to stop)")
    from pipeline.batch.task import process_study  # the analysis modules, only when needed here

    for job in todo:
        show.started(job)
        yield process_study(job, functools.partial(show.progress, job.key))


def _display(batch: BatchOptions, n_total: int) -> Silent:
    mode = batch.progress
    if mode == "auto":
        mode = "bars" if sys.stderr.isatty() else "lines"
    return {"bars": lambda: Bars(n_total), "lines": Lines, "none": Silent}[mode]()


def _store(record: StudyRecord, out: Path, targets: tuple, previous: dict[str, Any] | None) -> None:
    """Send the study's SEG and SR to each --store-to target (once: a study kept by --resume
    that an earlier run already stored there is not sent again)."""
    if not targets or record.status == "failed":
        return
    from pipeline.pacs.targets import store_files

    done = {s["target"]: s for s in (previous or {}).get("stored", []) if not s.get("error")}
    files = sorted((out / "studies" / record.key / "dicom").glob("*.dcm"))
    for target in targets:
        if record.resumed and str(target) in done:
            record.stored.append(done[str(target)])
            continue
        outcome = store_files(target, files)
        if outcome.error:
            log.error("study %s: storing to %s failed: %s", record.key, target, outcome.error)
        record.stored.append(asdict(outcome))


def _exit_code(records: list[StudyRecord], interrupted: str | None, batch: BatchOptions) -> int:
    """The contract's exit code: 3 when nothing could be analysed because no input is a
    usable image (nothing found, or every study's images unusable); a study that failed for
    any other reason (a crash, a timeout) or a PACS that failed is 1."""
    if interrupted:
        return _SIGNAL_EXIT[interrupted]
    failed = [r for r in records if r.status == "failed"]
    store_failed = any(s.get("error") for r in records for s in r.stored)
    if batch.source_problems or store_failed or any(not r.inputs_unusable for r in failed):
        return 1
    if not any(r.status == "analyzed" for r in records):
        return NOTHING_TO_ANALYSE
    return 1 if failed else 0


def _say_nothing_to_analyse(found: Discovery, records: list[StudyRecord]) -> None:
    """Exit code 3 deserves a sentence even under -q: what was found and why none of it."""
    reasons = [s.reason for s in found.skipped] + [f["reason"] for r in records for f in r.unused_files]
    if not found.n_files:
        log.error("nothing to analyse: no files under %s", ", ".join(map(str, found.roots)))
        return
    log.error(
        "nothing to analyse: %d file(s) found, none usable (%s); each file and its reason is in run.json",
        found.n_files,
        top_reasons(reasons) or "no CT or radiograph images",
    )


def _write_run_files(
    out: Path, run: dict[str, Any], records: list[StudyRecord], found: Discovery, options: OutputOptions
) -> None:
    rows = [r.summary_row for r in records]
    if options.deidentifier is not None:
        identifiers = {i for study in found.studies for i in study.patient_identifiers}
        run["deidentified"] = options.deidentifier.describe()
        run, rows = scrub(run, identifiers), scrub(rows, identifiers)
    write_json_atomic(out / "run.json", run)
    write_csv_atomic(out / "summary.csv", SUMMARY_COLUMNS, rows)
    if options.html:
        write_index_html(out, run)


def _previous_entries(out: Path) -> dict[str, dict[str, Any]]:
    """run.json's study entries of the run before this one (what it stored where)."""
    try:
        run = json.loads((out / "run.json").read_text(encoding="utf-8"))
        return {s["key"]: s for s in run.get("studies", [])}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _warn_single_label_map(found: Discovery, extras: StudyInputs) -> None:
    if extras.anatomy is not None and extras.anatomy.is_file() and len(found.studies) > 1:
        found.warnings.append(
            f"--anatomy {extras.anatomy} is one label map but {len(found.studies)} studies were found: "
            "not used (give a folder of <StudyInstanceUID>.nii.gz instead)"
        )


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """`kill` ends the run the way Ctrl-C does: workers stopped, run.json written."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise Interrupted()

    before = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def _run_json(
    inputs: Sequence[Path],
    config: Config,
    found: Discovery,
    records: list[StudyRecord],
    started: dt.datetime,
    finished: dt.datetime,
    exit_code: int,
    batch: BatchOptions,
    n_analysed: int,
) -> dict[str, Any]:
    return {
        "tool": {"name": "calcscan", "version": __version__, "python": platform.python_version()},
        "inputs": [str(p) for p in inputs],
        "config": config.as_dict(),
        "started": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "seconds": round((finished - started).total_seconds(), 3),
        "exit_code": exit_code,
        "n_files": found.n_files,
        "batch": {
            "workers": None if batch.scheduler or not n_analysed else batch.n_workers(n_analysed),
            "scheduler": batch.scheduler,
            "study_timeout": batch.study_timeout,
            "resume": batch.resume,
            "store_to": [str(t) for t in batch.store_to],
            "n_kept": sum(r.resumed for r in records),
        },
        "n_files_used": sum(r.n_files_used or 0 for r in records),
        "studies": [r.run_entry() for r in records],
        "skipped_files": [{"path": str(s.path), "reason": s.reason} for s in found.skipped]
        + [{**f, "study": r.key} for r in records for f in r.unused_files],
        "warnings": list(found.warnings) + list(batch.source_problems),
    }
