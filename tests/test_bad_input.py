"""Bad input: every broken file gets its own clear reason, the rest of the folder still loads,
and no input file is touched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.dicom.write import uid_from
from pipeline.discover import discover
from pipeline.load import load_stack
from tests.conftest import SeriesWriter, axial_affine, checksums, make_volume

NOBODY = 65534


@pytest.fixture
def messy_folder() -> Path:
    """A good 10-slice series among every kind of broken file (world-readable, for `nobody`)."""
    root = Path(tempfile.mkdtemp(prefix="calcscan-bad-"))
    os.chmod(root, 0o755)
    writer = SeriesWriter(root)
    hu = make_volume(shape=(10, 32, 32))
    paths = writer.write(hu, axial_affine(), folder="good", tag="good")
    good_series = pydicom.dcmread(paths[0]).SeriesInstanceUID
    bad = root / "bad"
    bad.mkdir()
    (bad / "empty.dcm").write_bytes(b"")
    (bad / "random.dcm").write_bytes(np.random.default_rng(0).bytes(5000))
    whole = paths[3].read_bytes()
    (bad / "truncated_pixels.dcm").write_bytes(whole[: len(whole) - 700])
    (bad / "truncated_header.dcm").write_bytes(whole[:300])
    other = writer.write(hu[:3], axial_affine(), folder="tmp_nopix", tag="nopix")
    ds = pydicom.dcmread(other[0])
    del ds.PixelData
    ds.save_as(bad / "no_pixels.dcm")
    # a slice of another size, inside the good series, past its last slice
    ds = pydicom.dcmread(paths[-1])
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uid_from("odd size")
    ds.ImagePositionPatient = [ds.ImagePositionPatient[0], ds.ImagePositionPatient[1], 200.0]
    ds.Rows = ds.Columns = 16
    ds.PixelData = np.zeros((16, 16), "<i2").tobytes()
    ds.save_as(bad / "odd_size.dcm")
    os.symlink(bad / "does-not-exist.dcm", bad / "dangling_link.dcm")
    os.mkfifo(bad / "a_pipe.dcm")
    locked = bad / "locked.dcm"
    locked.write_bytes(whole)
    os.chmod(locked, 0o000)
    for path in (root / "tmp_nopix").iterdir():
        path.unlink()
    (root / "tmp_nopix").rmdir()
    for path in root.rglob("*"):
        if path.is_dir() and not path.is_symlink():
            os.chmod(path, 0o755)
    yield root, hu, good_series
    os.chmod(locked, 0o600)
    subprocess.run(["rm", "-rf", str(root)], check=False)


EXPECTED_REASONS = {
    "empty.dcm": "empty file (0 bytes)",
    "random.dcm": "not DICOM",
    "truncated_pixels.dcm": "truncated: pixel data needs",
    "truncated_header.dcm": "truncated",
    "no_pixels.dcm": "CT file without pixel data",
    "dangling_link.dcm": "unreadable: No such file or directory",
    "a_pipe.dcm": "not a regular file",
    "locked.dcm": "unreadable: Permission denied",
}


def _discover_as_unprivileged(root: Path) -> dict:
    """Discovery in a child process that can really be refused a file.

    Root reads anything, so when the tests run as root the child imports everything first,
    then drops to user `nobody` before it walks the folder.
    """
    code = (
        "import json, os, sys\n"
        "from pipeline.discover import discover\n"
        "from pipeline.discover.summary import discovery_summary\n"
        f"if os.getuid() == 0:\n    os.setgid({NOBODY}); os.setuid({NOBODY})\n"
        "print(json.dumps(discovery_summary(discover([sys.argv[1]]))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_each_bad_file_gets_its_own_reason_and_the_series_still_loads(messy_folder):
    root, hu, good_series = messy_folder
    before = checksums(root)
    summary = _discover_as_unprivileged(root)
    reasons = {Path(s["path"]).name: s["reason"] for s in summary["skipped"]}
    for name, expected in EXPECTED_REASONS.items():
        assert name in reasons, f"{name} not reported; reported: {reasons}"
        assert expected in reasons[name], f"{name}: {reasons[name]!r} lacks {expected!r}"
    series = [s for st in summary["studies"] for s in st["series"] if s["series_instance_uid"] == good_series]
    kinds = sorted((s["kind"], s["n_images"]) for s in series)
    assert kinds == [("ct_volume", 10), ("other", 1)]
    odd = next(s for s in series if s["kind"] == "other")
    assert odd["files"][0].endswith("odd_size.dcm") and "only 1 CT slice" in odd["reason"]
    assert any("rows" in w for w in odd["warnings"])  # says why the series was split

    found = discover([root])
    stack = next(st for s in found.studies for st in s.stacks if st.kind == "ct_volume")
    np.testing.assert_array_equal(load_stack(stack).hu, hu)
    assert checksums(root) == before


def test_inspect_cli_never_raises_on_bad_input(messy_folder):
    root, _, _ = messy_folder
    result = CliRunner().invoke(cli, ["inspect", str(root)])
    assert result.exit_code == 0, result.output
    for name in EXPECTED_REASONS:
        assert name in result.output
    assert "Traceback" not in result.output


def test_a_slice_that_fails_to_decode_is_reported_and_the_volume_rebuilt(tmp_path: Path):
    """Header intact, compressed pixel data corrupt: found only when pixels are decoded."""
    from pydicom.uid import RLELossless

    writer = SeriesWriter(tmp_path / "in")
    hu = make_volume(shape=(9, 24, 24))
    paths = writer.write(hu, axial_affine(), transfer_syntax=RLELossless)
    raw = bytearray(paths[4].read_bytes())
    start = raw.rfind(b"\xfe\xff\x00\xe0") + 8  # last fragment: the RLE segment data
    raw[start + 4 : start + 64] = b"\xff" * 60  # RLE segment offsets now point past the data
    paths[4].write_bytes(bytes(raw))
    found = discover([writer.root])
    (stack,) = [st for s in found.studies for st in s.stacks]
    volume = load_stack(stack)
    assert [p.path.name for p in volume.file_problems] == [paths[4].name]
    assert "cannot be decoded" in volume.file_problems[0].reason
    assert any("could not be decoded" in w for w in volume.warnings)
    assert volume.interpolated_slices == (4,)
    keep = [k for k in range(9) if k != 4]
    np.testing.assert_array_equal(volume.hu[keep], hu[keep])


def test_missing_input_path_is_a_usage_error(tmp_path: Path):
    result = CliRunner().invoke(cli, ["inspect", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "does not exist" in result.output
