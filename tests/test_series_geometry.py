"""Series written by the tests with known geometry come back with exactly that geometry.

Ground truth is what was written (volume and affine); SimpleITK's ImageSeriesReader is a
second, independent reader wherever it models the geometry (not under gantry tilt).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
)

from pipeline.config import LoaderConfig
from pipeline.dicom.write import uid_from
from pipeline.discover import discover
from pipeline.load import load_stack
from pipeline.models import CTVolume
from tests.conftest import SeriesWriter, axial_affine, make_volume, require_tool
from tests.sitk_compare import assert_matches_sitk, assert_same_frame


def _only_stack(root: Path, cfg: LoaderConfig | None = None):
    stacks = [st for s in discover([root], cfg).studies for st in s.stacks]
    assert len(stacks) == 1, [(st.kind, st.reason, st.warnings) for st in stacks]
    return stacks[0]


def _sitk_series(paths: list[Path]) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    folder = str(paths[0].parent)
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(folder))
    return reader.Execute()


def _rotation(ax: float, az: float) -> np.ndarray:
    ax, az = np.deg2rad(ax), np.deg2rad(az)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ rx


def test_shuffled_names_nested_folders_no_extension_no_preamble(series_writer: SeriesWriter, tmp_path: Path):
    hu, affine = make_volume(), axial_affine()
    paths = series_writer.write(hu, affine, folder="flat")
    messy = tmp_path / "messy"
    rng = random.Random(4)
    for i, path in enumerate(rng.sample(paths, len(paths))):
        target = messy / rng.choice(["a", "a/b", "c/d/e", ""]) / f"{rng.getrandbits(40):x}"
        target.parent.mkdir(parents=True, exist_ok=True)
        if i % 3 == 0:  # a third without preamble or file meta, as old archives store them
            ds = pydicom.dcmread(path)
            del ds.file_meta
            ds.preamble = None
            pydicom.dcmwrite(target, ds, implicit_vr=True, little_endian=True)
        else:
            shutil.copy(path, target)
    stack = _only_stack(messy)
    assert stack.kind == "ct_volume" and not stack.warnings
    volume = load_stack(stack)
    np.testing.assert_array_equal(volume.hu, hu)
    np.testing.assert_allclose(volume.affine, affine, atol=1e-6)


def test_slices_sorted_by_position_not_instance_number(series_writer: SeriesWriter):
    """InstanceNumber runs backwards here; only the positions tell the true order."""
    hu, affine = make_volume(), axial_affine()
    n = hu.shape[0]
    series_writer.write(hu, affine, customize=lambda ds, k: setattr(ds, "InstanceNumber", n - k))
    volume = load_stack(_only_stack(series_writer.root))
    np.testing.assert_array_equal(volume.hu, hu)


def test_descending_positions_give_a_right_handed_ascending_volume(series_writer: SeriesWriter):
    hu = make_volume()
    affine = axial_affine()
    affine[:3, 2] *= -1  # written head-to-feet
    paths = series_writer.write(hu, affine)
    volume = load_stack(_only_stack(series_writer.root))
    np.testing.assert_array_equal(volume.hu, hu[::-1])
    assert volume.affine[2, 2] > 0
    np.testing.assert_allclose(volume.origin, affine[:3, :3] @ [0, 0, hu.shape[0] - 1] + affine[:3, 3])
    image = _sitk_series(paths)
    assert_same_frame(volume, image)
    assert_matches_sitk(volume, image)


def _linear_in_z(shape=(12, 24, 20)) -> np.ndarray:
    """HU that vary linearly along z, so linear interpolation between slices is exact."""
    z = np.arange(shape[0])[:, None, None]
    return np.broadcast_to(-500 + 40 * z + np.zeros(shape[1:]), shape).astype(np.int16)


def test_missing_slice_is_interpolated_and_said(series_writer: SeriesWriter):
    hu, affine = _linear_in_z(), axial_affine()
    paths = series_writer.write(hu, affine)
    paths[5].unlink()
    stack = _only_stack(series_writer.root)
    assert any("1 missing slice(s) on a 2.5 mm grid" in w and "interpolation" in w for w in stack.warnings)
    volume = load_stack(stack)
    assert volume.interpolated_slices == (5,)
    np.testing.assert_array_equal(volume.hu, hu)  # linear in z: the fill is exact
    np.testing.assert_allclose(volume.affine, affine, atol=1e-6)


def test_long_gap_splits_and_split_mode_splits_any_gap(series_writer: SeriesWriter):
    hu, affine = _linear_in_z((14, 16, 16)), axial_affine()
    paths = series_writer.write(hu, affine)
    for k in (6, 7, 8):  # three missing slices: more than max_missing_slices=2
        paths[k].unlink()
    stacks = [st for s in discover([series_writer.root]).studies for st in s.stacks]
    assert sorted(len(st.slices) for st in stacks) == [5, 6]
    assert all(st.kind == "ct_volume" for st in stacks)
    for st in stacks:
        vol = load_stack(st)
        z0 = round((vol.origin[2] - affine[2, 3]) / affine[2, 2])  # first written slice it holds
        np.testing.assert_array_equal(vol.hu, hu[z0 : z0 + vol.hu.shape[0]])
    paths[3].unlink()  # now also a single missing slice, which split mode must not fill
    split = LoaderConfig(uneven_spacing="split")
    stacks = [st for s in discover([series_writer.root], split).studies for st in s.stacks]
    assert sorted(len(st.slices) for st in stacks) == [2, 3, 5]
    assert not any(load_stack(st).interpolated_slices for st in stacks if st.plan)


def test_uneven_spacing_is_resampled_to_a_uniform_grid(series_writer: SeriesWriter):
    """Slices 2 mm apart, then 1.25 mm apart (off any common grid): resampled uniformly."""
    offsets = np.array([0, 2.0, 4.0, 6.0, 8.0, 10.0, 11.25, 12.5, 13.75, 15.0, 16.25, 17.5])
    truth = lambda z: -400 + 20 * z  # noqa: E731  HU linear in z (mm)
    hu = np.stack([np.full((16, 16), truth(z)) for z in offsets]).astype(np.int16)
    affine = axial_affine(spacing=(0.9, 0.9, 1.0), origin=(0, 0, 0))
    series_writer.write(
        hu, affine, customize=lambda ds, k: setattr(ds, "ImagePositionPatient", [0, 0, float(offsets[k])])
    )
    stack = _only_stack(series_writer.root)
    assert any("uneven slice spacing" in w and "resampled" in w for w in stack.warnings)
    volume = load_stack(stack)
    step = volume.spacing[2]
    n = volume.hu.shape[0]
    assert step == pytest.approx(17.5 / (n - 1)) and 1.25 <= step <= 2.0
    assert volume.origin[2] == pytest.approx(0) and len(volume.interpolated_slices) > 0
    z = volume.origin[2] + step * np.arange(n)
    np.testing.assert_allclose(volume.hu[:, 0, 0], truth(z), atol=0.5)


def test_duplicate_file_copy_is_used_once(series_writer: SeriesWriter):
    hu = make_volume()
    paths = series_writer.write(hu, axial_affine())
    shutil.copy(paths[3], paths[3].with_name("copy_of_slice.dcm"))
    found = discover([series_writer.root])
    assert any("same SOP Instance UID" in s.reason for s in found.skipped)
    (stack,) = found.studies[0].stacks
    np.testing.assert_array_equal(load_stack(stack).hu, hu)


def test_two_acquisitions_at_the_same_positions_are_split(series_writer: SeriesWriter):
    hu, affine = make_volume(), axial_affine()
    series = dict(series_uid=uid_from("dup", "series"), frame_of_reference_uid=uid_from("dup", "for"))
    study = dict(tag="dup")
    series_writer.write(hu, affine, folder="acq1", **series, **study)
    series_writer.write(
        hu + 100,
        affine,
        folder="acq2",
        **series,
        **study,
        customize=lambda ds, k: (
            setattr(ds, "AcquisitionNumber", 2),
            setattr(ds, "SOPInstanceUID", uid_from("acq2", k)),
            setattr(ds.file_meta, "MediaStorageSOPInstanceUID", uid_from("acq2", k)),
        ),
    )
    stacks = [st for s in discover([series_writer.root]).studies for st in s.stacks]
    assert len(stacks) == 2
    assert all("split into 2 stacks by AcquisitionNumber" in st.warnings[0] for st in stacks)
    loaded = sorted((load_stack(st).hu for st in stacks), key=lambda a: a.mean())
    np.testing.assert_array_equal(loaded[0], hu)
    np.testing.assert_array_equal(loaded[1], hu + 100)


def test_duplicate_position_without_distinction_keeps_first(series_writer: SeriesWriter):
    hu, affine = make_volume(), axial_affine()
    paths = series_writer.write(hu, affine)
    ds = pydicom.dcmread(paths[4])
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uid_from("extra")
    ds.InstanceNumber = 999
    ds.PixelData = (np.frombuffer(ds.PixelData, "<i2") + 7).astype("<i2").tobytes()
    ds.save_as(paths[4].with_name("extra.dcm"))
    stack = _only_stack(series_writer.root)
    assert any("kept the first by InstanceNumber" in w and "extra.dcm" in w for w in stack.warnings)
    np.testing.assert_array_equal(load_stack(stack).hu, hu)


def test_oblique_stack_keeps_its_frame_and_matches_simpleitk(series_writer: SeriesWriter):
    hu = make_volume()
    affine = axial_affine()
    affine[:3, :3] = _rotation(25, 10) @ affine[:3, :3]
    paths = series_writer.write(hu, affine)
    stack = _only_stack(series_writer.root)
    assert any("oblique slices" in w for w in stack.warnings)
    assert not any("tilt" in w for w in stack.warnings)
    volume = load_stack(stack)
    np.testing.assert_array_equal(volume.hu, hu)
    np.testing.assert_allclose(volume.affine, affine, atol=1e-5)
    image = _sitk_series(paths)
    assert_same_frame(volume, image)
    assert_matches_sitk(volume, image)


def test_gantry_tilt_keeps_the_true_sheared_geometry(series_writer: SeriesWriter):
    """Tilted slice planes stepping along the table (z): every slice where it was written."""
    hu = make_volume()
    tilt = np.deg2rad(15)
    affine = axial_affine(spacing=(0.8, 0.7, 2.5))
    affine[:3, 1] = np.array([0, np.cos(tilt), np.sin(tilt)]) * 0.7  # column cosine tilted
    affine[:3, 2] = [0, 0, 2.5]  # the table moves along z, not along the slice normal
    series_writer.write(hu, affine, customize=lambda ds, k: setattr(ds, "GantryDetectorTilt", "15"))
    stack = _only_stack(series_writer.root)
    (tilt_note,) = [w for w in stack.warnings if "gantry tilt" in w]
    assert "15.00 deg" in tilt_note
    volume = load_stack(stack)
    assert volume.tilt_deg == pytest.approx(15, abs=0.01)
    np.testing.assert_array_equal(volume.hu, hu)
    np.testing.assert_allclose(volume.affine, affine, atol=1e-5)
    image = volume.image  # SimpleITK carries the shear as a non-orthogonal direction
    for ijk in [(0, 0, 0), (47, 39, 11), (5, 30, 7)]:
        expected = affine[:3, :3] @ ijk + affine[:3, 3]
        np.testing.assert_allclose(image.TransformIndexToPhysicalPoint(ijk), expected, atol=1e-4)
    assert volume.voxel_volume_mm3 == pytest.approx(0.8 * 0.7 * 2.5 * np.cos(tilt))


def test_enhanced_multiframe_ct_equals_its_classic_series(series_writer: SeriesWriter, tmp_path: Path):
    """A Legacy Converted Enhanced CT made by highdicom from a classic series, frames shuffled."""
    from highdicom.legacy import LegacyConvertedEnhancedCTImage

    hu = make_volume()
    affine = axial_affine()
    affine[:3, :3] = _rotation(0, 30) @ affine[:3, :3]
    paths = series_writer.write(hu, affine, folder="classic")
    classic = [pydicom.dcmread(p) for p in random.Random(1).sample(paths, len(paths))]
    enhanced = LegacyConvertedEnhancedCTImage(
        classic,
        series_instance_uid=uid_from("enh"),
        series_number=9,
        sop_instance_uid=uid_from("enh", "sop"),
        instance_number=1,
    )
    target = tmp_path / "enhanced" / "multiframe"
    target.parent.mkdir()
    enhanced.save_as(target)
    stack = _only_stack(target.parent)
    assert stack.kind == "ct_volume" and stack.n_instances == 1 and len(stack.slices) == hu.shape[0]
    volume = load_stack(stack)
    np.testing.assert_array_equal(volume.hu, hu)
    np.testing.assert_allclose(volume.affine, affine, atol=1e-5)


def test_per_slice_rescale_signed_and_unsigned_storage(series_writer: SeriesWriter):
    """Each slice's own slope/intercept; some slices unsigned with intercept -1024."""
    hu = make_volume()

    def vary(ds, k):
        stored = np.frombuffer(ds.PixelData, "<i2").astype(np.int32) - 1024  # = HU
        if k % 3 == 1:  # unsigned, intercept -1024
            ds.PixelRepresentation = 0
            ds.RescaleIntercept = "-1024"
            ds.PixelData = np.clip(stored + 1024, 0, None).astype("<u2").tobytes()
        elif k % 3 == 2:  # signed, slope 2, intercept -2000
            ds.RescaleSlope, ds.RescaleIntercept = "2", "-2000"
            ds.PixelData = ((stored + 2000) // 2).astype("<i2").tobytes()

    hu = hu - (hu % 2) * (np.arange(hu.shape[0]) % 3 == 2)[:, None, None]  # even where slope 2
    series_writer.write(hu, axial_affine(), customize=vary)
    volume = load_stack(_only_stack(series_writer.root))
    assert volume.hu.dtype == np.int16
    np.testing.assert_array_equal(volume.hu, hu)


def test_fractional_rescale_gives_float_hu(series_writer: SeriesWriter):
    hu = make_volume() + 0.5 * (np.indices(make_volume().shape)[2] % 2)  # half-HU steps
    series_writer.write(hu, axial_affine(), slope=0.5, intercept=-1024.0)
    volume = load_stack(_only_stack(series_writer.root))
    assert volume.hu.dtype == np.float32
    np.testing.assert_array_equal(volume.hu, hu)


def test_padding_and_out_of_field_values_become_air(series_writer: SeriesWriter):
    hu = make_volume()
    hu[:, :4, :4] = -3024  # outside the reconstruction circle

    def pad(ds, k):
        ds.PixelPaddingValue = -2000
        stored = np.frombuffer(ds.PixelData, "<i2").copy().reshape(ds.Rows, ds.Columns)
        stored[-3:, -3:] = -2000
        ds.PixelData = stored.tobytes()

    series_writer.write(hu, axial_affine(), customize=pad)
    volume = load_stack(_only_stack(series_writer.root))
    assert np.all(volume.hu[:, :4, :4] == -1000)
    assert np.all(volume.hu[:, -3:, -3:] == -1000)
    inner = np.ones(hu.shape, bool)
    inner[:, :4, :4] = inner[:, -3:, -3:] = False
    np.testing.assert_array_equal(volume.hu[inner], hu[inner])


def _transcode_with_dcmtk(tool: str, flags: list[str], src: Path, dst: Path) -> None:
    dst.mkdir(parents=True)
    for path in src.iterdir():
        subprocess.run([tool, *flags, str(path), str(dst / path.name)], check=True, capture_output=True)


PYDICOM_SYNTAXES = {
    "explicit_little": None,
    "implicit_little": ImplicitVRLittleEndian,
    "explicit_big": ExplicitVRBigEndian,
    "deflated": DeflatedExplicitVRLittleEndian,
    "rle": RLELossless,
    "jpeg2000_lossless": JPEG2000Lossless,
}
DCMTK_SYNTAXES = {
    "jpeg_ls_lossless": ("dcmcjpls", ["+el"]),
    "jpeg_lossless_sv1": ("dcmcjpeg", ["+e1"]),
    "rle_dcmtk": ("dcmcrle", []),
    "big_endian_dcmtk": ("dcmconv", ["+tb"]),
}


@pytest.mark.parametrize("name", [*PYDICOM_SYNTAXES, *DCMTK_SYNTAXES])
def test_every_transfer_syntax_gives_identical_hu(name: str, series_writer: SeriesWriter, tmp_path: Path):
    hu, affine = make_volume(shape=(6, 32, 40)), axial_affine()
    if name in PYDICOM_SYNTAXES:
        kwargs = {"transfer_syntax": PYDICOM_SYNTAXES[name]} if PYDICOM_SYNTAXES[name] else {}
        paths = series_writer.write(hu, affine, **kwargs)
        folder = paths[0].parent
    else:
        tool, flags = DCMTK_SYNTAXES[name]
        require_tool(tool)
        paths = series_writer.write(hu, affine)
        folder = tmp_path / name
        _transcode_with_dcmtk(tool, flags, paths[0].parent, folder)
    stack = _only_stack(folder)
    volume = load_stack(stack)
    assert isinstance(volume, CTVolume)
    np.testing.assert_array_equal(volume.hu, hu)
    np.testing.assert_allclose(volume.affine, affine, atol=1e-6)
    image = _sitk_series(sorted(folder.iterdir()))
    assert_same_frame(volume, image)
    assert_matches_sitk(volume, image)


def test_input_files_are_never_modified(series_writer: SeriesWriter):
    from tests.conftest import checksums

    series_writer.write(make_volume(), axial_affine(), transfer_syntax=RLELossless)
    before = checksums(series_writer.root)
    stamps = {p: os.stat(p).st_mtime_ns for p in series_writer.root.rglob("*")}
    load_stack(_only_stack(series_writer.root))
    assert checksums(series_writer.root) == before
    assert {p: os.stat(p).st_mtime_ns for p in series_writer.root.rglob("*")} == stamps
