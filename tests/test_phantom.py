"""The phantom generator: DICOM it writes, what the loader makes of it, HU of its tissues,
and ground truth that agrees with the anatomy it was drawn from."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from click.testing import CliRunner
from scipy import ndimage

from pipeline.cli import cli
from pipeline.config import load_config
from pipeline.discover import discover
from pipeline.load import load_stack
from pipeline.models import CTVolume, Radiograph
from pipeline.phantom.deposits import make_clump
from pipeline.phantom.generate import Phantom, make_phantom, write
from pipeline.phantom.labels import T
from pipeline.phantom.radiograph import project_hand
from pipeline.phantom.scenarios import SCENARIOS
from pipeline.vocab import LATERALITIES, REGIONS, TISSUES
from tests.phantom_checks import bone_distance, nearest_joint_mm, region_ok, tissue_ok

SEED = 11
WITH_DEPOSITS = ("tumoral", "metastatic", "dystrophic", "calcific_tendinitis")
NEGATIVE = ("healthy", "contrast", "metal")


@pytest.fixture(scope="module")
def studies(tmp_path_factory) -> dict[str, tuple[Phantom, Path]]:
    """Every scenario once, small size, written to disk."""
    out = {}
    for name in SCENARIOS:
        ph = make_phantom(name, SEED, "small")
        folder = tmp_path_factory.mktemp(name)
        write(ph, folder, "rle")
        out[name] = (ph, folder)
    return out


@pytest.fixture(scope="module")
def default_healthy(tmp_path_factory) -> tuple[Phantom, Path]:
    ph = make_phantom("healthy", 3, "default")
    folder = tmp_path_factory.mktemp("default_healthy")
    write(ph, folder, "j2k")
    return ph, folder


def _load_all(folder: Path) -> list[CTVolume | Radiograph]:
    config = load_config()
    found = discover([folder], config)
    assert len(found.studies) == 1
    return [load_stack(st, config) for st in found.studies[0].stacks if st.kind != "other"]


def _ct(folder: Path) -> CTVolume:
    (ct,) = [v for v in _load_all(folder) if isinstance(v, CTVolume)]
    return ct


def _truth(folder: Path) -> dict:
    return json.loads((folder / "truth.json").read_text())


def _landmarks_body(ph: Phantom) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, dtype=float) for k, v in ph.anatomy.landmarks.items()}


def _mask(ph: Phantom, number: int) -> np.ndarray:
    return ph.deposit_labels() == number


# --- DICOM and the loader ---------------------------------------------------------------


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_loader_gets_the_geometry_and_values_the_generator_meant(studies, name):
    ph, folder = studies[name]
    ct = _ct(folder)
    assert ct.hu.shape == ph.grid.shape
    np.testing.assert_allclose(ct.affine, ph.grid.affine, atol=1e-4)
    np.testing.assert_allclose(ct.spacing, ph.grid.spacing, atol=1e-5)
    np.testing.assert_allclose(ct.origin, ph.grid.affine[:3, 3], atol=1e-4)
    np.testing.assert_allclose(ct.direction, np.eye(3), atol=1e-9)
    np.testing.assert_array_equal(np.asarray(ct.hu, dtype=np.int16), ph.hu)
    assert ct.kvp == 120.0
    assert (ct.contrast_agent is not None) == SCENARIOS[name].contrast
    assert ct.warnings == []


def test_ct_headers_are_complete_and_consistent(studies):
    ph, folder = studies["tumoral"]
    files = sorted((folder / "CT").glob("*.dcm"))
    assert len(files) == ph.grid.shape[0]
    heads = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    assert len({h.StudyInstanceUID for h in heads}) == 1
    assert len({h.SeriesInstanceUID for h in heads}) == 1
    assert len({h.FrameOfReferenceUID for h in heads}) == 1
    assert len({h.SOPInstanceUID for h in heads}) == len(heads)
    z = [float(h.ImagePositionPatient[2]) for h in heads]
    np.testing.assert_allclose(np.diff(z), ph.grid.spacing[2], atol=1e-4)  # CT0001 lowest
    h = heads[0]
    assert [float(v) for v in h.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
    assert [float(v) for v in h.PixelSpacing] == pytest.approx([ph.grid.spacing[1], ph.grid.spacing[0]])
    assert float(h.SliceThickness) == pytest.approx(ph.grid.spacing[2])
    assert (float(h.RescaleSlope), float(h.RescaleIntercept)) == (1.0, -1024.0)
    assert h.BodyPartExamined == "CHESTABDPELVIS" and float(h.KVP) == 120
    assert h.PatientID.startswith("PHANTOM-") and str(h.PatientName).startswith("PHANTOM^")
    for path in folder.rglob("*"):
        assert h.PatientID not in path.name and "PHANTOM" not in str(path.relative_to(folder)).upper()


def test_radiograph_is_a_dx_of_the_same_hand(studies):
    ph, folder = studies["dystrophic"]
    ds = pydicom.dcmread(folder / "DX" / "DX0001.dcm", stop_before_pixels=True)
    assert ds.Modality == "DX" and ds.ViewPosition == "PA" and ds.BodyPartExamined == "HAND"
    assert [float(v) for v in ds.ImagerPixelSpacing] == [ph.projection.spacing] * 2
    assert ds.StudyInstanceUID == pydicom.dcmread(next((folder / "CT").glob("*.dcm"))).StudyInstanceUID
    (xr,) = [v for v in _load_all(folder) if isinstance(v, Radiograph)]
    assert xr.pixel_spacing_mm == pytest.approx((ph.projection.spacing,) * 2)
    np.testing.assert_array_equal(xr.pixels, np.clip(np.rint(ph.projection.pixels), 0, 4095))
    img = xr.pixels
    assert np.percentile(img, 99) > 4 * np.median(img[:, :3])  # dense (bone) is bright
    # the deposits' own signal, noise-free: with minus without them
    proj = ph.projection
    spacing = proj.spacing
    with_deps = project_hand(ph.anatomy, proj.side, ph.deposits, spacing, np.random.default_rng(0), 0.0)
    without = project_hand(ph.anatomy, proj.side, [], spacing, np.random.default_rng(0), 0.0)
    signal = with_deps.pixels - without.pixels
    truth = {d["label"]: d for d in _truth(folder)["deposits"]}
    n_visible = 0
    for d in truth.values():
        (hit,) = d["radiographs"]
        if not hit["in_field"]:
            continue
        r, c = hit["centroid_px"]
        r0, c0 = round(r), round(c)
        patch = signal[max(r0 - 6, 0) : r0 + 7, max(c0 - 6, 0) : c0 + 7]
        pr, pc = np.unravel_index(int(np.argmax(patch)), patch.shape)
        # the projected centroid is where the deposit shows on the detector
        assert abs(max(r0 - 6, 0) + pr - r) <= 3 and abs(max(c0 - 6, 0) + pc - c) <= 3, d["id"]
        if hit["visible"]:
            n_visible += 1
            assert patch.max() >= 3 * proj.noise_sd, d["id"]
    assert n_visible >= 2, "the hand radiograph should show deposits"


# --- HU of the anatomy ------------------------------------------------------------------


def _median(hu: np.ndarray, labels: np.ndarray, label: T, erode: int = 1) -> float:
    m = labels == label
    if erode:
        m = ndimage.binary_erosion(m, iterations=erode)
    assert m.sum() > 20, f"too few voxels of {label.name}"
    return float(np.median(hu[m]))


def test_tissues_have_realistic_hounsfield_units(default_healthy):
    ph, folder = default_healthy
    hu = np.asarray(_ct(folder).hu, dtype=np.float32)
    lab = ph.labels
    expected = {
        T.FAT: (-125, -75),
        T.MUSCLE: (30, 70),
        T.LUNG: (-900, -780),
        T.LIVER: (40, 70),
        T.KIDNEY_CORTEX: (15, 50),
        T.SPLEEN: (30, 65),
        T.CANCELLOUS: (150, 400),
        T.ARTERY: (25, 60),
        T.BRAIN: (-1e9, 1e9),  # not in this scenario; skipped below
    }
    for label, (lo, hi) in expected.items():
        if label == T.BRAIN:
            continue
        assert lo <= _median(hu, lab, label) <= hi, label.name
    assert _median(hu, lab, T.CARTILAGE, erode=0) == pytest.approx(145, abs=60)
    shaft = ndimage.binary_erosion(lab == T.CORTEX_DENSE)
    assert np.percentile(hu[shaft], 90) > 1000  # dense cortical bone
    outside = (lab == T.AIR) & ~ndimage.binary_dilation(lab != T.AIR, iterations=3)
    assert np.all(hu[outside] == -1000)
    assert (lab == T.TABLE_SHELL).any() and hu[lab == T.TABLE_SHELL].max() > 100  # a table to remove


def test_bones_have_a_cortical_shell_round_cancellous_bone(default_healthy):
    ph, _ = default_healthy
    lab = ph.labels
    bone = np.isin(lab, [T.CORTEX, T.CORTEX_DENSE])
    inner = np.isin(lab, [T.CANCELLOUS, T.MARROW])
    # the cortex encloses the cancellous bone: filling each axial slice's cortical rings
    # recovers (nearly) all of it, as a segmentation's bone mask + hole filling would
    filled = np.stack([ndimage.binary_fill_holes(plane) for plane in bone])
    assert (filled & inner).sum() > 0.98 * inner.sum()


def test_contrast_and_metal_controls(studies):
    contrast, c_dir = studies["contrast"]
    healthy, _ = studies["healthy"]
    hu = np.asarray(_ct(c_dir).hu, dtype=np.float32)
    assert 250 <= _median(hu, contrast.labels, T.ARTERY) <= 420
    assert 140 <= _median(hu, contrast.labels, T.KIDNEY_CORTEX, erode=0) <= 215
    metal, m_dir = studies["metal"]
    mhu = np.asarray(_ct(m_dir).hu, dtype=np.float32)
    implant = metal.labels == T.METAL
    assert implant.sum() > 50 and np.median(mhu[implant]) >= 3000
    side = metal.implant_side
    hip_x = metal.anatomy.landmarks[f"femoral_head_{side}"][0]
    assert (hip_x > 0) == (side == "left")
    # streaks: muscle near the implant is much noisier than the same voxels without it
    near = (
        ndimage.binary_dilation(implant, iterations=12)
        & (metal.labels == T.MUSCLE)
        & (healthy.labels == T.MUSCLE)
    )
    assert near.sum() > 100
    assert mhu[near].std() > 2.5 * healthy.hu[near].astype(np.float32).std()
    for name in NEGATIVE:
        ph, folder = studies[name]
        truth = _truth(folder)
        assert truth["pattern"] is None and truth["deposits"] == [] and ph.deposits == []
        assert not sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "truth_labels.nii.gz"))).any()


# --- ground truth -----------------------------------------------------------------------


@pytest.mark.parametrize("name", WITH_DEPOSITS)
def test_truth_volumes_centroids_and_mask_agree(studies, name):
    _ph, folder = studies[name]
    truth = _truth(folder)
    assert truth["pattern"] == name and truth["scenario"] == name
    img = sitk.ReadImage(str(folder / "truth_labels.nii.gz"))
    ct = _ct(folder)
    np.testing.assert_allclose(img.GetOrigin(), ct.origin, atol=1e-3)
    np.testing.assert_allclose(img.GetSpacing(), ct.spacing, atol=1e-4)
    np.testing.assert_allclose(np.reshape(img.GetDirection(), (3, 3)), ct.direction, atol=1e-6)
    labels = sitk.GetArrayFromImage(img)
    voxel = ct.voxel_volume_mm3
    assert sorted(np.unique(labels[labels > 0])) == [d["label"] for d in truth["deposits"]]
    for d in truth["deposits"]:
        mask = labels == d["label"]
        assert d["volume_mm3"] == pytest.approx(mask.sum() * voxel, rel=1e-3)
        assert d["n_voxels"] == mask.sum()
        i, j, k = np.rint(ct.lps_to_index(d["centroid_lps_mm"])[0]).astype(int)
        assert mask[k, j, i], f"{d['id']}: centroid outside its mask"
        kk, jj, ii = np.nonzero(mask)
        mean = ct.index_to_lps(np.array([[ii.mean(), jj.mean(), kk.mean()]]))[0]
        np.testing.assert_allclose(mean, d["centroid_lps_mm"], atol=1e-3)
        assert 1 <= d["lobes"] <= d["components"]
        assert 250 <= d["density_hu"] <= 1000
        assert d["region"] in REGIONS and d["tissue"] in TISSUES and d["laterality"] in LATERALITIES


@pytest.mark.parametrize("name", WITH_DEPOSITS)
def test_each_deposit_is_in_the_tissue_and_region_it_names(studies, name):
    ph, folder = studies[name]
    truth = {d["label"]: d for d in _truth(folder)["deposits"]}
    lm = _landmarks_body(ph)
    voxel_mm = max(ph.grid.spacing)
    for dep in ph.deposits:
        d = truth[dep.number]
        mask = _mask(ph, dep.number)
        under = ph.labels[mask]
        near = ph.labels[ndimage.binary_dilation(mask, structure=np.ones((3, 3, 3)))]
        centroid = ph.grid.to_body(d["centroid_lps_mm"])
        bone_mm = bone_distance(ph.labels, mask, ph.grid.spacing)
        ok = tissue_ok(d["tissue"], under, near, bone_mm, nearest_joint_mm(centroid, lm), voxel_mm)
        assert ok, f"{d['id']} {d['site']}: {d['tissue']} vs labels {np.unique(under)}, bone {bone_mm:.1f} mm"
        assert region_ok(d["region"], centroid, lm), f"{d['id']} {d['site']}: not in region {d['region']}"
        x_mid = _truth(folder)["midline_x_lps_mm"]
        dx = d["centroid_lps_mm"][0] - x_mid
        assert d["laterality"] == ("left" if dx > 20 else "right" if dx < -20 else "midline")
        # deposits stay out of bone unless they are on a tendon insertion
        assert not np.isin(under, [T.CORTEX, T.CORTEX_DENSE, T.CANCELLOUS, T.MARROW, T.AIR]).any()


def test_scenarios_put_deposits_where_their_pattern_says(studies):
    tumoral = _truth(studies["tumoral"][1])["deposits"]
    assert {d["tissue"] for d in tumoral} <= {"periarticular", "muscle", "skin_subcutaneous"}
    big = [d for d in tumoral if d["volume_mm3"] > 1500 and d["lobes"] >= 3]
    assert any(d["region"] == "hip" for d in big)
    metastatic = _truth(studies["metastatic"][1])["deposits"]
    organs = {d["tissue"] for d in metastatic} & {
        "kidney",
        "stomach",
        "lung",
        "brain",
        "eye",
        "arterial_wall",
    }
    assert len(organs) >= 5
    dystrophic = _truth(studies["dystrophic"][1])["deposits"]
    assert {d["tissue"] for d in dystrophic} == {"skin_subcutaneous"}
    assert {d["region"] for d in dystrophic} <= {"hand", "forearm", "elbow"}
    assert any(d["region"] == "hand" for d in dystrophic)
    tendinitis = _truth(studies["calcific_tendinitis"][1])["deposits"]
    assert tendinitis and {d["tissue"] for d in tendinitis} == {"tendon"}
    assert {d["region"] for d in tendinitis} <= {"shoulder", "hip"}


def test_left_is_positive_x(studies):
    _ph, folder = studies["tumoral"]
    lm = _truth(folder)["landmarks_lps_mm"]
    mid = _truth(folder)["midline_x_lps_mm"]
    for part in ("femoral_head", "humeral_head", "kidney", "elbow", "hand"):
        assert lm[f"{part}_left"][0] > mid + 30 > mid - 30 > lm[f"{part}_right"][0]
    assert lm["liver"][0] < mid < lm["stomach"][0]  # situs solitus
    assert lm["humeral_head_left"][2] > lm["kidney_left"][2] > lm["femoral_head_left"][2]  # head up
    assert lm["sternum_top"][1] < lm["vertebra_T4"][1]  # sternum anterior (LPS y: posterior +)


def test_deposit_sizes_vary_and_are_dense_on_ct(default_healthy, studies):
    ph = make_phantom("metastatic", 4, "default")
    vols = np.array([d.dm.n_voxels * ph.grid.voxel_volume for d in ph.deposits])
    assert (vols < 15).any() and (vols >= 10).sum() >= 8
    hu = ph.hu
    for dep in ph.deposits:
        m = dep.dm.mask
        peak = hu[dep.dm.window.slices][m].max()
        if m.sum() * ph.grid.voxel_volume >= 10:
            assert peak > 180, (dep.id, dep.site.name, peak)


def test_clumps_are_snowballs_of_separate_lobes():
    rng = np.random.default_rng(0)
    clump = make_clump(rng, np.zeros(3), 20000.0, 9)
    assert len(clump.lobes) == 9
    centres = np.array([lobe.center for lobe in clump.lobes])
    for n, lobe in enumerate(clump.lobes):
        inside = lobe.contains(np.delete(centres, n, axis=0))
        assert not inside.any()
    assert clump.volume(60) == pytest.approx(20000, rel=0.05)


# --- the command, determinism, sample data ----------------------------------------------


def test_cli_writes_a_study_and_refuses_bad_input(tmp_path):
    runner = CliRunner()
    out = tmp_path / "study"
    result = runner.invoke(
        cli, ["phantom", "calcific_tendinitis", "-o", str(out), "--seed", "2", "--size", "small"]
    )
    assert result.exit_code == 0, result.output
    assert "slices" in result.output and "deposits" in result.output
    assert (out / "truth.json").exists() and (out / "truth_labels.nii.gz").exists()
    assert len(list((out / "CT").glob("CT*.dcm"))) > 50
    assert (
        runner.invoke(cli, ["phantom", "calcific_tendinitis", "-o", str(out), "--size", "small"]).exit_code
        == 2
    )
    assert runner.invoke(cli, ["phantom", "nonsense", "-o", str(tmp_path / "x")]).exit_code == 2
    listed = runner.invoke(cli, ["phantom", "--list"])
    assert listed.exit_code == 0 and all(name in listed.output for name in SCENARIOS)


def test_same_seed_same_bytes_other_seed_other_body(tmp_path):
    a, b, c = (tmp_path / n for n in "abc")
    for folder, seed in ((a, 5), (b, 5), (c, 6)):
        write(make_phantom("healthy", seed, "small"), folder, "rle")
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    assert (
        _truth(a)["ct"]["shape_zyx"] != _truth(c)["ct"]["shape_zyx"]
        or _truth(a)["landmarks_lps_mm"] != _truth(c)["landmarks_lps_mm"]
    )


SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"


def test_sample_data_regenerates_byte_for_byte(tmp_path):
    studies = sorted(p.parent for p in SAMPLE.glob("*/truth.json"))
    assert len(studies) >= 4
    total = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    assert total < 15 * 2**20
    folder = min(studies, key=lambda p: sum(f.stat().st_size for f in p.rglob("*") if f.is_file()))
    command = _truth(folder)["generator"].split()
    assert command[:2] == ["calcscan", "phantom"]
    result = CliRunner().invoke(cli, [*command[1:], "-o", str(tmp_path / "again")])
    assert result.exit_code == 0, result.output
    for path in folder.rglob("*"):
        if path.is_file():
            assert (tmp_path / "again" / path.relative_to(folder)).read_bytes() == path.read_bytes(), path
