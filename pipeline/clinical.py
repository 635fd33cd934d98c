"""Clinical context of a study (serum calcium and phosphate, renal, parathyroid and
connective tissue disease, prior injection sites) read from a YAML or CSV file.

The domain text separates the calcinosis types as much by the patient's metabolism as by
the sites ("long-standing hypercalcemia ... and/or hyperphosphatemia" versus "no generalized
disturbance in calcium or phosphorus metabolism"), so a pattern ranking from images alone is
refined by this context when it is given (`calcscan run --clinical FILE`).

File formats (one record per study, keyed by study_instance_uid, accession_number or
patient_id; the first of these that matches a study wins):

    # clinical.yaml: a list of records, or a mapping of study key -> record
    - study_instance_uid: 1.2.3.4
      serum_calcium_mg_dl: 10.9
      serum_phosphate_mg_dl: 7.4
      renal_disease: dialysis          # true/false, ckd, dialysis
      parathyroid_disease: secondary hyperparathyroidism
      connective_tissue_disease: scleroderma
      prior_injection_sites: [right shoulder, left hip]
      notes: free text, quoted but not scored

    # clinical.csv: the same fields as columns; injection sites separated by ";"
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipeline.errors import ConfigError
from pipeline.report.rules import display_path, yaml_path
from pipeline.vocab import REGIONS

ID_FIELDS = ("study_instance_uid", "accession_number", "patient_id")
RENAL_VALUES = {"yes": "yes", "true": "yes", "ckd": "ckd", "dialysis": "dialysis", "esrd": "dialysis"}
NO_VALUES = {"", "no", "none", "false", "0", "n"}
YES_VALUES = {"yes", "true", "1", "y"}


class ClinicalError(ConfigError):
    """The clinical context file cannot be read or does not validate."""


@dataclass(frozen=True)
class InjectionSite:
    """A prior injection site: a region and the patient's side ("unknown" = either side)."""

    region: str
    laterality: str
    text: str

    def matches(self, region: str, laterality: str) -> bool:
        return region == self.region and self.laterality in ("unknown", laterality)


@dataclass(frozen=True)
class ClinicalContext:
    """What is known of one study's patient; None = not known."""

    source: str  # where it was read, e.g. "clinical.csv line 3"
    study_instance_uid: str | None = None
    accession_number: str | None = None
    patient_id: str | None = None
    serum_calcium_mg_dl: float | None = None
    serum_phosphate_mg_dl: float | None = None
    renal_disease: str | None = None  # yes | ckd | dialysis
    parathyroid_disease: str | None = None  # "yes" or the condition's name
    connective_tissue_disease: str | None = None  # "yes" or the disease's name
    prior_injection_sites: tuple[InjectionSite, ...] = ()
    notes: str | None = None

    @property
    def calcium_phosphate_product(self) -> float | None:
        """Serum calcium x phosphate (mg2/dL2), when both are known."""
        if self.serum_calcium_mg_dl is None or self.serum_phosphate_mg_dl is None:
            return None
        return self.serum_calcium_mg_dl * self.serum_phosphate_mg_dl


class ClinicalRecord(BaseModel):
    """One record as written in the file; validated field by field."""

    model_config = ConfigDict(extra="forbid")

    study_instance_uid: str | None = None
    accession_number: str | None = None
    patient_id: str | None = None
    serum_calcium_mg_dl: float | None = Field(None, gt=0, lt=30)
    serum_phosphate_mg_dl: float | None = Field(None, gt=0, lt=30)
    renal_disease: str | None = None
    parathyroid_disease: str | None = None
    connective_tissue_disease: str | None = None
    prior_injection_sites: tuple[InjectionSite, ...] = ()
    notes: str | None = None

    @field_validator("study_instance_uid", "accession_number", "patient_id", "notes", mode="before")
    @classmethod
    def _text(cls, v: Any) -> str | None:
        return None if v is None or str(v).strip() == "" else str(v).strip()

    @field_validator("renal_disease", mode="before")
    @classmethod
    def _renal(cls, v: Any) -> str | None:
        word = _word(v)
        if word in NO_VALUES:
            return None
        if word not in RENAL_VALUES:
            raise ValueError(f"{v!r} is not one of: true, false, ckd, dialysis")
        return RENAL_VALUES[word]

    @field_validator("parathyroid_disease", "connective_tissue_disease", mode="before")
    @classmethod
    def _condition(cls, v: Any) -> str | None:
        word = _word(v)
        if word in NO_VALUES:
            return None
        return "yes" if word in YES_VALUES else str(v).strip()

    @field_validator("prior_injection_sites", mode="before")
    @classmethod
    def _sites(cls, v: Any) -> tuple[InjectionSite, ...]:
        if v is None:
            return ()
        items = v.replace(",", ";").split(";") if isinstance(v, str) else v
        if not isinstance(items, list | tuple):
            raise ValueError(f"expected a list like [right shoulder, left hip], got {v!r}")
        return tuple(parse_injection_site(str(s)) for s in items if str(s).strip())


def _word(v: Any) -> str:
    if v is None or isinstance(v, bool):
        return {None: "", True: "true", False: "false"}[v]
    return str(v).strip().lower()


def parse_injection_site(text: str) -> InjectionSite:
    """ "right shoulder", "left_hip", "knee" -> InjectionSite (side first, then region)."""
    words = text.strip().lower().replace("_", " ").replace("-", " ").split()
    side = "unknown"
    if words and words[0] in ("left", "right", "both", "bilateral"):
        side = "unknown" if words[0] in ("both", "bilateral") else words[0]
        words = words[1:]
    region = "_".join(words)
    if region not in REGIONS and region.endswith("s") and region[:-1] in REGIONS:
        region = region[:-1]  # "both hips"
    if region not in REGIONS or region == "unknown":
        known = ", ".join(r for r in REGIONS if r != "unknown")
        raise ValueError(f"{text!r} is not '[left|right] REGION' (regions: {known})")
    return InjectionSite(region, side, text.strip())


@dataclass
class ClinicalIndex:
    """Clinical records of a file, found by study UID, accession number or patient ID."""

    path: Path
    records: list[ClinicalContext]
    _by: dict[str, dict[str, ClinicalContext]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in (*ID_FIELDS, "key"):
            self._by.setdefault(name, {})

    def add(self, ctx: ClinicalContext, key: str | None = None) -> None:
        self.records.append(ctx)
        ids = {name: getattr(ctx, name) for name in ID_FIELDS} | {"key": key}
        for name, value in ids.items():
            if value is None:
                continue
            other = self._by[name].get(value)
            if other is not None:
                raise ClinicalError(f"{ctx.source}: {name} {value!r} is also given at {other.source}")
            self._by[name][value] = ctx

    def lookup(
        self, study_uid: str | None, accession: str | None = None, patient_id: str | None = None
    ) -> ClinicalContext | None:
        """The record of a study: by UID, then accession number, then patient ID."""
        for name, value in (("study_instance_uid", study_uid), ("accession_number", accession)):
            if value and value in self._by[name]:
                return self._by[name][value]
        for value in (study_uid, accession, patient_id):
            if value and value in self._by["key"]:
                return self._by["key"][value]
        if patient_id and patient_id in self._by["patient_id"]:
            return self._by["patient_id"][patient_id]
        return None

    def __len__(self) -> int:
        return len(self.records)


def load_clinical(path: Path) -> ClinicalIndex:
    """Read and validate a clinical context file (.yaml/.yml or .csv)."""
    path = Path(path)
    shown = display_path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ClinicalError(f"{shown}: cannot read clinical context: {exc.strerror}") from None
    index = ClinicalIndex(path, [])
    rows = _csv_rows(text, shown) if path.suffix.lower() == ".csv" else _yaml_rows(text, shown)
    for where, key, raw in rows:
        ctx = _record(raw, f"{shown} {where}")
        if key is None and not any(getattr(ctx, k) for k in ID_FIELDS):
            raise ClinicalError(f"{ctx.source}: needs at least one of {', '.join(ID_FIELDS)}")
        index.add(ctx, key)
    return index


def _record(raw: dict[str, Any], source: str) -> ClinicalContext:
    try:
        rec = ClinicalRecord.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{yaml_path(e['loc']) if e['loc'] else 'record'}: {_problem(e)}" for e in exc.errors()]
        raise ClinicalError(f"{source}: " + "; ".join(problems)) from None
    return ClinicalContext(source=source, **{k: getattr(rec, k) for k in ClinicalRecord.model_fields})


def _problem(err: Any) -> str:
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        return f"unknown field (known: {', '.join(ClinicalRecord.model_fields)})"
    if err["type"] in {"float_parsing", "float_type"}:
        return f"{err.get('input')!r} is not a number"
    return msg


Row = tuple[str, str | None, dict[str, Any]]


def _yaml_rows(text: str, shown: str) -> list[Row]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ClinicalError(f"{shown}: not valid YAML: {exc}") from None
    prefix = ""
    if isinstance(data, dict) and set(data) == {"studies"}:
        data, prefix = data["studies"], "studies"
    if isinstance(data, list):
        where = [f"{prefix}[{i}]" for i in range(len(data))]
        return [(w, None, _mapping(r, w, shown)) for w, r in zip(where, data, strict=True)]
    if isinstance(data, dict):
        return [(f"{k!s}", str(k), _mapping(r, str(k), shown)) for k, r in data.items()]
    raise ClinicalError(f"{shown}: must hold a list of records or a mapping of study key -> record")


def _mapping(raw: Any, where: str, shown: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ClinicalError(f"{shown} {where}: a record must be a mapping of field: value, got {raw!r}")
    return raw


def _csv_rows(text: str, shown: str) -> list[Row]:
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames:
        raise ClinicalError(f"{shown}: empty CSV (expected a header row)")
    unknown = [c for c in reader.fieldnames if c.strip() not in ClinicalRecord.model_fields]
    if unknown:
        known = ", ".join(ClinicalRecord.model_fields)
        raise ClinicalError(f"{shown}: unknown column(s) {', '.join(map(repr, unknown))} (known: {known})")
    rows: list[Row] = []
    for line, row in enumerate(reader, start=2):
        if None in row:
            raise ClinicalError(f"{shown} line {line}: more cells than columns")
        cells = {k.strip(): v for k, v in row.items() if v is not None and v.strip() != ""}
        if cells:
            rows.append((f"line {line}", None, cells))
    return rows
