"""Typed configuration: defaults, the shipped YAML, precedence and clear errors."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.config import (
    Config,
    LoaderConfig,
    RadiographConfig,
    SegmentationConfig,
    defaults_yaml,
    field_range,
    load_config,
    parse_override,
)
from pipeline.errors import ConfigError
from tests.conftest import QRM_DICOM, REPO, require_shared


def test_shipped_default_yaml_equals_builtin_defaults():
    text = (REPO / "configs" / "default.yaml").read_text()
    assert yaml.safe_load(text) == Config().as_dict()
    assert text == defaults_yaml(), "regenerate with: calcscan config --defaults > configs/default.yaml"


def test_config_command_shows_resolved_values(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text("segmentation:\n  threshold_hu: 150\n")
    result = CliRunner().invoke(cli, ["config", "--config", str(path), "--set", "loader.min_ct_slices=4"])
    assert result.exit_code == 0, result.output
    shown = yaml.safe_load(result.output)
    assert shown["segmentation"]["threshold_hu"] == 150
    assert shown["loader"]["min_ct_slices"] == 4


def test_precedence_cli_over_file_over_defaults(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text("loader:\n  min_ct_slices: 5\n  air_hu: -1024\n")
    cfg = load_config(path, {"loader.min_ct_slices": 7})
    assert cfg.loader.min_ct_slices == 7  # command line wins
    assert cfg.loader.air_hu == -1024  # file beats default
    assert cfg.loader.max_missing_slices == Config().loader.max_missing_slices  # default


def test_unknown_key_is_named(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text("loader:\n  min_ct_slice: 5\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "unknown key 'loader.min_ct_slice'" in str(err.value)
    assert "min_ct_slices" in str(err.value)  # the hint lists the real key


def test_unknown_section_and_bad_value(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text("segmentaton:\n  x: 1\nloader:\n  uneven_spacing: sometimes\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert "unknown key 'segmentaton'" in message
    assert "loader.uneven_spacing = 'sometimes'" in message and "'resample' or 'split'" in message


def test_bad_yaml_and_missing_file(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("loader: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nope.yaml")


def test_parse_override_types():
    assert parse_override("loader.air_hu=-1024") == ("loader.air_hu", -1024)
    assert parse_override("loader.uneven_spacing=split") == ("loader.uneven_spacing", "split")
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_override("loader.air_hu")


def test_cli_config_error_exits_2_without_traceback(tmp_path: Path):
    require_shared(QRM_DICOM)
    path = tmp_path / "c.yaml"
    path.write_text("loader:\n  nonsense: 1\n")
    result = CliRunner().invoke(cli, ["inspect", str(QRM_DICOM), "--config", str(path)])
    assert result.exit_code == 2
    assert "unknown key 'loader.nonsense'" in result.output
    assert "Traceback" not in result.output


def test_cli_set_changes_behaviour():
    """--set reaches the loader: with min_ct_slices above the QRM's 47 slices it is 'other'."""
    require_shared(QRM_DICOM)
    runner = CliRunner()
    plain = runner.invoke(cli, ["inspect", "--json", str(QRM_DICOM)])
    strict = runner.invoke(cli, ["inspect", "--json", str(QRM_DICOM), "--set", "loader.min_ct_slices=50"])
    assert plain.exit_code == 0 and strict.exit_code == 0
    assert '"kind": "ct_volume"' in plain.output
    assert '"kind": "ct_volume"' not in strict.output
    assert "at least 50" in strict.output


# ---- allowed ranges ---------------------------------------------------------------------


def _settings():
    """(section name, section model, key, field info) of every setting."""
    for section, field in Config.model_fields.items():
        model = field.annotation
        for key, info in model.model_fields.items():
            yield section, model, key, info


def _is_number(info) -> bool:
    kinds = {info.annotation, *getattr(info.annotation, "__args__", ())}
    return bool(kinds & {int, float})


def test_every_number_has_a_range_and_its_default_lies_inside():
    defaults = Config()
    with_numbers = set()
    for section, _, key, info in _settings():
        if not _is_number(info):
            assert field_range(info) is None, f"{section}.{key}"
            continue
        with_numbers.add(section)
        span = field_range(info)
        assert span is not None, f"{section}.{key} has no allowed range"
        assert math.isfinite(span.low) and math.isfinite(span.high), f"{section}.{key}: open-ended"
        value = getattr(getattr(defaults, section), key)
        above = value > span.low if span.open_low else value >= span.low
        below = value < span.high if span.open_high else value <= span.high
        assert above and below, f"default {section}.{key} = {value} is outside {span}"
    assert with_numbers == {"loader", "segmentation", "anatomy", "radiograph"}  # all were looked at


def test_defaults_keep_every_relation():
    for model in (LoaderConfig, SegmentationConfig, RadiographConfig):
        defaults = model()
        for rel in model.RELATIONS:
            assert getattr(defaults, rel.low) < getattr(defaults, rel.high), rel


def test_ranges_are_inclusive_or_exclusive_as_declared():
    assert load_config(None, {"segmentation.threshold_hu": 50}).segmentation.threshold_hu == 50
    assert load_config(None, {"segmentation.threshold_hu": 1000}).segmentation.threshold_hu == 1000
    with pytest.raises(ConfigError, match=r"above 0 and at most 0\.1 mm"):
        load_config(None, {"loader.duplicate_tolerance_mm": 0})
    no_mass = load_config(None, {"segmentation.mass_calibration_mg_per_mm3_hu": None})
    assert no_mass.segmentation.mass_calibration_mg_per_mm3_hu is None


@pytest.mark.parametrize(
    ("setting", "shown", "allowed"),
    [
        ("segmentation.threshold_hu=-50", "segmentation.threshold_hu = -50", "between 50 and 1000 HU"),
        ("segmentation.threshold_hu=-5000", "segmentation.threshold_hu = -5000", "between 50 and 1000 HU"),
        ("segmentation.metal_threshold_hu=1000", "= 1000", "between 1500 and 3071 HU"),
        ("segmentation.lung_threshold_hu=-100", "= -100", "between -950 and -200 HU"),
        ("segmentation.bone_margin_mm=250", "segmentation.bone_margin_mm = 250", "between 0 and 10 mm"),
        ("segmentation.bone_clump_contact=1.5", "= 1.5", "between 0 and 1"),
        ("loader.air_hu=0", "loader.air_hu = 0", "between -1100 and -950 HU"),
        ("loader.min_ct_slices=0", "loader.min_ct_slices = 0", "between 1 and 500 slices"),
        ("anatomy.periarticular_mm=-5", "anatomy.periarticular_mm = -5", "between 0 and 100 mm"),
        ("radiograph.min_cnr=-1", "radiograph.min_cnr = -1", "between 0 and 50 noise SDs"),
        ("radiograph.edge_fraction=1", "radiograph.edge_fraction = 1", "above 0 and below 1"),
    ],
)
def test_out_of_range_exits_2_naming_key_value_and_range(setting: str, shown: str, allowed: str):
    result = CliRunner().invoke(cli, ["config", "--set", setting])
    assert result.exit_code == 2, result.output
    key = setting.partition("=")[0]
    assert f"calcscan: error: {key} = " in result.output
    assert shown in result.output and f"must be {allowed}" in result.output
    assert "Traceback" not in result.output and "validation error" not in result.output


@pytest.mark.parametrize("value", ["nan", ".nan", ".inf", "-.inf", "1e999"])
def test_nan_and_infinity_are_refused(value: str):
    result = CliRunner().invoke(cli, ["config", "--set", f"segmentation.threshold_hu={value}"])
    assert result.exit_code == 2, result.output
    assert "segmentation.threshold_hu = " in result.output
    assert "must be a finite number between 50 and 1000 HU" in result.output


def test_a_whole_number_is_asked_for_where_one_is_needed():
    result = CliRunner().invoke(cli, ["config", "--set", "segmentation.min_voxels=2.5"])
    assert result.exit_code == 2
    assert "segmentation.min_voxels = 2.5: must be a whole number between 1 and 1000 voxels" in result.output


@pytest.mark.parametrize(
    ("settings", "low", "high"),
    [
        (["segmentation.cartilage_hu=250"], "cartilage_hu = 250", "bone_threshold_hu = 200"),
        (
            ["segmentation.bone_cortex_hu=2000", "segmentation.metal_threshold_hu=1800"],
            "bone_cortex_hu = 2000",
            "metal_threshold_hu = 1800",
        ),
        (["segmentation.bone_split_hu=180"], "bone_threshold_hu = 200", "bone_split_hu = 180"),
        (["radiograph.min_diameter_mm=15"], "min_diameter_mm = 15", "max_diameter_mm = 12"),
    ],
)
def test_settings_in_the_wrong_order_are_refused(settings: list[str], low: str, high: str):
    args = ["config"] + [a for s in settings for a in ("--set", s)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    section = settings[0].partition(".")[0]
    assert f"{section}.{low} must be below {section}.{high}:" in result.output


def test_each_problem_of_a_config_file_is_a_line_naming_the_file(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text("segmentation:\n  threshold_hu: -50\nloader:\n  air_hu: 0\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    lines = str(err.value).splitlines()
    assert lines[0] == f"config file {path} is invalid:"
    for expected in (
        "  segmentation.threshold_hu = -50: must be between 50 and 1000 HU (",
        "  loader.air_hu = 0: must be between -1100 and -950 HU (",
    ):
        assert any(line.startswith(expected) for line in lines[1:]), (expected, lines)
    # the file's value is overridden on the command line: only --set's problem is left
    with pytest.raises(ConfigError) as err:
        load_config(path, {"loader.air_hu": -1000, "segmentation.threshold_hu": 2000})
    assert str(err.value).startswith("segmentation.threshold_hu = 2000: must be between 50 and 1000 HU")


def test_defaults_listing_shows_each_numbers_range():
    text = defaults_yaml()
    lines = text.splitlines()
    for section, _, key, info in _settings():
        if not _is_number(info):
            continue
        start = lines.index(f"{section}:")
        at = next(i for i, line in enumerate(lines) if i > start and line.startswith(f"  {key}:"))
        comment = " ".join(line.strip(" #") for line in lines[at - 4 : at] if line.startswith("  #"))
        assert f"allowed: {field_range(info)}" in comment, (section, key)
    assert "allowed: between 50 and 1000 HU" in text
    assert "below bone_threshold_hu" in text  # cartilage_hu's relation
