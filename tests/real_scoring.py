"""How calcscan does on the shared real CTs, scored against their truth: the chest CT's
labelled foci (vascular, cartilage, bone, metal), the deposits inserted into its copy, and
the contrast upper-abdomen CT's TotalSegmentator labels. Used by the tests of real anatomy
and by `benchmarks/bench_real_anatomy.py`, which prints the figures."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
from scipy import ndimage

from pipeline.analyse import analyse_study
from pipeline.anatomy import load_label_map
from pipeline.config import Config
from pipeline.discover import discover
from pipeline.models import StudyResult
from tests.conftest import SHARED_DATA, require_shared

CHEST = SHARED_DATA / "pyradiomics-chest-ct"
INSERTED = SHARED_DATA / "pyradiomics-chest-ct-inserted"
CONTRAST = SHARED_DATA / "totalseg-contrast-upper-abdomen"
NEAR_MM = 8.0  # a deposit this close to a labelled focus's peak is that focus


@cache
def analysed(folder: Path) -> StudyResult:
    """The one study under `folder`/dicom, analysed with the default configuration."""
    require_shared(folder)
    (study,) = discover([folder / "dicom"]).studies
    return analyse_study(study, Config())


def _distance(points: np.ndarray, xyz) -> np.ndarray:
    return np.linalg.norm(np.asarray(points, float).reshape(-1, 3) - np.asarray(xyz, float), axis=1)


@dataclass
class ChestScore:
    """What each reported deposit and incidental finding of the chest CT is, by its truth."""

    n_deposits: int
    kinds: dict[str, int] = field(default_factory=dict)  # deposit -> what truth says it is
    vascular_major_found: int = 0
    vascular_major: int = 0
    cartilage_incidental: int = 0
    inserted_found: list[str] = field(default_factory=list)
    inserted_missed: list[str] = field(default_factory=list)
    consistent: list[str] = field(default_factory=list)


def chest_score(result: StudyResult, inserted: dict | None = None) -> ChestScore:
    truth = json.loads((CHEST / "truth.json").read_text())
    seg = result.segmentations[0]
    bone_rule = _bone_rule(seg.volume.hu)
    vascular = np.array([v["lps_mm"] for v in truth["vascular"]])
    major = np.array([v["major"] for v in truth["vascular"]])
    cartilage = np.array(truth["costal_cartilage"] + truth["laryngotracheal_cartilage"])
    bones = np.array(truth["bone_outside_mask_rule"])
    metal = np.array(truth["metal"])
    planted = inserted["deposits"] if inserted else []
    score = ChestScore(n_deposits=len(result.deposits), vascular_major=int(major.sum()))
    hit_vascular = np.zeros(len(vascular), bool)
    hit_planted: set[str] = set()
    for d in result.deposits:
        xyz = np.array(d.centroid_lps_mm)
        kind = "other"
        near_planted = [p["id"] for p in planted if _distance(p["centroid_lps_mm"], xyz)[0] <= 10]
        if near_planted:
            kind = "inserted"
            hit_planted.update(near_planted)
        elif _distance(vascular, xyz).min() <= NEAR_MM:
            kind = "vascular"
            hit_vascular |= _distance(vascular, xyz) <= NEAR_MM
        elif _distance(cartilage, xyz).min() <= NEAR_MM:
            kind = "cartilage"
        elif _distance(metal, xyz).min() <= 15:
            kind = "metal"
        elif _distance(bones, xyz).min() <= NEAR_MM or _in_mask(bone_rule, seg.volume, d):
            kind = "bone"
        score.kinds[kind] = score.kinds.get(kind, 0) + 1
    score.vascular_major_found = int((hit_vascular & major).sum())
    score.cartilage_incidental = sum(
        1
        for i in result.incidental
        if "cartilage" in i.kind and _distance(cartilage, i.centroid_lps_mm).min() <= NEAR_MM
    )
    score.inserted_found = sorted(hit_planted)
    score.inserted_missed = sorted(p["id"] for p in planted if p["id"] not in hit_planted)
    score.consistent = [p.type for p in result.patterns if p.verdict == "consistent"]
    return score


def _bone_rule(hu: np.ndarray) -> np.ndarray:
    """truth.json's skeleton: >= 200 HU pieces of 3 mL or more (5 mm x 0.57 mm voxels)."""
    dense = hu >= 200
    labels, n = ndimage.label(dense, structure=np.ones((3, 3, 3)))
    sizes = np.bincount(labels.ravel(), minlength=n + 1) * (0.5703 * 0.5703 * 5.0)
    keep = sizes >= 3000
    keep[0] = False
    return keep[labels]


def _in_mask(mask: np.ndarray, volume, d) -> bool:
    i, j, k = (round(v) for v in d.centroid_ijk)
    return bool(mask[k, max(j - 1, 0) : j + 2, max(i - 1, 0) : i + 2].any())


@dataclass
class ContrastScore:
    bone_share: dict[str, float]  # organ -> share of its voxels in the bone mask
    deposits_in: dict[str, int]  # organ or lumen -> deposits whose centroid lies in it
    aortic_wall: int  # deposits on the aorta with tissue arterial_wall
    cartilage_deposits: int
    cartilage_incidental: int
    regions: list[str]
    coverage: dict


ORGANS = ("liver", "spleen", "stomach", "aorta", "inferior_vena_cava", "portal_vein_and_splenic_vein")


def contrast_score(result: StudyResult) -> ContrastScore:
    seg = result.segmentations[0]
    labels = load_label_map(CONTRAST / "labels_totalsegmentator.nii.gz", seg.volume)
    bone = seg.grid.up(seg.masks["bone"])
    share = {}
    for organ in ORGANS:
        inside = labels.labels == labels.names[organ]
        share[organ] = float((bone[inside]).mean()) if inside.any() else float("nan")
    cart = labels.labels == labels.names["costal_cartilages"]
    deposits_in: dict[str, int] = {}
    aortic_wall = cartilage_deposits = 0
    aorta = labels.labels == labels.names["aorta"]
    aorta_zone = ndimage.binary_dilation(aorta, iterations=3)
    for d in result.deposits:
        i, j, k = (round(v) for v in d.centroid_ijk)
        value = int(labels.labels[k, j, i])
        name = next((n for n, v in labels.names.items() if v == value), None)
        if name in ORGANS and name != "aorta":
            deposits_in[name] = deposits_in.get(name, 0) + 1
        if aorta_zone[k, j, i]:
            if d.tissue == "arterial_wall":
                aortic_wall += 1
            elif name == "aorta" and d.mean_hu < 400:
                deposits_in["aorta_lumen"] = deposits_in.get("aorta_lumen", 0) + 1
        if ndimage.binary_dilation(cart, iterations=2)[k, j, i]:
            cartilage_deposits += 1
    near_cart = ndimage.binary_dilation(cart, iterations=2)
    cart_inc = 0
    for f in result.incidental:
        ijk = np.round(seg.volume.lps_to_index(f.centroid_lps_mm)[0]).astype(int)
        if near_cart[ijk[2], ijk[1], ijk[0]]:
            cart_inc += 1
    coverage = {uid: c.to_json() for uid, c in result.coverage.items()}
    return ContrastScore(
        share, deposits_in, aortic_wall, cartilage_deposits, cart_inc,
        sorted({d.region for d in result.deposits}), coverage,
    )  # fmt: skip
