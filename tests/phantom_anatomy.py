"""The body-part phantoms (head_neck, arterial_chest, hands_feet) written as DICOM, run
through the whole analysis like any study, and scored against their truth: which truth
deposits were found, what each reported deposit lies on (a truth deposit, a physiologic
calcification, bone, metal, opacified blood), and what became `incidental`."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from pipeline.analyse import analyse_study
from pipeline.config import Config
from pipeline.discover import discover
from pipeline.models import StudyResult
from pipeline.phantom import make_phantom, write

NEAR_MM = 6.0


@dataclass
class PartScore:
    scenario: str
    found: list[str] = field(default_factory=list)  # truth deposit ids found (>= 10 mm3)
    missed: list[str] = field(default_factory=list)
    false: dict[str, int] = field(default_factory=dict)  # what a reported non-truth deposit lies on
    incidental_kinds: dict[str, str] = field(default_factory=dict)  # truth incidental name -> kind given
    incidental_as_deposit: list[str] = field(default_factory=list)
    contrast: dict | None = None
    body_parts: list[str] = field(default_factory=list)
    result: StudyResult | None = None


@cache
def written(scenario: str, seed: int, size: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=f"calcscan-{scenario}-"))
    write(make_phantom(scenario, seed=seed, size=size), folder)
    return folder


@cache
def scored(scenario: str, seed: int = 1, size: str = "sample") -> PartScore:
    folder = written(scenario, seed, size)
    truth = json.loads((folder / "truth.json").read_text())
    (study,) = discover([folder / "CT"]).studies
    result = analyse_study(study, Config())
    score = PartScore(scenario, result=result)
    deposit_mask = _label_image(folder / "truth_labels.nii.gz")
    incidental_mask = _label_image(folder / "truth_incidental.nii.gz")
    for d in result.deposits:
        truth_label = _label_near(deposit_mask, d.centroid_lps_mm)
        if truth_label:
            continue
        inc = _label_near(incidental_mask, d.centroid_lps_mm)
        if inc:
            name = next(i["name"] for i in truth["incidental"] if i["label"] == inc)
            score.incidental_as_deposit.append(name)
            kind = "incidental"
        else:
            kind = f"{d.tissue}@{d.region}"
        score.false[kind] = score.false.get(kind, 0) + 1
    hit = {_label_near(deposit_mask, d.centroid_lps_mm) for d in result.deposits}
    for t in truth["deposits"]:
        if t["volume_mm3"] >= 10:
            (score.found if t["label"] in hit else score.missed).append(f"{t['id']} {t['site']}")
    for i in result.incidental:
        inc = _label_near(incidental_mask, i.centroid_lps_mm)
        if inc:
            name = next(t["name"] for t in truth["incidental"] if t["label"] == inc)
            score.incidental_kinds[name] = i.kind
    coverage = next(iter(result.coverage.values()), None)
    if coverage is not None:
        score.contrast = coverage.to_json()["contrast"]
        score.body_parts = list(coverage.body_parts)
    return score


@dataclass
class _Labels:
    image: sitk.Image
    array: np.ndarray


@cache
def _label_image(path: Path) -> _Labels | None:
    if not path.exists():
        return None
    image = sitk.ReadImage(str(path))
    return _Labels(image, sitk.GetArrayFromImage(image))


def _label_near(labels: _Labels | None, lps) -> int:
    """The truth label at (or within NEAR_MM of) an LPS point; 0: none."""
    if labels is None:
        return 0
    spacing = np.array(labels.image.GetSpacing())
    reach = np.ceil(NEAR_MM / spacing).astype(int)
    index = np.array(labels.image.TransformPhysicalPointToContinuousIndex([float(v) for v in lps]))
    i, j, k = np.round(index).astype(int)
    box = labels.array[
        max(k - reach[2], 0) : k + reach[2] + 1,
        max(j - reach[1], 0) : j + reach[1] + 1,
        max(i - reach[0], 0) : i + reach[0] + 1,
    ]
    values = box[box > 0]
    return int(np.bincount(values).argmax()) if values.size else 0
