"""`--resume`: which studies already have complete outputs made from the same inputs and
settings, so that a rerun after a crash, a kill or a Ctrl-C only redoes the rest.

A study's fingerprint covers the tool version, the resolved config, the output options (and
the pseudonym key, hashed), its anatomy label map and clinical context, and the SOP
instances it is made of. Any change (a new instance received, another threshold) makes the
study be analysed again. Failed studies are always redone.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

from pipeline import __version__
from pipeline.batch.record import StudyRecord, read_record
from pipeline.config import Config
from pipeline.models import Study
from pipeline.report.outputs import study_key
from pipeline.report.study_outputs import OutputOptions
from pipeline.study_inputs import StudyInputs


def fingerprint(
    study: Study, config: Config, options: OutputOptions, extras: StudyInputs, n_studies: int
) -> str:
    """A digest of everything a study's outputs depend on."""
    label_map = extras.label_map_for(study, n_studies)
    clinical = extras.clinical_for(study)
    facts: dict[str, Any] = {
        "version": __version__,
        "config": config.as_dict(),
        "dicom": options.dicom,
        "html": options.html,
        "pseudonyms": _key_digest(options),
        "label_map": _file_facts(label_map) if label_map else None,
        "clinical": repr(clinical) if clinical else None,
        "instances": sorted(_instances(study)),
    }
    text = json.dumps(facts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def matching_record(out: Path, key: str, expected: str) -> StudyRecord | None:
    """The record of OUT/studies/<key> when that folder is complete and was made from the
    inputs and settings whose fingerprint is `expected`; else None."""
    record = read_record(out / "studies" / key)
    return record if record is not None and record.fingerprint == expected else None


def completed(out: Path, study: Study, expected: str) -> StudyRecord | None:
    """The record of the study's complete outputs, when they were made from the same inputs
    and settings and the study did not fail; else None (the study is analysed again)."""
    record = matching_record(out, study_key(study.uid) + study.output_suffix, expected)
    if record is None or record.status == "failed":
        return None
    record.resumed = True
    return record


def records_in(out: Path, exclude: set[str]) -> list[StudyRecord]:
    """The records of every complete study folder in OUT except `exclude` (keys), for a run
    that adds studies to an existing output folder (the listener)."""
    folders = sorted((out / "studies").iterdir()) if (out / "studies").is_dir() else []
    records = [read_record(f) for f in folders if f.is_dir() and f.name not in exclude]
    return [r for r in records if r is not None]


def _instances(study: Study) -> set[str]:
    return {
        f"{s.instance.sop_instance_uid}:{s.instance.path.stat().st_size}"
        for series in study.series
        for stack in series.stacks
        for s in stack.slices
    }


def _file_facts(path: Path) -> list[Any]:
    stat = path.stat()
    return [str(path.resolve()), stat.st_size, stat.st_mtime_ns]


def _key_digest(options: OutputOptions) -> str | None:
    if options.deidentifier is None:
        return None
    return hmac.new(options.deidentifier.key, b"calcscan resume", hashlib.sha256).hexdigest()[:16]
