"""Ground truth of a phantom study: truth.json and the deposit label mask beside it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from pipeline.phantom.grid import Grid

SCHEMA = "calcscan-phantom-truth/1"
LABEL_FILE = "truth_labels.nii.gz"
VOLUME_DEFINITION = (
    "voxels of the CT grid whose centre lies inside the exact (unblurred) deposit shape and "
    "whose anatomical tissue the deposit may occupy (largest 26-connected piece); "
    "volume_mm3 = n_voxels x voxel volume; the same voxels carry the deposit's number in "
    f"{LABEL_FILE}"
)
LOBES_DEFINITION = (
    "a deposit is a union of component ellipsoids; every component overlaps another and no "
    "component's centre lies inside another component; lobes = number of components whose "
    "centre voxel lies inside the deposit's mask"
)
LATERALITY_RULE = "left if x - midline_x > 20 mm, right if < -20 mm, else midline (x = LPS x of the centroid)"


@dataclass
class RadiographHitTruth:
    sop_instance_uid: str
    in_field: bool
    centroid_px: list[float] | None  # [row, col]
    visible: bool
    cnr: float


@dataclass
class DepositTruth:
    id: str
    label: int
    site: str
    region: str
    tissue: str
    laterality: str
    centroid_lps_mm: list[float]
    volume_mm3: float
    n_voxels: int
    lobes: int
    components: int
    density_hu: float
    equivalent_diameter_mm: float
    bbox_lps_mm: list[list[float]]
    radiographs: list[RadiographHitTruth] = field(default_factory=list)


@dataclass
class RadiographTruth:
    file: str
    sop_instance_uid: str
    series_instance_uid: str
    modality: str
    body_part: str
    view_position: str
    laterality: str
    rows: int
    columns: int
    pixel_spacing_mm: list[float]
    projection: dict[str, Any]
    visibility_rule: str


@dataclass
class CTTruth:
    series_instance_uid: str
    frame_of_reference_uid: str
    directory: str
    n_slices: int
    shape_zyx: list[int]
    spacing_xyz_mm: list[float]
    origin_lps_mm: list[float]
    affine: list[list[float]]
    slice_order: str
    transfer_syntax: str
    contrast: bool
    metal_implant: str | None
    psf_sigma_mm: list[float]
    noise_sd_hu: float


@dataclass
class Truth:
    schema: str
    scenario: str
    pattern: str | None
    description: str
    seed: int
    size: str
    generator: str
    study_instance_uid: str
    ct: CTTruth
    deposits: list[DepositTruth]
    radiographs: list[RadiographTruth]
    midline_x_lps_mm: float
    landmarks_lps_mm: dict[str, list[float]]
    definitions: dict[str, str]
    extra: dict[str, Any] = field(default_factory=dict)  # body-part scenarios' own keys, appended


def write_truth(truth: Truth, out_dir: Path) -> Path:
    path = out_dir / "truth.json"
    data = _rounded(asdict(truth))
    data.update(data.pop("extra"))
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return path


def read_truth(out_dir: Path) -> dict[str, Any]:
    return json.loads((Path(out_dir) / "truth.json").read_text(encoding="utf-8"))


def write_label_mask(labels: np.ndarray, grid: Grid, out_dir: Path, name: str = LABEL_FILE) -> Path:
    """The deposit mask (value = deposit number) on the CT grid, LPS geometry given to
    SimpleITK, which converts to the NIfTI convention itself."""
    dtype = np.uint8 if labels.max(initial=0) < 256 else np.uint16
    img = sitk.GetImageFromArray(labels.astype(dtype))
    aff = grid.affine
    img.SetSpacing(tuple(float(v) for v in grid.spacing))
    img.SetOrigin(tuple(float(v) for v in aff[:3, 3]))
    img.SetDirection((1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    path = out_dir / name
    sitk.WriteImage(img, str(path), useCompression=True)
    return path


def _rounded(obj: Any) -> Any:
    """Floats to 4 decimals so that the file is stable and readable."""
    if isinstance(obj, float):
        return round(obj, 4)
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_rounded(v) for v in obj]
    if isinstance(obj, np.generic):
        return _rounded(obj.item())
    return obj
