"""The site pattern rules (configs/site_patterns.yaml): typed, validated, cached.

The rules are meant to be edited by a clinician, so every mistake must be reported as the
file, the YAML path of the key and what is wrong with it; a misspelt tissue that silently
matched nothing would give reports that look right and are not.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.errors import ConfigError
from pipeline.vocab import PATTERN_TYPES, REGIONS, TISSUES

ANY = "any"
RULES_NAME = "site_patterns.yaml"


class RulesError(ConfigError):
    """The site pattern rules file cannot be read or does not validate."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _names(value: Any, known: tuple[str, ...], kind: str) -> tuple[str, ...]:
    """One name or a list of names, each from `known` (or "any")."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise ValueError(f"expected a {kind} name or a list of them, got {value!r}")
    for item in items:
        if item != ANY and item not in known:
            choices = ", ".join(k for k in known if k != "unknown")
            raise ValueError(f"{item!r} is not a {kind} (known: {ANY}, {choices})")
    return tuple(items)


def _tissues(value: Any) -> tuple[str, ...]:
    return _names(value, TISSUES, "tissue")


class SiteRule(_Strict):
    """A documented site: any of `region` x any of `tissue`."""

    name: str | None = None
    region: tuple[str, ...]
    tissue: tuple[str, ...]
    credit: float = Field(1.0, gt=0, le=1)

    @field_validator("region", mode="before")
    @classmethod
    def _region(cls, v: Any) -> tuple[str, ...]:
        return _names(v, REGIONS, "region")

    @field_validator("tissue", mode="before")
    @classmethod
    def _tissue(cls, v: Any) -> tuple[str, ...]:
        return _tissues(v)


class Weighted(_Strict):
    weight: float = Field(ge=0)


class OrgansFeature(Weighted):
    tissues: tuple[str, ...]
    full_at: int = Field(ge=1)

    @field_validator("tissues", mode="before")
    @classmethod
    def _tissue(cls, v: Any) -> tuple[str, ...]:
        return _tissues(v)


class SpreadFeature(Weighted):
    full_at: int = Field(ge=1)


class MassesFeature(Weighted):
    large_from_cm3: float = Field(gt=0)
    large_full_cm3: float = Field(gt=0)
    lobes_from: int = Field(ge=1)
    lobes_full: int = Field(ge=1)
    compact_credit: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> MassesFeature:
        if self.large_full_cm3 <= self.large_from_cm3:
            raise ValueError("large_full_cm3 must be larger than large_from_cm3")
        if self.lobes_full <= self.lobes_from:
            raise ValueError("lobes_full must be larger than lobes_from")
        return self


class SmallFeature(Weighted):
    max_mm3: float = Field(gt=0)


class CountFeature(Weighted):
    usual_max: int = Field(ge=1)
    zero_at: int = Field(ge=2)

    @model_validator(mode="after")
    def _ordered(self) -> CountFeature:
        if self.zero_at <= self.usual_max:
            raise ValueError("zero_at must be larger than usual_max")
        return self


class Features(_Strict):
    """What is scored for a type; a feature left out is not scored."""

    at_sites: Weighted | None = None
    organs: OrgansFeature | None = None
    spread: SpreadFeature | None = None
    masses: MassesFeature | None = None
    small: SmallFeature | None = None
    no_organs: Weighted | None = None
    count: CountFeature | None = None

    @model_validator(mode="after")
    def _some_weight(self) -> Features:
        if sum(f.weight for f in self.present().values()) <= 0:
            raise ValueError("at least one feature needs a weight above 0")
        return self

    def present(self) -> dict[str, Weighted]:
        return {k: v for k, v in ((k, getattr(self, k)) for k in type(self).model_fields) if v is not None}


class Exclusion(_Strict):
    """Deposits that speak against a type: those matching every criterion given."""

    reason: str
    tissue: tuple[str, ...] | None = None
    min_cm3: float | None = Field(None, ge=0)
    min_lobes: int | None = Field(None, ge=1)
    tolerate: int = Field(0, ge=0)
    per_deposit: float = Field(gt=0, le=1)
    max_penalty: float = Field(gt=0, le=1)

    @field_validator("tissue", mode="before")
    @classmethod
    def _tissue(cls, v: Any) -> tuple[str, ...] | None:
        return None if v is None else _tissues(v)

    @model_validator(mode="after")
    def _has_criterion(self) -> Exclusion:
        if self.tissue is None and self.min_cm3 is None and self.min_lobes is None:
            raise ValueError("an exclusion needs at least one of tissue, min_cm3, min_lobes")
        return self


class TypeRules(_Strict):
    label: str
    sites: tuple[SiteRule, ...] = Field(min_length=1)
    features: Features
    exclusions: tuple[Exclusion, ...] = ()


class Verdicts(_Strict):
    consistent: float = Field(gt=0, le=1)
    possible: float = Field(gt=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> Verdicts:
        if self.possible >= self.consistent:
            raise ValueError("possible must be below consistent")
        return self


class Range(_Strict):
    low: float = Field(ge=0)
    high: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.high <= self.low:
            raise ValueError("high must be above low")
        return self


def _ratios(value: Any) -> dict[str, float]:
    if not isinstance(value, dict):
        raise ValueError(f"expected a mapping of pattern type to likelihood ratio, got {value!r}")
    for key in value:
        if key not in PATTERN_TYPES:
            raise ValueError(f"{key!r} is not a pattern type (known: {', '.join(PATTERN_TYPES)})")
    return value


class ClinicalEffects(_Strict):
    """Likelihood ratios per pattern type for each clinical finding."""

    high_calcium_phosphate_product: dict[str, float] = {}
    high_calcium: dict[str, float] = {}
    high_phosphate_normal_calcium: dict[str, float] = {}
    normal_calcium_and_phosphate: dict[str, float] = {}
    renal_disease: dict[str, float] = {}
    parathyroid_disease: dict[str, float] = {}
    connective_tissue_disease: dict[str, float] = {}
    prior_injection_site: dict[str, float] = {}

    @field_validator("*", mode="before")
    @classmethod
    def _types(cls, v: Any) -> dict[str, float]:
        return _ratios(v)

    @field_validator("*", mode="after")
    @classmethod
    def _positive(cls, v: dict[str, float]) -> dict[str, float]:
        for key, ratio in v.items():
            if ratio <= 0:
                raise ValueError(f"{key}: a likelihood ratio must be above 0, got {ratio}")
        return v


class ClinicalRules(_Strict):
    calcium_mg_dl: Range
    phosphate_mg_dl: Range
    calcium_phosphate_product_high: float = Field(gt=0)
    effects: ClinicalEffects


class PatternRules(_Strict):
    """The whole rules file; one entry per calcinosis type, all four required."""

    ignore_below_mm3: float = Field(ge=0)
    unknown_site_credit: float = Field(ge=0, le=1)
    verdicts: Verdicts
    internal_organs: tuple[str, ...]
    metastatic: TypeRules
    tumoral: TypeRules
    dystrophic: TypeRules
    calcific_tendinitis: TypeRules
    clinical: ClinicalRules

    @field_validator("internal_organs", mode="before")
    @classmethod
    def _organs(cls, v: Any) -> tuple[str, ...]:
        return _tissues(v)

    def type_rules(self, pattern_type: str) -> TypeRules:
        return getattr(self, pattern_type)


def shipped_rules_path() -> Path:
    """configs/site_patterns.yaml of the source tree, else the copy inside the package."""
    repo_copy = Path(__file__).resolve().parents[2] / "configs" / RULES_NAME
    return repo_copy if repo_copy.is_file() else Path(__file__).resolve().with_name(RULES_NAME)


def load_rules(path: Path | None = None) -> PatternRules:
    """The validated rules at `path` (None: the shipped file), cached until the file changes."""
    path = Path(path) if path is not None else shipped_rules_path()
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as exc:
        raise RulesError(f"{display_path(path)}: cannot read site pattern rules: {exc.strerror}") from None
    return _load_cached(path.resolve(), mtime, display_path(path))


@lru_cache(maxsize=16)
def _load_cached(path: Path, mtime_ns: int, shown: str) -> PatternRules:
    data = _read_mapping(path, shown)
    try:
        return PatternRules.model_validate(data)
    except ValidationError as exc:
        raise RulesError(format_errors(exc, shown)) from None


def _read_mapping(path: Path, shown: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RulesError(f"{shown}: cannot read site pattern rules: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise RulesError(f"{shown}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise RulesError(f"{shown}: must hold a mapping of keys, not {type(data).__name__}")
    return data


def display_path(path: Path) -> str:
    """The path as the user would type it: relative to the working folder when inside it."""
    try:
        return os.path.relpath(Path(path).resolve(), Path.cwd()) if _inside_cwd(path) else str(path)
    except ValueError:
        return str(path)


def _inside_cwd(path: Path) -> bool:
    return Path(path).resolve().is_relative_to(Path.cwd().resolve())


def yaml_path(loc: tuple[Any, ...]) -> str:
    """("tumoral", "sites", 2, "tissue") -> "tumoral.sites[2].tissue"."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def format_errors(exc: ValidationError, shown: str, model: type[BaseModel] = PatternRules) -> str:
    """One line per problem: `file: yaml.path: problem`."""
    lines = [f"{shown}: {yaml_path(err['loc'])}: {_problem(err, model)}" for err in exc.errors()]
    return "\n".join(lines)


def _problem(err: Any, model: type[BaseModel]) -> str:
    kind, msg = err["type"], str(err["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        known = _known_keys(model, err["loc"][:-1])
        return "unknown key (misspelt?)" + (f"; known keys here: {', '.join(known)}" if known else "")
    if kind == "missing":
        return "missing (required)"
    if kind in {"float_parsing", "int_parsing", "float_type", "int_type", "int_from_float"}:
        return f"{err.get('input')!r} is not a number ({msg})"
    return msg


def _known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed at `loc` (list indices skipped), for a misspelt key's message."""
    for part in loc:
        if isinstance(part, int):
            continue
        info = model.model_fields.get(str(part))
        inner = _model_in(info.annotation) if info else None
        if inner is None:
            return []
        model = inner
    return list(model.model_fields)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model class inside X, X | None or tuple[X, ...]."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
