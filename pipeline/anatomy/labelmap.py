"""Organ label maps from a model run elsewhere: a TotalSegmentator-style multilabel NIfTI
(names in a label_names.json beside it) or a DICOM SEG in the study (names from its
segment labels). Both are resampled (nearest neighbour) onto the CT grid, and their
classes are kept by name, because label numbers differ between model versions.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from pipeline.anatomy.errors import LabelMapError
from pipeline.anatomy.organs import normalise, organ_site
from pipeline.models import CTVolume

NAME_FILES = ("label_names.json", "labels.json", "label_map.json", "classes.json")


@dataclass
class AnatomyLabels:
    """An integer label volume on the CT grid (z, y, x) and its class names."""

    labels: np.ndarray
    names: dict[str, int]  # normalised class name -> label value
    source: str  # e.g. "TotalSegmentator", "DICOM SEG"

    def organ_at(self, kji: tuple[np.ndarray, ...]) -> str | None:
        """The most common named organ (one the report names) at these voxels."""
        by_id = {v: k for k, v in self.names.items()}
        values = self.labels[kji]
        counts = Counter(int(v) for v in values[values > 0])
        for value, _ in counts.most_common():
            name = by_id.get(value)
            if name and organ_site(name) is not None:
                return name
        return None


def load_label_map(path: Path, volume: CTVolume, names_path: Path | None = None) -> AnatomyLabels:
    """A multilabel NIfTI (.nii / .nii.gz) with class names from a JSON beside it
    ({"1": "spleen", ...}) or from `names_path`."""
    path = Path(path)
    names = _read_names(path, names_path)
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise LabelMapError(f"label map {path}: cannot be read as an image ({_first_line(exc)})") from None
    return AnatomyLabels(_on_ct_grid(image, volume, path), names, "TotalSegmentator")


def label_map_from_seg(seg_path_or_dataset, volume: CTVolume) -> AnatomyLabels:
    """A DICOM SEG (path or pydicom Dataset) -> label volume on the CT grid; each segment
    keeps its SegmentLabel (or coded SegmentedPropertyType meaning) as its name."""
    import pydicom

    ds = seg_path_or_dataset
    where = "DICOM SEG"
    if not isinstance(ds, pydicom.Dataset):
        where = f"DICOM SEG {ds}"
        try:
            ds = pydicom.dcmread(str(ds))
        except Exception:
            raise LabelMapError(f"{where}: cannot be read as DICOM") from None
    if getattr(ds, "Modality", None) != "SEG" or "SegmentSequence" not in ds:
        raise LabelMapError(f"{where}: not a segmentation (Modality SEG with a SegmentSequence)")
    try:
        return _seg_labels(ds, volume, where)
    except LabelMapError:
        raise
    except Exception:  # another tool's malformed SEG: never a reason to lose the analysis
        why = "malformed segmentation (its segments or frames cannot be read)"
        raise LabelMapError(f"{where}: {why}") from None


def _seg_labels(ds, volume: CTVolume, where: str) -> AnatomyLabels:
    names = {int(s.SegmentNumber): _segment_name(s) for s in ds.SegmentSequence}
    frames = ds.pixel_array.reshape(-1, int(ds.Rows), int(ds.Columns))
    out = np.zeros(volume.hu.shape, np.int32)
    inv = np.linalg.inv(volume.affine)
    for frame, item in zip(frames, ds.PerFrameFunctionalGroupsSequence, strict=False):
        number = int(item.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        position = np.array(item.PlanePositionSequence[0].ImagePositionPatient, float)
        k = round(float((inv @ np.append(position, 1.0))[2]))
        if 0 <= k < out.shape[0] and frame.shape == out.shape[1:]:
            out[k][frame > 0] = number
    if not out.any():
        raise LabelMapError(f"{where}: no segment frame lies on the CT's slices (another grid or study?)")
    return AnatomyLabels(out, {normalise(n): v for v, n in names.items()}, "DICOM SEG")


def _segment_name(item) -> str:
    label = str(getattr(item, "SegmentLabel", "") or "")
    if label:
        return label
    seq = getattr(item, "SegmentedPropertyTypeCodeSequence", None)
    return str(seq[0].CodeMeaning) if seq else f"segment_{item.SegmentNumber}"


def _read_names(path: Path, names_path: Path | None) -> dict[str, int]:
    candidates = [names_path] if names_path else [path.parent / n for n in NAME_FILES]
    stem = path.name.removesuffix(".gz").removesuffix(".nii")
    candidates += [path.parent / f"{stem}.json"] if not names_path else []
    found = next((c for c in candidates if c is not None and c.is_file()), None)
    if found is None:
        raise LabelMapError(
            f"label map {path}: no class names found (expected {' or '.join(NAME_FILES)} beside it, "
            f'holding {{"1": "spleen", ...}}); label numbers differ between model versions, so '
            "names are required"
        )
    try:
        raw = json.loads(found.read_text(encoding="utf-8"))
        return {normalise(str(name)): int(value) for value, name in raw.items()}
    except (ValueError, AttributeError, TypeError) as exc:
        raise LabelMapError(
            f'label names {found}: expected a JSON object {{"1": "spleen", ...}} ({exc})'
        ) from None


def _on_ct_grid(image: sitk.Image, volume: CTVolume, path: Path) -> np.ndarray:
    """Nearest-neighbour resampling of the label image onto the CT's grid (LPS)."""
    if image.GetNumberOfComponentsPerPixel() != 1 or image.GetDimension() != 3:
        raise LabelMapError(f"label map {path}: expected one 3-D label volume, got {image.GetDimension()}-D")
    pixel_id = image.GetPixelID()
    if pixel_id in (sitk.sitkFloat32, sitk.sitkFloat64):
        values = sitk.GetArrayViewFromImage(image)
        if not np.all(np.mod(values, 1) == 0):
            raise LabelMapError(f"label map {path}: holds non-integer values; expected integer class labels")
    image = sitk.Cast(image, sitk.sitkInt32)
    resampled = sitk.Resample(
        image, volume.image, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkInt32
    )
    labels = sitk.GetArrayFromImage(resampled)
    if not labels.any() and sitk.GetArrayViewFromImage(image).any():
        raise LabelMapError(
            f"label map {path}: its grid does not overlap the CT at all "
            "(another study or frame of reference?)"
        )
    return labels


def _first_line(exc: Exception) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[-1] if lines else type(exc).__name__
