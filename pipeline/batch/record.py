"""What a run knows of one study: its status, reason, summary row and overview.

Each complete study folder keeps its record as `record.json`, written inside the scratch
folder before the rename. So a study folder is complete exactly when its record is there,
and `--resume` (or the listener, adding one study to a run's overview) can rebuild run.json
and summary.csv without analysing the study again.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipeline.models import Study

RECORD_FILE = "record.json"

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


def summary_row(**values: Any) -> list[Any]:
    """A summary.csv row from column values by name (a column not given is empty)."""
    unknown = set(values) - set(SUMMARY_COLUMNS)
    if unknown:
        raise ValueError(f"not summary.csv columns: {sorted(unknown)}")
    return [values.get(column, "") for column in SUMMARY_COLUMNS]


@dataclass
class StudyRecord:
    """A study's line in run.json and summary.csv."""

    key: str
    study_uid: str
    status: str  # analyzed | failed | skipped
    reason: str | None
    seconds: float
    n_deposits: int = 0
    report: str | None = None
    summary_row: list[Any] = field(default_factory=list)
    overview: dict[str, Any] = field(default_factory=dict)  # what index.html shows besides the above
    fingerprint: str | None = None  # of the inputs and settings the outputs came from (see resume.py)
    resumed: bool = False  # outputs of an earlier run, kept by --resume
    stored: list[dict[str, Any]] = field(default_factory=list)  # --store-to outcomes
    # files: how many were used (None: unknown, the worker was lost), the others with why
    n_files_used: int | None = None
    unused_files: list[dict[str, str]] = field(default_factory=list)
    source_folders: list[str] = field(default_factory=list)
    # failed because none of its images can be used (not because calcscan broke): with no
    # other study analysed, the run has nothing to analyse (exit code 3)
    inputs_unusable: bool = False

    def run_entry(self) -> dict[str, Any]:
        """The study's entry in run.json's `studies`."""
        entry = {
            "key": self.key,
            "study_instance_uid": self.study_uid,
            "status": self.status,
            "reason": self.reason,
            "seconds": self.seconds,
            "n_deposits": self.n_deposits,
            "report": self.report,
            "n_files_used": self.n_files_used,
            "n_files_not_used": len(self.unused_files),
            "source_folders": list(self.source_folders),
            **self.overview,
        }
        if self.resumed:
            entry["resumed"] = True
        if self.stored:
            entry["stored"] = self.stored
        return entry

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["resumed"], data["stored"]  # facts about a run, not about the outputs
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StudyRecord:
        names = set(cls.__dataclass_fields__) - {"resumed", "stored"}
        return cls(**{k: v for k, v in data.items() if k in names})


def failed_record(study: Study, key: str, reason: str, seconds: float) -> StudyRecord:
    """A study with no outputs: the reason says why (a crash, a timeout, a lost worker).
    None of its files was used."""
    row = summary_row(
        study_key=key,
        study_instance_uid=study.uid,
        study_date=study.date or "",
        n_series_analyzed=0,
        status="failed",
        reason=reason,
    )
    record = StudyRecord(key, study.uid, "failed", reason, round(seconds, 3), summary_row=row)
    record.n_files_used = 0
    record.unused_files = [{"path": str(p), "reason": f"its study failed: {reason}"} for p in study.files]
    record.source_folders = sorted({str(p.parent) for p in study.files})
    return record


def read_record(folder: Path) -> StudyRecord | None:
    """The record of a complete study folder, None when there is none or it cannot be read."""
    try:
        return StudyRecord.from_json(json.loads((folder / RECORD_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
