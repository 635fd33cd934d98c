"""CT segmentation stage: calcific clumps by Hounsfield threshold and morphology.

On the working grid (about 2 mm): body without the table -> metal and its streaks ->
skeleton (cortex + marrow + cartilage, with clumps against bone told apart) -> lungs ->
opacified blood pool (contrast). On the original voxels: candidates above the threshold in
what is left -> significance against the noise -> measurements. Every decision that
changes what is reported (a raised threshold, metal, dropped specks) is said in the
warnings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.config import Config, SegmentationConfig
from pipeline.models import CTVolume, Deposit, Segmentation
from pipeline.segment.agatston import weight_edges
from pipeline.segment.bone import bone_pieces, skeleton_mask
from pipeline.segment.candidates import find_candidates
from pipeline.segment.contrast import ContrastFinding, find_contrast
from pipeline.segment.grid import WorkGrid
from pipeline.segment.masks import ball, body_mask, lung_mask, metal_masks, noise_sigma
from pipeline.segment.measure import grid_steps, measure_deposits
from pipeline.timing import stage

log = logging.getLogger(__name__)

__all__ = ["segment_ct"]

_MIN_SLICES_FOR_EDGES = 10
# a piece of cortex the skeleton missed lies along the bone; a calcific mass as dense as
# cortex (tumoral calcinosis at a joint) only touches it: a few % of its voxels are by it
_FRAGMENT_ALONG_BONE = 0.1


@dataclass
class _Anatomy:
    """What the candidate search needs to know of the anatomy, on the working grid."""

    body: np.ndarray
    metal: np.ndarray
    streaks: np.ndarray
    bone: np.ndarray
    near_bone: np.ndarray  # bone and its partial-volume rim
    lungs: np.ndarray
    contrast: ContrastFinding
    sigma: float  # image noise (HU) at full resolution
    mean_hu: np.ndarray  # block means of the CT on the working grid


def segment_ct(volume: CTVolume, config: Config | SegmentationConfig | None = None) -> Segmentation:
    cfg = config.segmentation if isinstance(config, Config) else (config or SegmentationConfig())
    hu = volume.hu
    area, slice_gap, row_step = grid_steps(volume)
    spacing = (slice_gap, row_step, area / row_step)  # (z, y, x) mm
    grid = WorkGrid.for_volume(hu.shape, spacing)
    warnings: list[str] = []
    if volume.orientation_label != "axial":
        warnings.append(
            f"{volume.orientation_label} slices: Agatston is scored per acquired slice, not per axial slice"
        )
    edges, kvp_used = weight_edges(volume.kvp, cfg.kvp_aware)
    threshold = edges[0] if cfg.kvp_aware else cfg.threshold_hu
    if cfg.kvp_aware and volume.kvp and abs(volume.kvp - kvp_used) > 5:
        warnings.append(f"{volume.kvp:g} kVp: thresholds of the nearest tabulated {kvp_used} kVp used")
    with stage("masks"):
        anatomy = _anatomy(volume, grid, cfg, threshold, warnings)
    with stage("segmentation"):
        labels, boxes, touching = _deposit_labels(hu, grid, anatomy, spacing, cfg, warnings)
    with stage("measures"):
        deposits = measure_deposits(
            volume,
            labels,
            edges=edges,
            normalise_agatston=cfg.agatston_normalise_to_3mm,
            mass_factor=_mass_factor(volume, cfg, warnings),
            lobe_prominence_mm=cfg.lobe_prominence_mm,
            boxes=boxes,
        )
    for d in deposits:
        d.touches_bone = touching[d.label]
    deposits = _on_acquired_slices(deposits, labels, volume, warnings)
    log.info(
        "%s: %d deposits (threshold %.0f HU, noise %.0f HU, work grid %s)",
        volume.stack_label,
        len(deposits),
        anatomy.contrast.threshold_hu,
        anatomy.sigma,
        grid.factors,
    )
    return Segmentation(
        volume=volume,
        deposits=deposits,
        labels=labels,
        masks={
            "body": anatomy.body,
            "bone": anatomy.bone,
            "lungs": anatomy.lungs,
            "metal": anatomy.metal,
            "blood_pool": anatomy.contrast.pool,
        },
        grid=grid,
        threshold_hu=anatomy.contrast.threshold_hu,
        noise_sigma_hu=anatomy.sigma,
        contrast_enhanced=anatomy.contrast.enhanced,
        warnings=warnings,
        mean_hu=anatomy.mean_hu,
    )


def _on_acquired_slices(
    deposits: list[Deposit], labels: np.ndarray, volume: CTVolume, warnings: list[str]
) -> list[Deposit]:
    """Deposits that reach at least one acquired slice; the others are not reported.

    Slices the loader synthesised (missing slices filled by interpolation) only blend their
    neighbours: a clump found on them alone is an artefact of the repair, not a finding. A
    connected clump covers every slice between its first and last, so its box tells."""
    made = set(volume.interpolated_slices)
    if not made:
        return deposits
    kept = []
    for d in deposits:
        k0, k1 = d.bbox_ijk[0][2], d.bbox_ijk[1][2]
        if all(k in made for k in range(k0, k1)):
            labels[labels == d.label] = 0
            where = ", ".join(f"{v:.1f}" for v in d.centroid_lps_mm)
            warnings.append(
                f"a {d.volume_mm3:.0f} mm3 clump at LPS ({where}) mm lies only on interpolated "
                f"slice(s) {k0 + 1}-{k1}: not reported (no acquired image shows it)"
            )
            continue
        kept.append(d)
    return kept


def _anatomy(
    volume: CTVolume, grid: WorkGrid, cfg: SegmentationConfig, threshold: float, warnings: list[str]
) -> _Anatomy:
    """Body, metal and its streaks, skeleton, opacified blood and lungs on the working grid."""
    ws = grid.work_spacing
    hu_w, peaks_w = grid.reduce(volume.hu)
    body = body_mask(hu_w, ws, cfg)
    # a cell holds metal when any of its voxels does
    metal, streaks = metal_masks(peaks_w >= cfg.metal_threshold_hu, ws, cfg)
    if metal.any():
        warnings.append(_metal_note(metal, streaks, ws, volume, grid, cfg))
    sigma = noise_sigma(volume.hu, body)
    sigma_w = sigma / np.sqrt(np.prod(grid.factors))
    pieces = bone_pieces(hu_w, peaks_w, body & ~metal, ws, cfg)
    rim = _bone_rim(ws, cfg)
    contrast = find_contrast(
        hu_w,
        body,
        ndimage.binary_dilation(pieces.core, structure=rim) | streaks,
        ws,
        cfg,
        threshold,
        volume.contrast_agent,
    )
    if contrast.note:
        warnings.append(contrast.note)
    bone = skeleton_mask(pieces, hu_w, peaks_w, body & ~metal & ~contrast.pool, ws, cfg, sigma_w)
    near_bone = ndimage.binary_dilation(bone, structure=rim)
    lungs = lung_mask(hu_w, body, ws, cfg)
    return _Anatomy(body, metal, streaks, bone, near_bone, lungs, contrast, sigma, hu_w)


def _bone_rim(ws: tuple[float, float, float], cfg: SegmentationConfig) -> np.ndarray:
    """The partial-volume rim of bone: about a voxel wide at any resolution."""
    return ball(max(cfg.bone_margin_mm, 1.01 * max(ws[1:])), ws)


def _deposit_labels(
    hu: np.ndarray,
    grid: WorkGrid,
    anatomy: _Anatomy,
    spacing: tuple[float, float, float],
    cfg: SegmentationConfig,
    warnings: list[str],
) -> tuple[np.ndarray, list[tuple[slice, ...]], dict[int, bool]]:
    """The candidates' label map, without cortex-dense fragments lying along bone (bone
    the skeleton mask missed) and small stubs cut by the scan's ends; the bounding box of
    each kept label (in label order, for the measurements); whether each touches bone."""
    a = anatomy
    search = a.body & ~a.near_bone & ~a.streaks & ~a.contrast.pool
    labels, notes = find_candidates(hu, grid, search, a.contrast.threshold_hu, spacing, cfg, a.sigma)
    warnings.extend(notes)
    zone = ndimage.binary_dilation(
        a.near_bone, structure=ball(1.01 * max(grid.work_spacing), grid.work_spacing)
    )
    boxes = ndimage.find_objects(labels)
    touching: dict[int, bool] = {}
    fragments, stubs = [], []
    for label, box in enumerate(boxes, start=1):
        if box is None:
            continue
        kji = np.argwhere(labels[box] == label) + np.array([s.start for s in box])
        along = float(zone[grid.cell_of(kji)].mean())
        touches = along > 0
        if along >= _FRAGMENT_ALONG_BONE and hu[tuple(kji.T)].max() >= cfg.bone_cortex_hu:
            fragments.append(label)
        elif _edge_stub(box, len(kji), hu.shape[0], spacing, cfg):
            stubs.append(label)
        else:
            touching[label] = touches
    if fragments:
        warnings.append(
            f"{len(fragments)} cortex-dense fragment(s) against bone (>= {cfg.bone_cortex_hu:g} HU) "
            "taken as bone, not reported"
        )
    if stubs:
        warnings.append(
            f"{len(stubs)} small dense piece(s) cut by the first or last slice not reported "
            f"(< {cfg.edge_fragment_mm3:g} mm3: a rib or bone cut by the scan cannot be told from calcium)"
        )
    dropped = set(fragments + stubs)
    if dropped:
        touching = _renumber(labels, boxes, dropped, touching)
    kept = [box for label, box in enumerate(boxes, start=1) if box is not None and label not in dropped]
    return labels, kept, touching


def _edge_stub(
    box: tuple[slice, ...], n_voxels: int, n_slices: int, spacing: tuple[float, float, float], cfg
) -> bool:
    """A small clump in the first or last slice: a bone the scan cuts (a rib, the end of a
    process) leaves a stub too short to be judged as bone, with no cortex around it. Not on
    a stack of a few slices, where everything lies at an edge."""
    at_edge = n_slices > _MIN_SLICES_FOR_EDGES and (box[0].start == 0 or box[0].stop == n_slices)
    return at_edge and n_voxels * float(np.prod(spacing)) < cfg.edge_fragment_mm3


def _renumber(labels: np.ndarray, boxes: list, dropped: set[int], values: dict[int, bool]) -> dict[int, bool]:
    """Remove the `dropped` labels in place and number the rest 1..n in the same order
    (no full-size copy); returns `values` under the new numbers.

    In order, each label becomes a number no larger than itself and than any label after
    it, so a voxel is never mistaken for one of a later label."""
    renumbered: dict[int, bool] = {}
    new = 0
    for label, box in enumerate(boxes, start=1):
        if box is None:
            continue
        view = labels[box]
        mask = view == label
        if label in dropped:
            view[mask] = 0
            continue
        new += 1
        view[mask] = new
        renumbered[new] = values[label]
    return renumbered


def _mass_factor(volume: CTVolume, cfg: SegmentationConfig, warnings: list[str]) -> float | None:
    """The calibration factor (mg per mm3 and HU), when it applies to this scan's kVp."""
    factor = cfg.mass_calibration_mg_per_mm3_hu
    if factor is not None and volume.kvp is not None and abs(volume.kvp - 120) > 5:
        warnings.append(
            f"mass not reported: the calibration factor is for 120 kVp, this scan is {volume.kvp:g} kVp"
        )
        return None
    return factor


def _metal_note(
    metal: np.ndarray, zone: np.ndarray, spacing, volume: CTVolume, grid: WorkGrid, cfg: SegmentationConfig
) -> str:
    size = f"metal implant ({metal.sum() * np.prod(spacing) / 1000:.1f} mL)"
    if cfg.metal_streaks == "slab":
        ks = np.flatnonzero(zone.any(axis=(1, 2)))
        first, last = ks[0] * grid.factors[0], min(grid.shape[0] - 1, (ks[-1] + 1) * grid.factors[0] - 1)
        z = [volume.index_to_lps([0, 0, k])[0][2] for k in (first, last)]
        return (
            f"{size}: slices {first}-{last} (z {min(z):.0f} to {max(z):.0f} mm LPS) not searched, "
            f"because streak artefacts cross them"
        )
    return f"{size}: nothing reported within {cfg.metal_margin_mm:g} mm of it in-plane (streak artefact)"
