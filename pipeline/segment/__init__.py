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

import numpy as np
from scipy import ndimage

from pipeline.config import Config, SegmentationConfig
from pipeline.models import CTVolume, Segmentation
from pipeline.segment.agatston import weight_edges
from pipeline.segment.bone import bone_pieces, skeleton_mask
from pipeline.segment.candidates import find_candidates
from pipeline.segment.contrast import find_contrast
from pipeline.segment.grid import WorkGrid
from pipeline.segment.masks import ball, body_mask, lung_mask, metal_cells, metal_masks, noise_sigma
from pipeline.segment.measure import grid_steps, measure_deposits

log = logging.getLogger(__name__)

__all__ = ["segment_ct"]


def segment_ct(volume: CTVolume, config: Config | SegmentationConfig | None = None) -> Segmentation:
    cfg = config.segmentation if isinstance(config, Config) else (config or SegmentationConfig())
    hu = volume.hu
    area, slice_gap, row_step = grid_steps(volume)
    spacing = (slice_gap, row_step, area / row_step)  # (z, y, x) mm
    grid = WorkGrid.for_volume(hu.shape, spacing)
    ws = grid.work_spacing
    warnings: list[str] = []
    if volume.orientation_label != "axial":
        warnings.append(
            f"{volume.orientation_label} slices: Agatston is scored per acquired slice, not per axial slice"
        )
    edges, kvp_used = weight_edges(volume.kvp, cfg.kvp_aware)
    threshold = edges[0] if cfg.kvp_aware else cfg.threshold_hu
    if cfg.kvp_aware and volume.kvp and abs(volume.kvp - kvp_used) > 5:
        warnings.append(f"{volume.kvp:g} kVp: thresholds of the nearest tabulated {kvp_used} kVp used")

    hu_w = grid.mean(hu)
    peaks_w = grid.maximum(hu)
    body = body_mask(hu_w, ws, cfg)
    metal, streaks = metal_masks(metal_cells(hu, grid.cell_of, grid.work_shape, cfg), ws, cfg)
    if metal.any():
        warnings.append(_metal_note(metal, streaks, ws, volume, grid, cfg))
    sigma = noise_sigma(hu, body)
    sigma_w = sigma / np.sqrt(np.prod(grid.factors))
    pieces = bone_pieces(hu_w, peaks_w, body & ~metal, ws, cfg)
    # the partial-volume rim of bone is about a voxel wide at any resolution
    rim = ball(max(cfg.bone_margin_mm, 1.01 * max(ws[1:])), ws)
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
    search = grid.up(body & ~near_bone & ~streaks & ~contrast.pool)
    labels, notes = find_candidates(hu, search, contrast.threshold_hu, spacing, cfg, sigma)
    warnings.extend(notes)
    touching = ndimage.binary_dilation(near_bone, structure=ball(1.01 * max(ws), ws))
    labels, bits = _drop_labels(
        labels, grid.up(touching), lambda region: hu[region].max() >= cfg.bone_cortex_hu
    )
    if bits:
        warnings.append(
            f"{bits} cortex-dense fragment(s) against bone (>= {cfg.bone_cortex_hu:g} HU) "
            "taken as bone, not reported"
        )
    factor = cfg.mass_calibration_mg_per_mm3_hu
    if factor is not None and volume.kvp is not None and abs(volume.kvp - 120) > 5:
        warnings.append(
            f"mass not reported: the calibration factor is for 120 kVp, this scan is {volume.kvp:g} kVp"
        )
        factor = None
    deposits = measure_deposits(
        volume,
        labels,
        edges=edges,
        normalise_agatston=cfg.agatston_normalise_to_3mm,
        mass_factor=factor,
        lobe_prominence_mm=cfg.lobe_prominence_mm,
    )
    for d in deposits:
        (i0, j0, k0), (i1, j1, k1) = d.bbox_ijk
        kji = np.argwhere(labels[k0:k1, j0:j1, i0:i1] == d.label) + np.array([k0, j0, i0])
        d.touches_bone = bool(touching[grid.cell_of(kji)].any())
    log.info(
        "%s: %d deposits (threshold %.0f HU, noise %.0f HU, work grid %s)",
        volume.stack_label,
        len(deposits),
        contrast.threshold_hu,
        sigma,
        grid.factors,
    )
    return Segmentation(
        volume=volume,
        deposits=deposits,
        labels=labels,
        masks={"body": body, "bone": bone, "lungs": lungs, "metal": metal, "blood_pool": contrast.pool},
        grid=grid,
        threshold_hu=contrast.threshold_hu,
        noise_sigma_hu=sigma,
        contrast_enhanced=contrast.enhanced,
        warnings=warnings,
    )


def _drop_labels(labels: np.ndarray, touching: np.ndarray, condition) -> tuple[np.ndarray, int]:
    """Remove the labels that reach `touching` and whose region meets `condition`."""
    hit = np.unique(labels[touching & (labels > 0)])
    boxes = ndimage.find_objects(labels) if len(hit) else []
    hit = [h for h in hit if condition(_region(labels, boxes[h - 1], h))]
    if len(hit) == 0:
        return labels, 0
    keep = np.setdiff1d(np.arange(1, labels.max() + 1), hit)
    lut = np.zeros(labels.max() + 1, np.int32)
    lut[keep] = np.arange(1, len(keep) + 1)
    return lut[labels], len(hit)


def _region(labels: np.ndarray, box: tuple[slice, ...], label: int) -> tuple[np.ndarray, ...]:
    """Full-volume index of one label's voxels (from its bounding box)."""
    kji = np.argwhere(labels[box] == label) + [s.start for s in box]
    return tuple(kji.T)


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
