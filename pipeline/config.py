"""Typed configuration: defaults < config file < command line.

The defaults live here, in the models; `configs/default.yaml` is the same values written out
for users to copy and edit (a test keeps the two equal). Unknown keys are rejected with the
key named, because a misspelt threshold that is silently ignored gives wrong results that
look right.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.errors import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LoaderConfig(_Section):
    """How DICOM files become stacks and volumes."""

    min_ct_slices: int = Field(3, ge=1, description="fewest slices that make a CT volume")
    air_hu: float = Field(-1000.0, description="value given to padding and out-of-FOV voxels")
    out_of_fov_below_hu: float = Field(
        -1024.0, description="HU below this is outside the reconstruction field: set to air"
    )
    duplicate_tolerance_mm: float = Field(
        0.01, gt=0, description="slices closer than this along the normal share a position"
    )
    slice_position_tolerance: float = Field(
        0.1,
        gt=0,
        lt=0.5,
        description="largest deviation from a uniform grid, as a fraction of the slice step",
    )
    uneven_spacing: Literal["resample", "split"] = Field(
        "resample",
        description="missing slices / uneven spacing: interpolate to a uniform grid, or split",
    )
    max_missing_slices: int = Field(
        2, ge=0, description="longer runs of missing slices split the stack instead"
    )
    orientation_tolerance: float = Field(
        1e-3, gt=0, description="direction cosines closer than this are the same orientation"
    )
    tilt_tolerance_deg: float = Field(
        0.1, ge=0, description="slice step this far off the normal counts as gantry tilt"
    )
    follow_symlinks: bool = Field(False, description="descend into symlinked folders")


class Config(_Section):
    """The whole configuration of a calcscan run."""

    loader: LoaderConfig = Field(default_factory=LoaderConfig)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for run.json and report footers (the resolved configuration)."""
        return self.model_dump(mode="json")


def default_config() -> Config:
    return Config()


def load_config(path: Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Defaults, then the YAML file at `path`, then dotted-key `overrides` from the CLI."""
    data: dict[str, Any] = {}
    if path is not None:
        data = _read_yaml(path)
    for dotted, value in (overrides or {}).items():
        _set_dotted(data, dotted, value)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation(exc, path)) from None


def parse_override(text: str) -> tuple[str, Any]:
    """`loader.air_hu=-1024` -> ("loader.air_hu", -1024); the value is parsed as YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects KEY=VALUE (e.g. loader.air_hu=-1024), got {text!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {key}: value {raw!r} is not valid YAML ({exc})") from None
    return key.strip(), value


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections, not {type(data).__name__}")
    return data


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    node = data
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {dotted}: '{part}' is a value, not a section")
        node = child
    node[parts[-1]] = value


def _format_validation(exc: ValidationError, path: Path | None) -> str:
    where = f"config file {path}" if path else "configuration"
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(f"unknown key '{key}'{_known_keys_hint(err['loc'])}")
        else:
            lines.append(f"'{key}': {err['msg']} (got {err.get('input')!r})")
    return f"{where} is invalid:\n  " + "\n  ".join(lines)


def _known_keys_hint(loc: tuple[Any, ...]) -> str:
    model: type[BaseModel] = Config
    for part in loc[:-1]:
        field_info = model.model_fields.get(str(part))
        annotation = getattr(field_info, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return ""
        model = annotation
    return f" (known keys here: {', '.join(model.model_fields)})"
