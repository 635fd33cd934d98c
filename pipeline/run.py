"""A calcscan run: discover the inputs, analyse every study, write the contract's outputs.

OUT/run.json, OUT/summary.csv, OUT/index.html and per study OUT/studies/<key>/ (report.json,
report.html with images/, dicom/ SEG and SR). One study failing never stops the others; the
exit code says whether any did (report contract: 0 all analysed, 1 at least one failed,
2 usage error).
"""

from __future__ import annotations

import datetime as dt
import logging
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipeline import __version__
from pipeline.analyse import analyse_study
from pipeline.config import Config
from pipeline.discover import discover
from pipeline.models import Study, StudyResult
from pipeline.report.deidentify import scrub
from pipeline.report.html_report import write_index_html
from pipeline.report.json_report import study_report
from pipeline.report.outputs import (
    remove_partials,
    study_key,
    write_csv_atomic,
    write_json_atomic,
    write_study_folder,
)
from pipeline.report.study_outputs import OutputOptions, write_study_outputs
from pipeline.study_inputs import StudyInputs

log = logging.getLogger(__name__)

SUMMARY_COLUMNS = [
    "study_key",
    "study_instance_uid",
    "study_date",
    "modalities",
    "n_series_analyzed",
    "n_deposits",
    "total_volume_mm3",
    "total_agatston",
    "top_pattern",
    "top_pattern_verdict",
    "status",
    "reason",
]


@dataclass
class StudyRecord:
    """What run.json says about one study."""

    key: str
    study_uid: str
    status: str  # analyzed | failed | skipped
    reason: str | None
    seconds: float
    n_deposits: int = 0
    report: str | None = None
    summary_row: list[Any] = field(default_factory=list)
    overview: dict[str, Any] = field(default_factory=dict)  # what index.html shows besides the above


def run_batch(
    inputs: Sequence[Path],
    out: Path,
    config: Config,
    extras: StudyInputs | None = None,
    options: OutputOptions | None = None,
) -> int:
    started = dt.datetime.now(dt.UTC)
    extras = extras or StudyInputs()
    options = options or OutputOptions()
    options = replace(options, settings=options.settings or config.as_dict())
    out.mkdir(parents=True, exist_ok=True)
    remove_partials(out)
    found = discover(list(inputs), config)
    log.info("%d studies in %d files (%d not used)", len(found.studies), found.n_files, len(found.skipped))
    if extras.anatomy is not None and extras.anatomy.is_file() and len(found.studies) > 1:
        found.warnings.append(
            f"--anatomy {extras.anatomy} is one label map but {len(found.studies)} studies were found: "
            "not used (give a folder of <StudyInstanceUID>.nii.gz instead)"
        )
    records = [_run_study(study, out, config, extras, options, len(found.studies)) for study in found.studies]
    finished = dt.datetime.now(dt.UTC)
    exit_code = 1 if any(r.status == "failed" for r in records) else 0
    run = _run_json(inputs, config, found, records, started, finished, exit_code)
    rows = [r.summary_row for r in records]
    if options.deidentifier is not None:
        identifiers = {i for study in found.studies for i in study.patient_identifiers}
        run["deidentified"] = options.deidentifier.describe()
        run, rows = scrub(run, identifiers), scrub(rows, identifiers)
    write_json_atomic(out / "run.json", run)
    write_csv_atomic(out / "summary.csv", SUMMARY_COLUMNS, rows)
    if options.html:
        write_index_html(out, run)
    return exit_code


def _run_study(
    study: Study, out: Path, config: Config, extras: StudyInputs, options: OutputOptions, n_studies: int
) -> StudyRecord:
    key = study_key(study.uid)
    started = time.perf_counter()
    try:
        label_map = extras.label_map_for(study, n_studies)
        result = analyse_study(study, config, label_map, extras.clinical_for(study))
    except Exception as exc:  # the study's own code path failed outside any stack
        log.exception("study %s failed", key)
        return _failed_record(study, key, f"{type(exc).__name__}: {exc}", time.perf_counter() - started)
    status, reason = _status(result)
    report = _report(result, options)
    write_study_folder(
        out / "studies" / key, lambda folder: write_study_outputs(folder, result, report, options)
    )
    summary = report["summary"]
    overview = _overview(key, result, summary, options)
    log.info("%s: %s, %d deposits, %.1f s", key, status, summary["n_deposits"], result.seconds)
    return StudyRecord(
        key=key,
        study_uid=study.uid,
        status=status,
        reason=reason,
        seconds=round(result.seconds, 3),
        n_deposits=summary["n_deposits"],
        report=f"studies/{key}/report.json",
        summary_row=_summary_row(key, result, summary, overview, status, reason),
        overview=overview,
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
    return [
        key,
        result.study.uid,
        result.study.date or "",
        "/".join(overview["modalities"]),
        sum(s.status == "analyzed" for s in result.series),
        summary["n_deposits"],
        summary["total_volume_mm3"],
        summary["total_agatston"],
        overview["top_pattern"] or "",
        overview["top_verdict"] or "",
        status,
        reason or "",
    ]


def _failed_record(study: Study, key: str, reason: str, seconds: float) -> StudyRecord:
    row = [key, study.uid, study.date or "", "", 0, "", "", "", "", "", "failed", reason]
    return StudyRecord(key, study.uid, "failed", reason, round(seconds, 3), summary_row=row)


def _run_json(
    inputs, config: Config, found, records: list[StudyRecord], started, finished, exit_code: int
) -> dict:
    return {
        "tool": {"name": "calcscan", "version": __version__, "python": platform.python_version()},
        "inputs": [str(p) for p in inputs],
        "config": config.as_dict(),
        "started": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "seconds": round((finished - started).total_seconds(), 3),
        "exit_code": exit_code,
        "n_files": found.n_files,
        "studies": [
            {
                "key": r.key,
                "study_instance_uid": r.study_uid,
                "status": r.status,
                "reason": r.reason,
                "seconds": r.seconds,
                "n_deposits": r.n_deposits,
                "report": r.report,
                **r.overview,
            }
            for r in records
        ],
        "skipped_files": [{"path": str(s.path), "reason": s.reason} for s in found.skipped],
        "warnings": list(found.warnings),
    }
