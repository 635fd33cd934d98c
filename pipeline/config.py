"""Typed configuration: defaults < config file < command line.

The defaults live here, in the models; `configs/default.yaml` is the same values written out
for users to copy and edit (a test keeps the two equal). Unknown keys are rejected with the
key named, because a misspelt threshold that is silently ignored gives wrong results that
look right. For the same reason every number has a physically meaningful range (and NaN or
infinity is refused): a sign slip (-130 HU) or a unit slip (25000 for 2500) would otherwise
run to the end and report plausible-looking nonsense. Where two settings only make sense in
one order (cartilage below bone), the order is checked too.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Self, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from pipeline.errors import ConfigError


@dataclass(frozen=True)
class Below:
    """Setting `low` must be less than setting `high` of the same section, because `why`."""

    low: str
    high: str
    why: str


class _Section(BaseModel):
    """A config section: unknown keys, NaN and infinity refused, checked on assignment too,
    and its `RELATIONS` (settings that only make sense in one order) kept."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    RELATIONS: ClassVar[tuple[Below, ...]] = ()

    @model_validator(mode="after")
    def _check_relations(self) -> Self:
        """Ranges alone cannot catch e.g. cartilage_hu 300 with bone_threshold_hu 250."""
        for rel in self.RELATIONS:
            low, high = getattr(self, rel.low), getattr(self, rel.high)
            if not low < high:
                raise PydanticCustomError(
                    "config_relation",
                    "{low} ({low_value}) must be below {high} ({high_value}): {why}",
                    {"low": rel.low, "low_value": low, "high": rel.high, "high_value": high, "why": rel.why},
                )
        return self


def _num(
    default: float | None,
    low: float,
    high: float,
    unit: str,
    description: str,
    why: str = "",
    *,
    open_low: bool = False,
    open_high: bool = False,
) -> Any:
    """A numeric setting allowed from `low` to `high` (`open_*`: that end excluded).

    `unit` and `why` (the physical reason for the range, when it is not obvious) are kept
    with the field, for error messages and the commented defaults."""
    bounds = {"gt" if open_low else "ge": low, "lt" if open_high else "le": high}
    extra = {"unit": unit, "why": why}
    return Field(default, description=description, json_schema_extra=extra, **bounds)  # type: ignore[arg-type]


class LoaderConfig(_Section):
    """How DICOM files become stacks and volumes."""

    min_ct_slices: int = _num(
        3,
        1,
        500,
        "slices",
        "fewest slices that make a CT volume",
        "a higher minimum would turn away ordinary thin-slice series",
    )
    air_hu: float = _num(
        -1000.0,
        -1100,
        -950,
        "HU",
        "value given to padding and out-of-FOV voxels",
        "air is -1000 HU; scanners store it as -1000 to -1024",
    )
    out_of_fov_below_hu: float = _num(
        -1024.0,
        -4096,
        -1000,
        "HU",
        "HU below this is outside the reconstruction field: set to air",
        "nothing real is less dense than air at -1000 HU; vendors store -2000 to -3024 outside the field",
    )
    duplicate_tolerance_mm: float = _num(
        0.01,
        0,
        0.1,
        "mm",
        "slices closer than this along the normal share a position",
        "well below the thinnest slice spacing in use, about 0.2 mm",
        open_low=True,
    )
    slice_position_tolerance: float = _num(
        0.1,
        0,
        0.5,
        "",
        "largest deviation from a uniform grid, as a fraction of the slice step",
        "half a step or more would make the neighbouring slice position ambiguous",
        open_low=True,
        open_high=True,
    )
    uneven_spacing: Literal["resample", "split"] = Field(
        "resample",
        description="missing slices / uneven spacing: interpolate to a uniform grid, or split",
    )
    max_missing_slices: int = _num(
        2,
        0,
        20,
        "slices",
        "longer runs of missing slices split the stack instead",
        "interpolating across a longer gap would invent anatomy",
    )
    orientation_tolerance: float = _num(
        1e-3,
        0,
        0.05,
        "",
        "direction cosines closer than this are the same orientation",
        "0.05 in a direction cosine is about 3 degrees: a different orientation",
        open_low=True,
    )
    tilt_tolerance_deg: float = _num(
        0.1,
        0,
        5,
        "degrees",
        "slice step this far off the normal counts as gantry tilt",
        "a larger tolerance would ignore real gantry tilts of 5-30 degrees",
    )
    follow_symlinks: bool = Field(False, description="descend into symlinked folders")


class SegmentationConfig(_Section):
    """How calcific clumps are found in CT and measured. HU at 120 kVp unless said."""

    RELATIONS = (
        Below("cartilage_hu", "bone_threshold_hu", "cartilage and discs are less dense than bone"),
        Below("bone_grow_hu", "bone_threshold_hu", "growing takes in bone tissue fainter than the threshold"),
        Below("bone_threshold_hu", "bone_split_hu", "bone pieces are split at a density above their own"),
        Below("bone_split_hu", "bone_cortex_hu", "the cortex is split off below its own density"),
        Below("bone_clump_hu", "bone_cortex_hu", "a clump is dense but does not reach cortical density"),
        Below("bone_cortex_hu", "metal_threshold_hu", "cortical bone would otherwise be taken for metal"),
    )

    threshold_hu: float = _num(
        130.0,
        50,
        1000,
        "HU",
        "calcium threshold (Agatston's 130 HU)",
        "calcium thresholds in use are 100-400 HU; below 50 is soft tissue, above 1000 misses most calcium",
    )
    kvp_aware: bool = Field(False, description="scale the threshold and Agatston bands with kVp")
    min_volume_mm3: float = _num(
        1.0, 0, 1000, "mm3", "smallest deposit kept", "a larger minimum would hide deposits that matter"
    )
    min_voxels: int = _num(3, 1, 1000, "voxels", "smallest deposit kept, in voxels")
    edge_fragment_mm3: float = _num(
        100.0,
        0,
        10000,
        "mm3",
        "smaller clumps cut by the first or last slice are not reported (bone stubs)",
        "a bone stub cut by the scan is at most a few mL",
    )
    significance_sigma: float = _num(
        10.0, 0, 50, "noise sigmas", "peak must exceed the surrounding tissue by this many noise sigmas"
    )
    min_peak_margin_hu: float = _num(
        120.0,
        0,
        1000,
        "HU",
        "peak must exceed the calcium threshold by this (by half in fat, where calcium stands out more)",
        "specks peaking at 130-250 HU are noise, streaks and vessel partial volume on routine CT; "
        "0 keeps every speck",
    )
    body_threshold_hu: float = _num(
        -500.0,
        -900,
        -150,
        "HU",
        "tissue vs air for the body mask",
        "between air at -1000 HU and fat at about -100 HU",
    )
    table_gap_mm: float = _num(
        4.0,
        0,
        20,
        "mm",
        "opening radius that detaches the table",
        "a wider opening would cut off fingers and thin limbs too",
    )
    min_body_part_mm3: float = _num(
        20000.0,
        0,
        100000,
        "mm3",
        "smaller separate parts are not body",
        "a hand or a foot, several hundred mL, may be scanned alone",
    )
    bone_threshold_hu: float = _num(
        200.0,
        100,
        600,
        "HU",
        "bone (cortex and dense cancellous bone)",
        "cancellous bone is 100-400 HU, cortex over 1000 HU",
    )
    bone_margin_mm: float = _num(
        1.5,
        0,
        10,
        "mm",
        "partial-volume rim around bone not searched",
        "partial volume reaches a voxel or two, 1-3 mm",
    )
    bone_split_hu: float = _num(
        400.0, 150, 1500, "HU", "pieces that come apart at this density are judged part by part"
    )
    bone_clump_hu: float = _num(
        450.0, 150, 1500, "HU", "a clump against bone has its 90th centile at least this dense"
    )
    bone_clump_contact: float = _num(
        0.3, 0, 1, "", "a blob outside the cortex touching bone over less of its surface is a clump"
    )
    bone_grow_hu: float = _num(
        120.0,
        50,
        400,
        "HU",
        "bone-density tissue (smoothed): cancellous bone, cartilage, not muscle",
        "muscle is about 50 HU",
    )
    bone_grow: bool = Field(True, description="join fragments of cancellous bone to their bone")
    cartilage_hu: float = _num(
        80.0,
        50,
        300,
        "HU",
        "cartilage and discs attached to bone: denser than muscle, below bone",
        "muscle is about 50 HU, cartilage and discs 80-130 HU",
    )
    bone_embedded_fraction: float = _num(
        0.5, 0, 1, "", "a small piece mostly surrounded by bone-density tissue is bone"
    )
    bone_shell_contrast_hu: float = _num(
        100.0, 0, 1000, "HU", "bone's cortex is denser than its interior by at least this"
    )
    bone_cortex_hu: float = _num(
        1000.0,
        500,
        2500,
        "HU",
        "cortical density: a slim rod reaching it near the skin is a phalanx",
        "cortical bone is 1000-2000 HU; blur on thick slices lowers it",
    )
    bone_min_length_mm: float = _num(25.0, 0, 200, "mm", "thin bones are at least this long...")
    bone_min_elongation: float = _num(3.0, 1, 20, "", "...and this many times longer than wide")
    metal_threshold_hu: float = _num(
        3000.0,
        1500,
        3071,
        "HU",
        "metal implants (denser than any calcium or tooth enamel)",
        "cortical bone reaches 1500-2000 HU and tooth enamel 2500-3000 HU; the usual 12-bit CT scale "
        "ends at 3071 HU, "
        "so a higher threshold finds no metal on most scanners",
    )
    metal_min_volume_mm3: float = _num(
        20.0, 0, 10000, "mm3", "smaller dense specks are not metal", "a larger minimum would miss screws"
    )
    metal_streaks: Literal["slab", "radius"] = Field(
        "radius", description="exclude every slice holding metal (slab) or only a radius around it"
    )
    metal_slab_margin_mm: float = _num(10.0, 0, 100, "mm", "slab mode: margin along the slice axis")
    metal_margin_mm: float = _num(
        35.0, 0, 100, "mm", "radius mode: streak zone around metal, in-plane", "streaks reach a few cm"
    )
    lung_threshold_hu: float = _num(
        -400.0,
        -950,
        -200,
        "HU",
        "aerated lung",
        "aerated lung is -950 to -600 HU; above -200 HU is fat and soft tissue",
    )
    lung_min_volume_mm3: float = _num(
        50000.0,
        0,
        1000000,
        "mm3",
        "smaller air pockets are not lung",
        "a lung is 2-3 L, but the scan may hold only its base or apex",
    )
    blood_pool_hu: float = _num(
        120.0,
        80,
        500,
        "HU",
        "a blood pool (aorta, heart) measured denser than this means contrast",
        "unenhanced blood is 40-60 HU (up to about 70 with a high haematocrit); a delayed phase "
        "leaves the aorta at 120-150 HU",
    )
    contrast_lumen_sd: float = _num(
        3.0,
        1,
        10,
        "robust SDs",
        "on enhanced scans, calcium beside the lumen must exceed the lumen's median by this many SDs",
        "Comp2Comp's aortic calcium rule; below 2 the lumen's own noise is reported",
    )
    agatston_normalise_to_3mm: bool = Field(
        True, description="scale Agatston by slice spacing / 3 mm (the protocol's slices)"
    )
    mass_calibration_mg_per_mm3_hu: float | None = _num(
        0.00075,
        0.0002,
        0.002,
        "mg/mm3 per HU",
        "mg of hydroxyapatite per mm3 per HU at 120 kVp; null reports no mass",
        "at 80-140 kVp it is about 0.0005-0.001: 200 mg/cm3 of hydroxyapatite reads 200-400 HU",
    )
    lobe_prominence_mm: float = _num(1.0, 0, 20, "mm", "how much deeper a lobe is than its neck")


class AnatomyConfig(_Section):
    """How deposits are given a region, side and tissue (pipeline/anatomy/)."""

    periarticular_mm: float = _num(
        20.0,
        0,
        100,
        "mm",
        "a deposit this close to a joint (where two bones meet) is periarticular",
        "periarticular deposits lie within a few cm of the joint",
    )


class PatternsConfig(_Section):
    """Where the calcinosis-type site pattern rules come from (pipeline/report/patterns.py)."""

    rules_file: Path | None = Field(
        None, description="site pattern rules (YAML); null: the shipped configs/site_patterns.yaml"
    )


class RadiographConfig(_Section):
    """How compact calcific opacities are found on a plain radiograph (pipeline/xray/).

    There are no Hounsfield units on a radiograph: an opacity is judged by how far it stands
    out from the tissue around it, in units of the image's own noise.
    """

    RELATIONS = (
        Below("min_diameter_mm", "max_diameter_mm", "the sizes looked for run from the one to the other"),
        Below("min_outline_mm", "max_diameter_mm", "else every opacity looked for is too small to report"),
        Below("work_pixel_mm", "min_diameter_mm", "the smallest opacity must span more than a working pixel"),
    )

    min_diameter_mm: float = _num(1.5, 0.2, 20, "mm", "smallest opacity looked for (diameter)")
    max_diameter_mm: float = _num(
        12.0, 1, 100, "mm", "largest opacity looked for; bigger dense areas are bone or masses"
    )
    min_outline_mm: float = _num(
        1.0, 0, 20, "mm", "outlines measuring less than this across are specks, not reported"
    )
    min_cnr: float = _num(
        4.5,
        0,
        50,
        "noise SDs",
        "peak above the tissue and bone around it, in noise SDs (local noise where higher)",
    )
    max_elongation: float = _num(
        3.5, 1, 20, "", "longest over shortest axis; longer shapes are cortices and bone edges"
    )
    min_solidity: float = _num(
        0.8, 0, 1, "", "area over convex hull area; rings and crescents are bone rims", open_low=True
    )
    max_peak_offset: float = _num(
        0.6,
        0,
        1,
        "radii",
        "peak to centre, in radii; a bone end's rim peaks off-centre",
        "the peak lies inside the outline",
    )
    min_bone_fraction: float = _num(
        0.1, 0, 1, "", "over bone, an opacity must add this fraction of the bone's signal"
    )
    bone_width_mm: float = _num(
        12.0,
        1,
        50,
        "mm",
        "bones narrower than this are told apart from the soft tissue under them",
        "the widest limb bones are 30-50 mm across",
    )
    joint_partner_mm: float = _num(
        7.0, 0, 50, "mm", "two bright spots this close across a darker gap are the ends of a joint"
    )
    joint_gap_mm: float = _num(
        6.0,
        0,
        30,
        "mm",
        "a bone end facing another bone across at most this gap is at a joint",
        "joint spaces are 1-10 mm",
    )
    joint_min_cnr: float = _num(
        7.0, 0, 50, "noise SDs", "at a joint, an opacity must stand out this much (bone ends are bright)"
    )
    edge_fraction: float = _num(
        0.4,
        0,
        1,
        "",
        "an opacity's outline: this fraction of its peak above the background",
        open_low=True,
        open_high=True,
    )
    work_pixel_mm: float = _num(
        0.35,
        0.05,
        2,
        "mm",
        "finer images are averaged down to about this pixel size to search",
        "radiograph pixels are 0.05-0.2 mm; coarser than 2 mm loses the smallest opacities",
    )
    assumed_pixel_mm: float = _num(
        0.2,
        0.05,
        1,
        "mm",
        "pixel size assumed for the size limits when the file gives no spacing",
        "radiograph pixels are 0.05-0.2 mm, digitised film up to 0.5 mm",
    )


class Config(_Section):
    """The whole configuration of a calcscan run."""

    loader: LoaderConfig = Field(default_factory=LoaderConfig)
    segmentation: SegmentationConfig = Field(default_factory=SegmentationConfig)
    anatomy: AnatomyConfig = Field(default_factory=AnatomyConfig)
    patterns: PatternsConfig = Field(default_factory=PatternsConfig)
    radiograph: RadiographConfig = Field(default_factory=RadiographConfig)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for run.json and report footers (the resolved configuration)."""
        return self.model_dump(mode="json")


def default_config() -> Config:
    return Config()


# ---- allowed values, in words ----------------------------------------------------------


@dataclass(frozen=True)
class Range:
    """The allowed interval of a numeric setting, as declared with `_num`."""

    low: float
    high: float
    open_low: bool
    open_high: bool
    unit: str
    why: str
    nullable: bool

    def __str__(self) -> str:
        lo, hi = _shown(self.low), _shown(self.high)
        unit = f" {self.unit}" if self.unit else ""
        if self.open_low and self.open_high:
            text = f"above {lo} and below {hi}{unit}"
        elif self.open_low:
            text = f"above {lo} and at most {hi}{unit}"
        elif self.open_high:
            text = f"at least {lo} and below {hi}{unit}"
        else:
            text = f"between {lo} and {hi}{unit}"
        return text + (", or null" if self.nullable else "")

    def explained(self) -> str:
        """The range and, when there is one, its physical reason."""
        return f"{self} ({self.why})" if self.why else str(self)


def field_range(info: FieldInfo) -> Range | None:
    """The declared range of a field, None for settings that are not numbers."""
    bounds: dict[str, float] = {}
    for item in info.metadata:
        for name in ("ge", "gt", "le", "lt"):
            if getattr(item, name, None) is not None:
                bounds[name] = getattr(item, name)
    if not bounds:
        return None
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    return Range(
        low=bounds.get("ge", bounds.get("gt", -math.inf)),
        high=bounds.get("le", bounds.get("lt", math.inf)),
        open_low="gt" in bounds,
        open_high="lt" in bounds,
        unit=str(extra.get("unit", "")),
        why=str(extra.get("why", "")),
        nullable=type(None) in get_args(info.annotation),
    )


def allowed_text(section: type[_Section], key: str) -> str:
    """What `key` of `section` may be: its range and the settings it must stay below or above
    (empty for settings that are not numbers and have no such relation)."""
    parts = []
    span = field_range(section.model_fields[key])
    if span is not None:
        parts.append(span.explained())
    above = [rel.low for rel in section.RELATIONS if rel.high == key]
    below = [rel.high for rel in section.RELATIONS if rel.low == key]
    if above:
        parts.append("above " + " and ".join(above))
    if below:
        parts.append("below " + " and ".join(below))
    return "; ".join(parts)


def _shown(value: Any) -> str:
    """A value as the user would write it in YAML: 130 rather than 130.0, null for None."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return repr(value)
    return str(value)


# ---- the commented defaults --------------------------------------------------------------

DEFAULTS_HEADER = """\
# calcscan configuration: the built-in defaults, written out to copy and edit.
# Precedence: command line (--set section.key=value) > this file (--config FILE) > defaults.
# Unknown keys are an error, so a misspelt key cannot be silently ignored; so is a number
# outside its allowed range (given under each key; HU at 120 kVp).
# Generated from pipeline/config.py (`calcscan config --defaults`); a test keeps them equal.
"""


def defaults_yaml() -> str:
    """The default configuration as commented YAML (what configs/default.yaml holds)."""
    lines = [DEFAULTS_HEADER.rstrip("\n")]
    defaults = Config().as_dict()
    for section, model in Config.model_fields.items():
        lines.append("")
        lines.append(f"{section}:")
        section_model = model.annotation
        for key, info in section_model.model_fields.items():  # type: ignore[union-attr]
            if info.description:
                lines.append(f"  # {info.description}")
            allowed = allowed_text(section_model, key)  # type: ignore[arg-type]
            if allowed:
                lines.extend(_comment(f"allowed: {allowed}"))
            value = yaml.safe_dump({key: defaults[section][key]}, default_flow_style=True, width=1000)
            lines.append("  " + value.strip().strip("{}"))
    return "\n".join(lines) + "\n"


def _comment(text: str) -> list[str]:
    """`text` as indented YAML comment lines that fit an editor's width."""
    return textwrap.wrap(
        text,
        96,
        initial_indent="  #   ",
        subsequent_indent="  #     ",
        break_on_hyphens=False,
        break_long_words=False,
    )


# ---- loading ----------------------------------------------------------------------------


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
        raise ConfigError(_format_validation(exc, path, set(overrides or ()))) from None


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


# ---- validation errors as sentences ------------------------------------------------------

_RANGE_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}
_NUMBER_ERRORS = {"float_parsing", "float_type", "finite_number", "int_parsing", "int_type"}
_WHOLE_ERRORS = {"int_parsing", "int_type", "int_from_float"}


def _format_validation(exc: ValidationError, path: Path | None, overridden: set[str]) -> str:
    """One sentence per problem, naming the key, the value given and what is allowed; the
    config file is named when a problem may come from it rather than from --set."""
    problems = [_problem(err) for err in exc.errors()]
    from_file = path is not None and any(not keys <= overridden for _, keys in problems)
    where = f"config file {path}" if from_file else None
    if len(problems) == 1:
        return f"{where}: {problems[0][0]}" if where else problems[0][0]
    return f"{where or 'configuration'} is invalid:\n  " + "\n  ".join(text for text, _ in problems)


def _problem(err: Any) -> tuple[str, set[str]]:
    """A pydantic error in words, and the dotted keys it is about."""
    loc = tuple(str(p) for p in err["loc"])
    key = ".".join(loc)
    if err["type"] == "extra_forbidden":
        return f"unknown key '{key}'{_known_keys_hint(err['loc'])}", {key}
    if err["type"] == "config_relation":
        return _relation_problem(key, err["ctx"])
    if err["type"] == "model_type":
        return f"{key} = {_shown(err.get('input'))}: must be a section of keys (key: value lines)", {key}
    return f"{key} = {_shown(err.get('input'))}: {_requirement(loc, err)}", {key}


def _relation_problem(section: str, ctx: dict[str, Any]) -> tuple[str, set[str]]:
    low, high = f"{section}.{ctx['low']}", f"{section}.{ctx['high']}"
    text = (
        f"{low} = {_shown(ctx['low_value'])} must be below {high} = {_shown(ctx['high_value'])}: {ctx['why']}"
    )
    return text, {low, high}


def _requirement(loc: tuple[str, ...], err: Any) -> str:
    """What the value at `loc` must be: its range when it has one, else pydantic's words."""
    span = _range_at(loc)
    if span is None:
        return str(err["msg"])
    if err["type"] in _RANGE_ERRORS:
        return f"must be {span.explained()}"
    if err["type"] in _NUMBER_ERRORS | _WHOLE_ERRORS:
        kind = "whole number" if err["type"] in _WHOLE_ERRORS else "finite number"
        return f"must be a {kind} {span.explained()}"
    return f"{err['msg']}; allowed: {span.explained()}"


def _range_at(loc: tuple[str, ...]) -> Range | None:
    if len(loc) != 2 or loc[0] not in Config.model_fields:
        return None
    section = Config.model_fields[loc[0]].annotation
    info = section.model_fields.get(loc[1])  # type: ignore[union-attr]
    return field_range(info) if info is not None else None


def _known_keys_hint(loc: tuple[Any, ...]) -> str:
    model: type[BaseModel] = Config
    for part in loc[:-1]:
        field_info = model.model_fields.get(str(part))
        annotation = getattr(field_info, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return ""
        model = annotation
    return f" (known keys here: {', '.join(model.model_fields)})"
