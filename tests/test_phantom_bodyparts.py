"""The body-part phantoms (head_neck, arterial_chest, hands_feet): the DICOM they write, and
truth.json that agrees with the image (deposits, physiologic calcifications, blood pool,
metal)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from scipy import ndimage

from pipeline.phantom.generate import Phantom, make_phantom, write
from pipeline.phantom.labels import BONE_LABELS, T

CASES = {
    "head_neck": ("head_neck", 11),
    "arterial_chest": ("arterial_chest", 11),
    "hands": ("hands_feet", 0),
    "feet": ("hands_feet", 1),
}
BONE = np.array(sorted(BONE_LABELS))


@pytest.fixture(scope="module")
def studies(tmp_path_factory) -> dict[str, tuple[Phantom, Path, dict]]:
    out = {}
    for key, (name, seed) in CASES.items():
        ph = make_phantom(name, seed, "small")
        folder = tmp_path_factory.mktemp(key)
        write(ph, folder, "rle")
        out[key] = (ph, folder, json.loads((folder / "truth.json").read_text()))
    return out


def _mask_file(folder: Path, name: str) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(folder / name)))


def _touches_bone(labels: np.ndarray, mask: np.ndarray) -> bool:
    grown = ndimage.binary_dilation(mask, structure=np.ones((3, 3, 3), dtype=bool))
    return bool(np.isin(labels[grown & ~mask], BONE).any())


@pytest.mark.parametrize("key", list(CASES))
def test_dicom_is_readable_with_the_generators_geometry(studies, key):
    ph, folder, truth = studies[key]
    files = sorted((folder / "CT").glob("*.dcm"))
    assert len(files) == ph.grid.shape[0]
    for k in (0, len(files) // 2, len(files) - 1):
        ds = pydicom.dcmread(files[k])
        hu = ds.pixel_array.astype(np.int32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        np.testing.assert_array_equal(hu, ph.hu[k])
        np.testing.assert_allclose(
            [float(v) for v in ds.ImagePositionPatient],
            ph.grid.affine[:3, :3] @ [0, 0, k] + ph.grid.affine[:3, 3],
            atol=1e-3,
        )
        assert [float(v) for v in ds.PixelSpacing] == pytest.approx(ph.grid.spacing[:2])
        assert ds.BodyPartExamined == truth["body_part"]
        assert "ContrastBolusAgent" not in ds
    assert truth["ct"]["shape_zyx"] == list(ph.grid.shape)


def test_body_parts_and_grids(studies):
    assert studies["head_neck"][2]["body_part"] == "HEADNECK"
    assert studies["arterial_chest"][2]["body_part"] == "CHEST"
    assert studies["hands"][2]["body_part"] == "HAND" and studies["hands"][2]["extremity"] == "hand"
    assert studies["feet"][2]["body_part"] == "FOOT" and studies["feet"][2]["extremity"] == "foot"
    for key in ("hands", "feet"):
        ph = studies[key][0]
        assert 0.5 <= ph.grid.spacing[0] <= 0.75  # fine grid
        assert not (ph.labels == T.LUNG).any() and not (ph.labels == T.LIVER).any()  # limbs only
    hn = studies["head_neck"][0]
    z_top = hn.grid.index_to_body([0, 0, hn.grid.shape[0] - 1])[2]
    assert (hn.labels[-1] <= T.TABLE_CORE).all() or z_top > hn.anatomy.landmarks["pineal"][2] + 60


@pytest.mark.parametrize("key", list(CASES))
def test_truth_deposits_match_the_written_image(studies, key):
    ph, folder, truth = studies[key]
    labels = _mask_file(folder, "truth_labels.nii.gz")
    assert truth["deposits"], "every body-part scenario has deposits"
    assert sorted(np.unique(labels[labels > 0])) == [d["label"] for d in truth["deposits"]]
    fine = ph.grid.spacing[0] < 1.0
    for d in truth["deposits"]:
        mask = labels == d["label"]
        assert d["volume_mm3"] >= 10 and d["volume_mm3"] == pytest.approx(
            mask.sum() * ph.grid.voxel_volume, rel=1e-3
        )
        hu = ph.hu[mask].astype(float)
        assert hu.max() >= 180, d
        assert np.percentile(hu, 75) <= d["density_hu"] + 150 or d["tissue"] == "arterial_wall", d
        if fine:  # little partial volume on a 0.7 mm grid
            assert hu.mean() >= 0.5 * d["density_hu"], d
        assert not np.isin(ph.labels[mask], BONE).any()
        assert d["region"] in {"head", "neck", "chest", "hand", "foot"}


def test_head_neck_physiologic_calcifications_are_apart_from_deposits(studies):
    ph, folder, truth = studies["head_neck"]
    inc = {i["name"]: i for i in truth["incidental"]}
    assert {"pineal_gland", "choroid_plexus_left", "choroid_plexus_right", "falx"} <= set(inc)
    assert {i["kind"] for i in truth["incidental"]} == {
        "intracranial_physiologic",
        "laryngotracheal_cartilage",
    }
    assert any(n.startswith("thyroid_cartilage") for n in inc)
    marks = _mask_file(folder, "truth_incidental.nii.gz")
    deposits = _mask_file(folder, "truth_labels.nii.gz")
    assert not ((marks > 0) & (deposits > 0)).any()
    mid = truth["midline_x_lps_mm"]
    assert (
        abs(inc["pineal_gland"]["centroid_lps_mm"][0] - mid) < 5
        and abs(inc["falx"]["centroid_lps_mm"][0] - mid) < 5
    )
    assert (
        inc["choroid_plexus_left"]["centroid_lps_mm"][0]
        > mid
        > inc["choroid_plexus_right"]["centroid_lps_mm"][0]
    )
    for i in truth["incidental"]:
        mask = marks == i["label"]
        assert mask.sum() == i["n_voxels"] > 0
        assert ph.hu[mask].max() >= 200, i["name"]  # dense where truth says
        if i["kind"] == "intracranial_physiologic":
            assert np.isin(ph.labels[mask], [T.BRAIN, T.CSF]).all()
    assert {d["region"] for d in truth["deposits"]} == {"head", "neck"}
    assert any(d["site"] == "scalp_subcutaneous" for d in truth["deposits"])


def test_head_neck_skull_teeth_and_spine(studies):
    ph, _, _ = studies["head_neck"]
    enamel = ph.hu[ph.labels == T.ENAMEL]
    assert enamel.size > 20 and np.median(enamel) > 1800
    # the vault is thin at the temple and thick at the forehead and occiput
    c = ph.grid.body_to_index(ph.anatomy.landmarks["pineal"] + np.array([0, 0, 25.0]))
    i, j, k = np.rint(c).astype(int)
    bone = np.isin(ph.labels[k], BONE)
    lateral, ap = bone[j, :].sum(), bone[:, i].sum()
    assert ap > lateral
    assert (ph.labels == T.CANCELLOUS).any()  # diploe
    assert all(f"vertebra_C{n}" in ph.anatomy.landmarks for n in range(1, 8))


def test_arterial_chest_blood_pool_no_contrast_tag_and_metal(studies):
    ph, folder, truth = studies["arterial_chest"]
    assert truth["ct"]["contrast"] is False and truth["contrast_phase"] == "arterial"
    pool = truth["blood_pool_hu"]
    assert all(300 <= v <= 500 for v in pool.values())
    assert pool["aorta"] > pool["right_heart"]
    for label in (T.ARTERY, T.CARDIAC_BLOOD, T.BLOOD_RIGHT):
        core = ndimage.binary_erosion(ph.labels == label)
        assert 300 <= np.median(ph.hu[core]) <= 500, label.name
    left = np.median(ph.hu[ndimage.binary_erosion(ph.labels == T.CARDIAC_BLOOD)])
    right = np.median(ph.hu[ndimage.binary_erosion(ph.labels == T.BLOOD_RIGHT)])
    assert left > right
    ds = pydicom.dcmread(next((folder / "CT").glob("*.dcm")), stop_before_pixels=True)
    assert "ContrastBolusAgent" not in ds
    wires = [m for m in truth["metal"] if m["kind"] == "sternal_wire"]
    assert len(wires) >= 5
    metal = ph.labels == T.METAL
    assert metal.any() and np.median(ph.hu[metal]) >= 2500
    kinds = {i["kind"] for i in truth["incidental"]}
    assert kinds == {"costal_cartilage"}
    marks = _mask_file(folder, "truth_incidental.nii.gz")
    for i in truth["incidental"]:
        assert np.isin(ph.labels[marks == i["label"]], [T.CARTILAGE]).all()
    sites = {d["site"] for d in truth["deposits"]}
    assert {"coronary_artery", "thoracic_aortic_wall", "chest_wall_against_rib"} <= sites
    for d in truth["deposits"]:
        if d["site"] in ("coronary_artery", "thoracic_aortic_wall"):
            assert d["tissue"] == "arterial_wall"
    deposits = _mask_file(folder, "truth_labels.nii.gz")
    rib = [d for d in truth["deposits"] if d["site"] == "chest_wall_against_rib"]
    assert all(_touches_bone(ph.labels, deposits == d["label"]) for d in rib)


@pytest.mark.parametrize("key", ["hands", "feet"])
def test_extremity_periarticular_deposits_touch_bone(studies, key):
    ph, folder, truth = studies[key]
    deposits = _mask_file(folder, "truth_labels.nii.gz")
    peri = [d for d in truth["deposits"] if d["tissue"] == "periarticular"]
    assert peri and all(_touches_bone(ph.labels, deposits == d["label"]) for d in peri)
    assert any(d["tissue"] == "skin_subcutaneous" for d in truth["deposits"])
    assert {d["laterality"] for d in truth["deposits"]} <= {"left", "right"}
    bones = ndimage.label(np.isin(ph.labels, BONE))[1]
    assert bones > 25  # phalanges, metacarpals / metatarsals, carpals / tarsals, sesamoids


def test_same_seed_same_bytes(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for folder in (a, b):
        write(make_phantom("head_neck", 5, "small"), folder, "rle")
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
