"""Typed configuration: defaults, the shipped YAML, precedence and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.config import Config, defaults_yaml, load_config, parse_override
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
    assert "'loader.uneven_spacing'" in message and "sometimes" in message


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
