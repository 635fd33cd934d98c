"""Site mapping: which body region, side and tissue each CT deposit lies in, and why.

Without any model, landmarks are read from the scan (landmarks.py: trunk, spine, lungs,
skull, joint heads, arms) and local rules decide the tissue (tissue.py). An organ label map
(TotalSegmentator NIfTI or a DICOM SEG, labelmap.py) takes precedence where it covers the
deposit. Radiographs are placed from their header (radiograph.py).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from scipy import ndimage

from pipeline.anatomy.coverage import body_parts, slice_parts
from pipeline.anatomy.errors import LabelMapError
from pipeline.anatomy.labelmap import AnatomyLabels, label_map_from_seg, load_label_map
from pipeline.anatomy.landmarks import Landmarks, find_landmarks
from pipeline.anatomy.limbs import ArmLevels, arm_levels
from pipeline.anatomy.local import Surroundings, surroundings
from pipeline.anatomy.organs import organ_site
from pipeline.anatomy.physiologic import split_incidental
from pipeline.anatomy.radiograph import radiograph_site
from pipeline.anatomy.regions import LIMB_PARTS, body_part_region, laterality, region
from pipeline.anatomy.space import coarse_grid
from pipeline.anatomy.tissue import tissue
from pipeline.config import AnatomyConfig
from pipeline.models import Deposit, Segmentation

__all__ = [
    "AnatomyLabels",
    "LabelMapError",
    "label_map_from_seg",
    "load_label_map",
    "map_sites",
    "radiograph_site",
]


def map_sites(
    segmentation: Segmentation, config: AnatomyConfig | None = None, labels: AnatomyLabels | None = None
) -> list[str]:
    """Fill region/laterality/tissue/site_evidence of segmentation.deposits in place; return warnings."""
    cfg = config or AnatomyConfig()
    warnings: list[str] = []
    lm = find_landmarks(coarse_grid(segmentation))
    parts, evidence = body_parts(lm, segmentation.volume.body_part_examined)
    if segmentation.coverage is not None:
        segmentation.coverage.body_parts = parts  # type: ignore[assignment]
        segmentation.coverage.evidence = evidence
    if not segmentation.deposits:
        return warnings
    if not lm.grid.space.axial:
        warnings.append("slices are not axial: regions from the landmarks may be unreliable")
    body_part = segmentation.volume.body_part_examined
    limb_scan = _limb_only(lm, body_part)
    arms: dict[int, ArmLevels] = {}
    by_slice = slice_parts(lm, body_part)
    for dep in segmentation.deposits:
        s = surroundings(segmentation, lm, dep, cfg.periarticular_mm + 5)
        arm = _arm_of(lm, s, arms)
        _heuristic_site(segmentation, lm, dep, s, arm, body_part, cfg)
        _slice_region(dep, by_slice[lm.slice_of(float(dep.centroid_lps_mm[2]))])
        if limb_scan:
            _limb_scan_site(dep, body_part)
        if labels is not None:
            _organ_site(segmentation, labels, dep)
    _set_aside_physiologic(segmentation, lm)
    if limb_scan:
        warnings.append(f"scan of one limb ({body_part}): side not told (no midline in view)")
    return warnings


def _set_aside_physiologic(seg: Segmentation, lm: Landmarks) -> None:
    """Calcified cartilage and physiologic intracranial calcification leave the deposits
    (and the label map) for `seg.incidental`."""
    kept, incidental = split_incidental(seg.deposits, lm)
    if not incidental:
        return
    gone = {d.label for d in seg.deposits} - {d.label for d in kept}
    for d in seg.deposits:
        if d.label in gone:
            (i0, j0, k0), (i1, j1, k1) = d.bbox_ijk
            view = seg.labels[k0:k1, j0:j1, i0:i1]
            view[view == d.label] = 0
    seg.deposits = kept
    seg.incidental.extend(incidental)


def _heuristic_site(
    seg: Segmentation,
    lm: Landmarks,
    dep: Deposit,
    s: Surroundings,
    arm: ArmLevels | None,
    body_part: str | None,
    cfg: AnatomyConfig,
) -> None:
    reg, why_reg = region(lm, s.centroid, arm, body_part)
    side, why_side = laterality(lm, s.centroid)
    in_pool = seg.contrast_enhanced and bool(_near(lm.grid.pool, s.cell, 2))
    tis, why_tis = tissue(lm, s, reg, cfg, in_pool)
    if tis in ("kidney", "stomach") and reg != "abdomen":
        reg, why_reg = "abdomen", f"in the {tis}"
    if tis == "lung":
        reg, why_reg = "chest", "in the lung"
    dep.region, dep.laterality, dep.tissue = reg, side, tis
    dep.site_evidence = [f"region {reg}: {why_reg}", f"side {side}: {why_side}", f"tissue {tis}: {why_tis}"]


def _slice_region(dep: Deposit, part: str | None) -> None:
    """A deposit no landmark placed takes the body part its slice shows (a slab of the
    upper abdomen has no lung apex, diaphragm or hip to count from)."""
    if dep.region == "unknown" and part is not None:
        dep.region = part  # type: ignore[assignment]
        dep.site_evidence[0] = f"region {part}: its slice shows the {part} (image content)"


def _arm_of(lm: Landmarks, s: Surroundings, cache: dict[int, ArmLevels]) -> ArmLevels | None:
    """The arm part a deposit lies in (or against), with its elbow and wrist levels."""
    label = _near(lm.arms, s.cell, 2)
    if not label:
        return None
    if label not in cache:
        side = "left" if s.centroid[0] > lm.midline[s.cell[0]] else "right"
        cache[label] = arm_levels(lm, label, side)
    return cache[label]


def _near(volume: np.ndarray, cell: tuple[int, int, int], reach: int) -> int:
    """Most common non-zero value within `reach` cells in-plane of a cell (0: none)."""
    k, j, i = cell
    box = volume[k, max(j - reach, 0) : j + reach + 1, max(i - reach, 0) : i + reach + 1]
    values = box[box > 0]
    if not values.size:
        return 0
    return int(Counter(values.astype(int).tolist()).most_common(1)[0][0])


def _limb_only(lm: Landmarks, body_part: str | None) -> bool:
    """A scan of one limb (hand, knee...): no trunk landmarks and a limb body part."""
    prior = body_part_region(body_part)
    trunk = lm.lung_top is not None or bool(lm.femoral) or lm.head_bottom is not None
    return prior in LIMB_PARTS and not trunk


def _limb_scan_site(dep: Deposit, body_part: str | None) -> None:
    prior = body_part_region(body_part) or "unknown"
    dep.region, dep.laterality = prior, "unknown"
    dep.site_evidence[0] = f"region {prior}: scan of one limb, BodyPartExamined {body_part}"
    dep.site_evidence[1] = "side unknown: only one limb in the scan, no midline to compare with"


def _organ_site(seg: Segmentation, labels: AnatomyLabels, dep: Deposit) -> None:
    """An organ of the label map under (or just around) the deposit overrides the rules."""
    name = labels.organ_at(_deposit_voxels(seg, dep))
    if name is None:
        return
    site = organ_site(name)
    if site is None:
        return
    tis, reg, side = site
    dep.tissue = tis
    dep.site_evidence.append(
        f"tissue {tis}: inside the {name.replace('_', ' ')} ({labels.source} label {name})"
    )
    if reg is not None and (reg != dep.region or dep.region == "unknown"):
        dep.region = reg
        dep.site_evidence.append(f"region {reg}: the {name.replace('_', ' ')} lies there")
    if side is not None:
        dep.laterality = side
        dep.site_evidence.append(f"side {side}: the organ is the {side} {name.split('_')[0]}")


def _deposit_voxels(seg: Segmentation, dep: Deposit) -> tuple[np.ndarray, ...]:
    (i0, j0, k0), (i1, j1, k1) = dep.bbox_ijk
    box = (slice(max(k0 - 2, 0), k1 + 2), slice(max(j0 - 2, 0), j1 + 2), slice(max(i0 - 2, 0), i1 + 2))
    mask = ndimage.binary_dilation(seg.labels[box] == dep.label, iterations=2)
    kji = np.argwhere(mask) + np.array([s.start for s in box])
    return tuple(kji.T)
