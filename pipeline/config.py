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


class SegmentationConfig(_Section):
    """How calcific clumps are found in CT and measured. HU at 120 kVp unless said."""

    threshold_hu: float = Field(130.0, description="calcium threshold (Agatston's 130 HU)")
    kvp_aware: bool = Field(False, description="scale the threshold and Agatston bands with kVp")
    min_volume_mm3: float = Field(1.0, ge=0, description="smallest deposit kept")
    min_voxels: int = Field(3, ge=1, description="smallest deposit kept, in voxels")
    edge_fragment_mm3: float = Field(
        100.0,
        ge=0,
        description="smaller clumps cut by the first or last slice are not reported (bone stubs)",
    )
    significance_sigma: float = Field(
        10.0, ge=0, description="peak must exceed the surrounding tissue by this many noise sigmas"
    )
    body_threshold_hu: float = Field(-500.0, description="tissue vs air for the body mask")
    table_gap_mm: float = Field(4.0, ge=0, description="opening radius that detaches the table")
    min_body_part_mm3: float = Field(20000.0, ge=0, description="smaller separate parts are not body")
    bone_threshold_hu: float = Field(200.0, description="bone (cortex and dense cancellous bone)")
    bone_margin_mm: float = Field(1.5, ge=0, description="partial-volume rim around bone not searched")
    bone_split_hu: float = Field(
        400.0, description="pieces that come apart at this density are judged part by part"
    )
    bone_clump_hu: float = Field(
        450.0, description="a clump against bone has its 90th centile at least this dense"
    )
    bone_clump_contact: float = Field(
        0.3,
        ge=0,
        le=1,
        description="a blob outside the cortex touching bone over less of its surface is a clump",
    )
    bone_grow_hu: float = Field(
        120.0, description="bone-density tissue (smoothed): cancellous bone, cartilage, not muscle"
    )
    bone_grow: bool = Field(True, description="join fragments of cancellous bone to their bone")
    cartilage_hu: float = Field(
        80.0, description="cartilage and discs attached to bone: denser than muscle, below bone"
    )
    bone_embedded_fraction: float = Field(
        0.5, ge=0, le=1, description="a small piece mostly surrounded by bone-density tissue is bone"
    )
    bone_shell_contrast_hu: float = Field(
        100.0, description="bone's cortex is denser than its interior by at least this"
    )
    bone_cortex_hu: float = Field(
        1000.0, description="cortical density: a slim rod reaching it near the skin is a phalanx"
    )
    bone_min_length_mm: float = Field(25.0, ge=0, description="thin bones are at least this long...")
    bone_min_elongation: float = Field(3.0, ge=1, description="...and this many times longer than wide")
    metal_threshold_hu: float = Field(2500.0, description="metal implants (denser than any calcium)")
    metal_min_volume_mm3: float = Field(20.0, ge=0, description="smaller dense specks are not metal")
    metal_streaks: Literal["slab", "radius"] = Field(
        "slab", description="exclude every slice holding metal (slab) or only a radius around it"
    )
    metal_slab_margin_mm: float = Field(10.0, ge=0, description="slab mode: margin along the slice axis")
    metal_margin_mm: float = Field(35.0, ge=0, description="radius mode: streak zone around metal, in-plane")
    lung_threshold_hu: float = Field(-400.0, description="aerated lung")
    lung_min_volume_mm3: float = Field(50000.0, ge=0, description="smaller air pockets are not lung")
    blood_pool_hu: float = Field(150.0, description="blood denser than this means contrast")
    blood_pool_min_volume_mm3: float = Field(8000.0, ge=0, description="a vessel or heart chamber")
    contrast_margin_hu: float = Field(
        100.0, ge=0, description="on enhanced scans, calcium must exceed the lumen's 99th centile by this"
    )
    agatston_normalise_to_3mm: bool = Field(
        True, description="scale Agatston by slice spacing / 3 mm (the protocol's slices)"
    )
    mass_calibration_mg_per_mm3_hu: float | None = Field(
        0.00075,
        ge=0,
        description="mg of hydroxyapatite per mm3 per HU at 120 kVp; null reports no mass",
    )
    lobe_prominence_mm: float = Field(1.0, ge=0, description="how much deeper a lobe is than its neck")


class AnatomyConfig(_Section):
    """How deposits are given a region, side and tissue (pipeline/anatomy/)."""

    periarticular_mm: float = Field(
        20.0, ge=0, description="a deposit this close to a joint (where two bones meet) is periarticular"
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

    min_diameter_mm: float = Field(1.5, gt=0, description="smallest opacity looked for (diameter)")
    max_diameter_mm: float = Field(
        12.0, gt=0, description="largest opacity looked for; bigger dense areas are bone or masses"
    )
    min_outline_mm: float = Field(
        1.0, ge=0, description="outlines measuring less than this across are specks, not reported"
    )
    min_cnr: float = Field(
        4.5,
        ge=0,
        description="peak above the tissue and bone around it, in noise SDs (local noise where higher)",
    )
    max_elongation: float = Field(
        3.5, ge=1, description="longest over shortest axis; longer shapes are cortices and bone edges"
    )
    min_solidity: float = Field(
        0.8, gt=0, le=1, description="area over convex hull area; rings and crescents are bone rims"
    )
    max_peak_offset: float = Field(
        0.6, ge=0, description="peak to centre, in radii; a bone end's rim peaks off-centre"
    )
    min_bone_fraction: float = Field(
        0.1, ge=0, le=1, description="over bone, an opacity must add this fraction of the bone's signal"
    )
    bone_width_mm: float = Field(
        12.0, gt=0, description="bones narrower than this are told apart from the soft tissue under them"
    )
    joint_partner_mm: float = Field(
        7.0, ge=0, description="two bright spots this close across a darker gap are the ends of a joint"
    )
    joint_gap_mm: float = Field(
        6.0, ge=0, description="a bone end facing another bone across at most this gap is at a joint"
    )
    joint_min_cnr: float = Field(
        7.0, ge=0, description="at a joint, an opacity must stand out this much (bone ends are bright)"
    )
    edge_fraction: float = Field(
        0.4, gt=0, lt=1, description="an opacity's outline: this fraction of its peak above the background"
    )
    work_pixel_mm: float = Field(
        0.35, gt=0, description="finer images are averaged down to about this pixel size to search"
    )
    assumed_pixel_mm: float = Field(
        0.2, gt=0, description="pixel size assumed for the size limits when the file gives no spacing"
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


DEFAULTS_HEADER = """\
# calcscan configuration: the built-in defaults, written out to copy and edit.
# Precedence: command line (--set section.key=value) > this file (--config FILE) > defaults.
# Unknown keys are an error, so a misspelt key cannot be silently ignored.
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
            value = yaml.safe_dump({key: defaults[section][key]}, default_flow_style=True, width=1000)
            lines.append("  " + value.strip().strip("{}"))
    return "\n".join(lines) + "\n"


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
