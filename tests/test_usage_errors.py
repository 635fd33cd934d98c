"""Usage errors are exit code 2 with one clear message and nothing written: an output folder
that cannot be made or written (below a file, on /proc, read-only), a config value out of
its range. Checked before any study is read, so these runs take a moment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.errors import UsageError
from pipeline.output_path import check_output_folder
from tests.conftest import SAMPLE, calcscan

HEALTHY = SAMPLE / "healthy"


def _tree(root: Path) -> list[str]:
    """Every path under `root`, to compare before and after."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "notes.txt"
    path.write_text("not a folder\n")
    return path


# ---- the check itself --------------------------------------------------------------------


def test_a_new_output_folder_passes_and_is_not_left_behind(tmp_path: Path):
    check_output_folder(tmp_path / "new" / "deeper" / "out")
    assert _tree(tmp_path) == []  # neither the folders nor the probe file stay


def test_an_existing_empty_folder_passes_and_stays_empty(tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    check_output_folder(out)
    assert out.is_dir() and _tree(out) == []


@pytest.mark.parametrize("below", ["out", "a/b/out"])
def test_below_a_regular_file_is_refused(a_file: Path, below: str):
    with pytest.raises(UsageError) as err:
        check_output_folder(a_file / below)
    assert str(err.value) == f"output {a_file / below} cannot be created: {a_file} is a file, not a folder"
    assert a_file.read_text() == "not a folder\n"


def test_a_regular_file_as_output_is_refused(a_file: Path):
    with pytest.raises(UsageError, match="exists and is not a folder"):
        check_output_folder(a_file)


def test_a_broken_symlink_on_the_way_is_named(tmp_path: Path):
    (tmp_path / "link").symlink_to(tmp_path / "gone")
    with pytest.raises(UsageError, match="link is a broken symbolic link"):
        check_output_folder(tmp_path / "link" / "out")
    assert not (tmp_path / "gone").exists()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
@pytest.mark.parametrize("out", ["/proc/calcscan-out", "/proc/calcscan-out/deeper", "/proc"])
def test_proc_is_refused(out: str):
    with pytest.raises(UsageError) as err:
        check_output_folder(Path(out))
    assert str(err.value).startswith(f"output {out} ")
    assert "/proc does not accept new files or folders" in str(err.value)
    assert not Path("/proc/calcscan-out").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a folder without write permission")
def test_a_folder_without_write_permission_is_refused(tmp_path: Path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(UsageError, match="permission denied"):
            check_output_folder(locked / "out")
        with pytest.raises(UsageError, match="is not writable: permission denied"):
            check_output_folder(locked)
    finally:
        locked.chmod(0o755)
    assert _tree(locked) == []


# ---- the commands ------------------------------------------------------------------------


@pytest.mark.parametrize("below", ["out", "a/b"])
def test_run_below_a_file_exits_2_with_a_message(a_file: Path, below: str):
    before = _tree(a_file.parent)
    done = calcscan("run", HEALTHY, "-o", a_file / below)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        f"calcscan: error: output {a_file / below} cannot be created: {a_file} is a file, not a folder"
    )
    assert "Traceback" not in done.stderr
    assert _tree(a_file.parent) == before and a_file.read_text() == "not a folder\n"


def test_run_with_a_relative_path_below_a_file_names_it_as_given(a_file: Path, monkeypatch):
    monkeypatch.chdir(a_file.parent)
    result = CliRunner().invoke(cli, ["run", str(HEALTHY), "-o", "notes.txt/out"])
    assert result.exit_code == 2, result.output
    assert "output notes.txt/out cannot be created" in result.output
    assert f"{a_file} is a file, not a folder" in result.output


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_run_on_proc_exits_2_with_a_message():
    done = calcscan("run", HEALTHY, "-o", "/proc/calcscan-out")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("calcscan: error: output /proc/calcscan-out cannot be created: ")
    assert "Traceback" not in done.stderr


def test_a_later_usage_error_leaves_no_output_folder(tmp_path: Path):
    """The output check makes OUT to try it; a usage error found after it (here a missing
    --clinical file) must still leave nothing behind."""
    out = tmp_path / "new" / "out"
    done = calcscan("run", HEALTHY, "-o", out, "--clinical", tmp_path / "missing.yaml")
    assert done.returncode == 2, done.stderr
    assert "missing.yaml" in done.stderr
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("command", [["listen"], ["phantom", "healthy"]])
def test_listen_and_phantom_check_their_output_too(a_file: Path, command: list[str]):
    before = _tree(a_file.parent)
    result = CliRunner().invoke(cli, [*command, "-o", str(a_file / "out")])
    assert result.exit_code == 2, result.output
    assert f"output {a_file / 'out'} cannot be created: {a_file} is a file, not a folder" in result.output
    assert "Traceback" not in result.output
    assert _tree(a_file.parent) == before


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("segmentation.threshold_hu=-50", "segmentation.threshold_hu = -50: must be between 50 and 1000 HU"),
        ("segmentation.threshold_hu=nan", "must be a finite number between 50 and 1000 HU"),
        ("radiograph.work_pixel_mm=3", "radiograph.work_pixel_mm = 3: must be between 0.05 and 2 mm"),
    ],
)
def test_run_with_a_value_out_of_range_exits_2_and_writes_nothing(tmp_path: Path, setting: str, message: str):
    out = tmp_path / "out"
    done = calcscan("run", HEALTHY, "-o", out, "--set", setting)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("calcscan: error: ") and message in done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()
