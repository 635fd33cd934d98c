"""Everything written for one study: dicom/ (SEG, SR), report.html with images/, report.json.

The files are written in that order into the study's temporary folder (see outputs.py), so
that report.json can list the DICOM objects and key images that exist, and the folder only
appears under its final name once all of them are complete. A DICOM or HTML writer that
fails costs its own files and a warning in report.json, never the study's measurements.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.dicom.confidentiality_profile import file_identifiers
from pipeline.errors import plain_message
from pipeline.models import Study, StudyResult
from pipeline.report.deidentify import Deidentifier, deidentified_report, scrub
from pipeline.report.outputs import write_json_atomic
from pipeline.report.schema import validate_report
from pipeline.timing import stage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutputOptions:
    """What to write besides report.json, and under which identity."""

    dicom: bool = True
    html: bool = True
    deidentifier: Deidentifier | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # the resolved config, quoted in report.html


def write_study_outputs(
    folder: Path, result: StudyResult, report: dict[str, Any], options: OutputOptions
) -> None:
    """Fill `folder` with the study's outputs; `report` is report.json's content, completed
    here with the list of outputs and validated against the schema before it is written.

    Under --deidentify every writer gets the report with the confidentiality profile applied
    and its text scrubbed of the study's identifiers (before any writer reads it)."""
    identifiers: frozenset[str] | None = None
    if options.deidentifier is not None:
        identifiers = study_identifiers(result.study)
        report = deidentified_report(scrub(report, identifiers))  # scrub copies: the caller's stays
    outputs: dict[str, Any] = {"report_json": "report.json"}
    if options.dicom and (result.deposits or result.radiograph_deposits):
        with stage("dicom_outputs"):
            outputs["dicom"] = _dicom(folder, result, report, identifiers)
    elif options.dicom:
        outputs["dicom"] = []  # nothing found: no SEG without a segment, no SR without a finding
    with stage("report"):
        if options.html:
            outputs.update(_html(folder, result, report, options))
        report["outputs"] = outputs
        if identifiers is not None:  # and again over what the writers added
            report = scrub(report, identifiers)
        _write_report_json(folder, result, report)


def study_identifiers(study: Study) -> frozenset[str]:
    """What no output of the study may show: the identifiers discovery collected, and the
    values of the profile's attributes in the header of each series' first image (those
    are per series: institution, station, operator, descriptions)."""
    firsts = [s.stacks[0].slices[0].instance.path for s in study.series if s.stacks and s.stacks[0].slices]
    return frozenset(study.patient_identifiers) | frozenset(file_identifiers(firsts))


def _write_report_json(folder: Path, result: StudyResult, report: dict[str, Any]) -> None:
    problems = validate_report(report)
    if problems:  # a bug of ours: say so loudly, but never lose the measurements
        log.error("report.json of %s does not follow its schema: %s", result.study.uid, problems[0])
        report["warnings"].extend(f"report.json schema violation: {p}" for p in problems)
    write_json_atomic(folder / "report.json", report)


def _dicom(
    folder: Path, result: StudyResult, report: dict[str, Any], identifiers: frozenset[str] | None
) -> list[dict]:
    """`identifiers` set means --deidentify: the SEG and SR carry the report's pseudonym."""
    from pipeline.report.dicom_out import write_dicom_outputs

    pseudonym = report["study"]["patient_id"] if identifiers is not None else None
    try:
        written = write_dicom_outputs(folder, result, pseudonym, identifiers)
    except Exception as exc:  # a DICOM writer bug must not lose the report
        log.debug("DICOM outputs failed:\n%s", traceback.format_exc())
        report["warnings"].append(f"DICOM SEG/SR not written ({plain_message(exc)})")
        return []
    report["warnings"].extend(written.warnings)
    by_id = {d["id"]: d for d in report["deposits"]}
    for deposit_id, reference in written.segments.items():
        by_id[deposit_id]["dicom_segment"] = reference
    return written.entries


def _html(
    folder: Path, result: StudyResult, report: dict[str, Any], options: OutputOptions
) -> dict[str, Any]:
    from pipeline.report.html_report import write_html_report

    try:
        images = write_html_report(folder, result, report, options.settings)
    except Exception as exc:  # a rendering bug must not lose the report
        log.debug("report.html failed:\n%s", traceback.format_exc())
        report["warnings"].append(f"report.html not written ({plain_message(exc)})")
        return {}
    return {"report_html": "report.html", "images": images}
