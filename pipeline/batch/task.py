"""One study, start to finish: analyse it, write its folder, return its record.

The same function runs in a local worker process, on a Dask worker or in this process, so
that every way of running a batch gives the same outputs. Errors inside the study become a
failed record; only the loss of the whole process (a kill, a timeout) is handled outside.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.analyse import analyse_study
from pipeline.batch import failpoints
from pipeline.batch.job import StudyJob
from pipeline.batch.record import RECORD_FILE, StudyRecord, failed_record, summary_row
from pipeline.errors import must_propagate, plain_message
from pipeline.file_accounting import source_folders, top_reasons
from pipeline.models import StudyResult
from pipeline.report.deidentify import scrub
from pipeline.report.json_report import study_report
from pipeline.report.outputs import write_json_atomic, write_study_folder
from pipeline.report.study_outputs import OutputOptions, write_study_outputs
from pipeline.timing import peak_rss_mb, stage_clock, stage_seconds

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]  # (steps done, steps in all, what is being done)


def _quiet(done: int, total: int, what: str) -> None:
    pass


def process_study(job: StudyJob, progress: Progress = _quiet) -> StudyRecord:
    """Analyse `job.study` and write OUT/studies/<key>/ (with its record.json) atomically."""
    study, key = job.study, job.key
    started = time.perf_counter()
    try:
        failpoints.trigger(study.uid, ("crash", "hang"))
        label_map = job.extras.label_map_for(study, job.n_studies)
        steps = sum(len(s.stacks) for s in study.series) + 1  # each stack, then the outputs

        def stack_progress(done: int, total: int, what: str) -> None:
            progress(done, steps, what)

        with stage_clock() as clock:
            result = analyse_study(
                study, job.config, label_map, job.extras.clinical_for(study), stack_progress
            )
            progress(steps - 1, steps, "writing outputs")
            report = _report(result, job.options)
            record = _record(job, result, report["summary"])
            write_study_folder(job.out, key, lambda folder: _fill(folder, job, result, report, record, clock))
    except BaseException as exc:  # the study's own code path failed outside any stack
        if must_propagate(exc):
            raise
        log.error("study %s failed: %s: %s", key, type(exc).__name__, exc)
        log.debug("%s", traceback.format_exc())
        reason = f"internal error while analysing or writing this study: {plain_message(exc)}"
        return failed_record(study, key, reason, time.perf_counter() - started)
    log.info("%s: %s, %d deposits, %.1f s", key, record.status, record.n_deposits, result.seconds)
    return record


def _fill(
    folder: Path,
    job: StudyJob,
    result: StudyResult,
    report: dict[str, Any],
    record: StudyRecord,
    clock: dict[str, float],
) -> None:
    write_study_outputs(folder, result, report, job.options)
    # measured last, so that they cover the outputs too
    record.overview["stage_seconds"] = stage_seconds(clock)
    record.overview["peak_rss_mb"] = peak_rss_mb()
    data = record.to_json()
    if job.options.deidentifier is not None:
        data = scrub(data, result.study.patient_identifiers)
    write_json_atomic(folder / RECORD_FILE, data)  # last: its presence marks the folder complete


def _record(job: StudyJob, result: StudyResult, summary: dict[str, Any]) -> StudyRecord:
    key = job.key
    status, reason = _status(result)
    overview = _overview(key, result, summary, job.options)
    failed = [s for s in result.series if s.status == "failed"]
    inputs_unusable = status == "failed" and all(s.input_problem for s in failed)
    return StudyRecord(
        key=key,
        study_uid=result.study.uid,
        status=status,
        reason=reason,
        seconds=round(result.seconds, 3),
        n_deposits=summary["n_deposits"],
        report=f"studies/{key}/report.json",
        summary_row=_summary_row(key, result, summary, overview, status, reason),
        overview=overview,
        fingerprint=job.fingerprint,
        n_files_used=len(result.used_files),
        unused_files=[{"path": str(f.path), "reason": f.reason} for f in result.unused_files],
        source_folders=source_folders(result.study.files),
        inputs_unusable=inputs_unusable,
    )


def _report(result: StudyResult, options: OutputOptions) -> dict[str, Any]:
    """report.json's content; under --deidentify the patient ID is a pseudonym and the
    accession number is left out (the rest is scrubbed as the files are written)."""
    if options.deidentifier is None:
        return study_report(result, patient_id=result.study.patient_id)
    report = study_report(result, patient_id=options.deidentifier.pseudonym(result.study.patient_id))
    report["study"]["accession_number"] = None
    report["study"]["deidentified"] = True
    return report


def _overview(
    key: str, result: StudyResult, summary: dict[str, Any], options: OutputOptions
) -> dict[str, Any]:
    """What run.json (and so index.html) says of a study besides its status."""
    top = result.patterns[0] if result.patterns else None
    return {
        "report_html": f"studies/{key}/report.html" if options.html else None,
        "series_seconds": {s.stack.label: round(s.seconds, 3) for s in result.series},
        "modalities": sorted({s.stack.modality for s in result.series if s.stack.modality}),
        "top_pattern": top.type if top else None,
        "top_verdict": top.verdict if top else None,
        "total_volume_mm3": summary["total_volume_mm3"],
        "regions": summary["regions"],
    }


def _status(result: StudyResult) -> tuple[str, str | None]:
    failed = [s for s in result.series if s.status == "failed"]
    if failed:
        return "failed", "; ".join(f"{s.stack.label}: {s.reason}" for s in failed)
    rejected = result.study.rejected
    if not result.analysed and rejected:
        why = top_reasons([r.reason for r in rejected])
        return "failed", f"none of its {len(rejected)} image file(s) could be used: {why}"
    if not result.analysed:
        reasons = {s.reason for s in result.series if s.reason}
        return "skipped", "; ".join(sorted(reasons)) or "no series to analyse"
    return "analyzed", None


def _summary_row(
    key: str,
    result: StudyResult,
    summary: dict[str, Any],
    overview: dict[str, Any],
    status: str,
    reason: str | None,
) -> list[Any]:
    return summary_row(
        study_key=key,
        study_instance_uid=result.study.uid,
        study_date=result.study.date or "",
        modalities="/".join(overview["modalities"]),
        n_series_analyzed=sum(s.status == "analyzed" for s in result.series),
        n_deposits=summary["n_deposits"],
        total_volume_mm3=summary["total_volume_mm3"],
        total_agatston=summary["total_agatston"],
        top_pattern=overview["top_pattern"] or "",
        top_pattern_verdict=overview["top_verdict"] or "",
        status=status,
        reason=reason or "",
    )
