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

import cc3d
import numpy as np
from scipy import ndimage

from pipeline.config import Config, SegmentationConfig
from pipeline.models import Coverage, CTVolume, Deposit, Excluded, Segmentation
from pipeline.segment.agatston import weight_edges
from pipeline.segment.bone import BonePieces, bone_pieces, judge_piece, skeleton_mask
from pipeline.segment.candidates import find_candidates
from pipeline.segment.contrast import ContrastFinding, find_contrast
from pipeline.segment.grid import WorkGrid
from pipeline.segment.masks import ball, body_mask, fill_slices, lung_mask, metal_masks, noise_sigma
from pipeline.segment.measure import grid_steps, measure_deposits
from pipeline.timing import stage

log = logging.getLogger(__name__)

__all__ = ["segment_ct"]

_MIN_SLICES_FOR_EDGES = 10
# a piece of cortex the skeleton missed lies along the bone; a calcific mass as dense as
# cortex (tumoral calcinosis at a joint) only touches it: a few % of its voxels are by it
_FRAGMENT_ALONG_BONE = 0.1
# a faint piece with half its voxels along bone is its cancellous edge, not calcium
_FAINT_ALONG_BONE = 0.5
_FAINT_MEAN_HU = 200.0
_CANCELLOUS_HU = 100.0  # inside a small bone; blood and soft tissue are below
_CANCELLOUS_MAX_HU = 600.0  # ... and above: a solid calcific clump
_SMALL_BONE_SHELL_HU = 400.0  # cortex over cancellous bone
_SMALL_BONE_SKIN_MM = 20.0
_SMALL_BONE_MAX_MM3 = 20_000.0  # a carpal or tarsal bone, a sesamoid, a phalanx
_STREAK_RING_MM = (3.0, 10.0)
_STREAK_CONTRAST = 6.0
_FREE_MM3 = (10.0, 5000.0)  # clumps the coarse skeleton may take in
_FREE_MAX_ELONGATION = 3.0
_WALL_PIECE_MAX_MM3 = 10_000.0  # a wall calcification is smaller; a vertebra far larger


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
        coverage=Coverage([], anatomy.contrast.status, _excluded(anatomy, grid, cfg)),
    )


def _excluded(anatomy: _Anatomy, grid: WorkGrid, cfg: SegmentationConfig) -> list[Excluded]:
    """What the search left out, for `coverage.excluded`: metal and its streak zone."""
    if not anatomy.metal.any():
        return []
    cell = float(np.prod(grid.work_spacing))
    slices, zone_slices = tuple(_full_slices(anatomy.metal, grid)), tuple(_full_slices(anatomy.streaks, grid))
    how = (
        f"every slice within {cfg.metal_slab_margin_mm:g} mm of it"
        if cfg.metal_streaks == "slab"
        else f"within {cfg.metal_margin_mm:g} mm of it in-plane"
    )
    return [
        Excluded("metal", slices, float(anatomy.metal.sum()) * cell, "metal (>= "
                 f"{cfg.metal_threshold_hu:g} HU): implant, wire, clip or external object"),
        Excluded("metal_streaks", zone_slices, float((anatomy.streaks & ~anatomy.metal).sum()) * cell,
                 f"streak artefact around the metal: {how} not searched"),
    ]  # fmt: skip


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

    def contrast_of(core: np.ndarray) -> ContrastFinding:
        return find_contrast(
            hu_w,
            body,
            core | streaks | metal,
            ws,
            cfg,
            threshold,
            volume.contrast_agent,
            voxel_noise_gain=float(np.sqrt(np.prod(grid.factors))),
            bone=core,
            noise_sd=sigma_w,
        )

    contrast = contrast_of(pieces.core)
    if contrast.enhanced and contrast.central is not None:
        # a calcified wall judged bone hides the lumen it rings: taken out, the lumen is sought
        # again (the aorta and heart only: a limb's artery runs beside its bone)
        freed = _off_the_lumen(pieces, ndimage.binary_dilation(contrast.central) & body, ws)
        if freed.core.sum() < pieces.core.sum():
            pieces, contrast = freed, contrast_of(freed.core)
    warnings.extend(contrast.notes)
    # bone grows through bone-density tissue, never through opacified lumen or organs
    allowed = body & ~metal & ~contrast.zone
    bone = skeleton_mask(pieces, hu_w, peaks_w, allowed, ws, cfg, sigma_w, contrast.enhanced)
    bone = _free_clumps(volume.hu, grid, bone, cfg)
    near_bone = ndimage.binary_dilation(bone, structure=rim)
    lungs = lung_mask(hu_w, body, ws, cfg)
    return _Anatomy(body, metal, streaks, bone, near_bone, lungs, contrast, sigma, hu_w)


def _free_clumps(hu: np.ndarray, grid: WorkGrid, bone: np.ndarray, cfg: SegmentationConfig) -> np.ndarray:
    """The skeleton without calcific clumps it took in on the working grid.

    On a coarse working grid (5 mm slices, 1.7 mm cells) a clump a few mm from a vertebra or
    a scapula is joined to it by block means that blur the gap; at full resolution the gap
    is soft tissue. Every piece of bone-density voxels inside the skeleton that stands
    apart at full resolution, is smaller than a bone, dense like calcium and judged not bone
    on its own voxels is given back to the search."""
    if grid.is_identity:
        return bone
    dense, _ = grid.dense_within(hu, cfg.bone_threshold_hu, bone)
    labels, n = cc3d.connected_components(dense, connectivity=26, return_N=True)
    if n == 0:
        return bone
    voxel = float(np.prod(grid.spacing))
    sizes = np.bincount(labels.ravel(), minlength=n + 1) * voxel
    freed = np.zeros(grid.work_shape, bool)
    for i, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None or not _FREE_MM3[0] <= sizes[i] <= _FREE_MM3[1]:
            continue
        crop = tuple(slice(max(0, b.start - 2), b.stop + 2) for b in box)
        piece = labels[crop] == i
        values = hu[crop]
        too_faint = values[piece].max() < cfg.bone_clump_hu
        if too_faint or _elongation(piece, grid.spacing) >= _FREE_MAX_ELONGATION:
            continue  # too faint for a calcific clump, or long like a rib or a process
        if any(j.is_bone for j in judge_piece(piece, values, grid.spacing, cfg)):
            continue
        kji = np.argwhere(piece) + np.array([c.start for c in crop])
        freed[grid.cell_of(kji)] = True
    return bone & ~freed


def _elongation(mask: np.ndarray, spacing: tuple[float, float, float]) -> float:
    """Longest over shortest principal extent (mm) of a mask: a rib cut by a slab is long
    and thin, a calcific clump is compact."""
    coords = np.argwhere(mask) * np.asarray(spacing)
    if len(coords) < 4:
        return 1.0
    eigen = np.maximum(np.sort(np.linalg.eigvalsh(np.cov(coords.T))), 1e-6)
    return float(np.sqrt(eigen[2] / eigen[0]))


def _off_the_lumen(pieces: BonePieces, zone: np.ndarray, ws: tuple[float, float, float]) -> BonePieces:
    """Dense pieces judged bone before the lumen was known, that lie against it and are
    smaller than a bone: wall calcification (its surroundings, lumen at 150-500 HU, looked
    like bone-density tissue). They are calcium, not skeleton. A piece of any size with half
    its voxels within three cells of the lumen is a calcified wall around it: no bone hugs a
    lumen that closely (a vertebra touches the aorta along one face)."""
    labels, n = ndimage.label(pieces.core, structure=np.ones((3, 3, 3), bool))
    if n == 0:
        return pieces
    against = ndimage.binary_dilation(zone, iterations=3)
    cell = float(np.prod(ws))
    sizes = np.bincount(labels.ravel(), minlength=n + 1) * cell
    touching = np.bincount(labels[against].ravel(), minlength=n + 1) * cell
    moved = (touching >= 0.5 * sizes) | ((sizes < _WALL_PIECE_MAX_MM3) & (touching >= 0.3 * sizes))
    moved[0] = False
    if not moved.any():
        return pieces
    wall = moved[labels]
    return BonePieces(pieces.core & ~wall, pieces.others | wall)


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
    search = a.body & ~a.near_bone & ~a.streaks
    labels, notes = find_candidates(hu, grid, search, _threshold_map(a.contrast), spacing, cfg, a.sigma)
    warnings.extend(notes)
    zone = ndimage.binary_dilation(
        a.near_bone, structure=ball(1.01 * max(grid.work_spacing), grid.work_spacing)
    )
    boxes = ndimage.find_objects(labels)
    touching: dict[int, bool] = {}
    fragments, stubs, streaky = [], [], []
    streak_slices = _streak_slices(a.metal, grid, cfg)
    for label, box in enumerate(boxes, start=1):
        if box is None:
            continue
        kji = np.argwhere(labels[box] == label) + np.array([s.start for s in box])
        along = float(zone[grid.cell_of(kji)].mean())
        touches = along > 0
        peak = hu[tuple(kji.T)].max()
        if peak >= cfg.bone_cortex_hu and (
            along >= _FRAGMENT_ALONG_BONE
            or (_near_skin(a.body, grid, kji) and _small_bone(hu, labels, label, box, spacing, cfg))
        ):
            fragments.append(label)
        elif touches and peak < cfg.bone_clump_hu and _faint_bone(along, hu[tuple(kji.T)].mean()):
            fragments.append(label)  # cancellous bone or a blurred edge the skeleton missed
        elif _edge_stub(box, len(kji), hu.shape[0], spacing, cfg):
            stubs.append(label)
        elif streak_slices[box[0]].all() and _within_streaks(hu, labels, label, box, spacing):
            streaky.append(label)
        else:
            touching[label] = touches
    if fragments:
        warnings.append(
            f"{len(fragments)} fragment(s) against bone taken as bone, not reported: cortex-dense (>= "
            f"{cfg.bone_cortex_hu:g} HU), or fainter than a calcific clump (< {cfg.bone_clump_hu:g} HU) "
            "and lying along it or faint throughout"
        )
    if stubs:
        warnings.append(
            f"{len(stubs)} small dense piece(s) cut by the first or last slice not reported "
            f"(< {cfg.edge_fragment_mm3:g} mm3: a rib or bone cut by the scan cannot be told from calcium)"
        )
    if streaky:
        warnings.append(
            f"{len(streaky)} dense spot(s) on slices crossed by metal streaks not reported: they stand "
            f"less than {_STREAK_CONTRAST:g} times the streaks' spread above the tissue around them"
        )
    dropped = set(fragments + stubs + streaky)
    if dropped:
        touching = _renumber(labels, boxes, dropped, touching)
    kept = [box for label, box in enumerate(boxes, start=1) if box is not None and label not in dropped]
    return labels, kept, touching


def _threshold_map(contrast: ContrastFinding) -> float | np.ndarray:
    """The calcium threshold: one value, or per working cell with the lumen-adaptive level
    beside opacified lumen."""
    if contrast.zone_levels is None or not contrast.zone.any():
        return contrast.threshold_hu
    return contrast.zone_levels


def _near_skin(body: np.ndarray, grid: WorkGrid, kji: np.ndarray) -> bool:
    """Whether the outside of the body lies within `_SMALL_BONE_SKIN_MM` in-plane of a piece
    (the small bones of the hands and feet do; the aorta and the heart never)."""
    k, j, i = (np.asarray(c) for c in grid.cell_of(kji))
    ws = grid.work_spacing
    rj, ri = (int(np.ceil(_SMALL_BONE_SKIN_MM / s)) for s in ws[1:])
    box = (
        slice(k.min(), k.max() + 1),
        slice(max(0, j.min() - rj), j.max() + rj + 1),
        slice(max(0, i.min() - ri), i.max() + ri + 1),
    )
    return bool((~body[box]).any())


def _small_bone(hu: np.ndarray, labels: np.ndarray, label: int, box, spacing, cfg) -> bool:
    """A piece of cortical density with a cortex around a less dense interior, measured on
    its own voxels: a phalanx, a sesamoid, a carpal bone that the working grid was too
    coarse to judge; small bones are cancellous inside (200-500 HU under a 1000-1500 HU
    cortex). A calcified plaque is a thin shell with no interior, a calcified vessel wall
    rings blood, a calcific clump is dense throughout (its rim may overshoot on a sharp
    kernel, but not by a cortex's margin over cancellous bone)."""
    crop = tuple(slice(max(0, b.start - 2), b.stop + 2) for b in box)
    piece = labels[crop] == label
    if piece.sum() * float(np.prod(spacing)) > _SMALL_BONE_MAX_MM3:
        return False
    values = hu[crop]
    enclosed = fill_slices(piece) & ~piece
    if enclosed.sum() >= 3 and np.median(values[enclosed]) < _CANCELLOUS_HU:
        return False  # a calcified ring around blood or soft tissue: a vessel's wall
    flat = np.zeros((1, 3, 3), bool)
    flat[0, 1, :] = flat[0, :, 1] = True
    interior = ndimage.binary_erosion(piece, structure=flat, iterations=2)
    if interior.sum() < 4:
        return False  # too thin to show a cortex and an interior
    inside = float(np.median(values[interior]))
    shell = float(np.percentile(values[piece & ~interior], 90))
    return inside <= _CANCELLOUS_MAX_HU and shell - inside >= _SMALL_BONE_SHELL_HU


def _faint_bone(along: float, mean_hu: float) -> bool:
    """A faint piece touching bone (peak under `bone_clump_hu`) is bone the skeleton missed
    when it lies mostly along the bone, or when it is as faint throughout as cancellous bone
    blurred by thick voxels (mean under `_FAINT_MEAN_HU`); a calcific clump against a bone is
    dense at its core."""
    return along >= _FAINT_ALONG_BONE or mean_hu < _FAINT_MEAN_HU


def _streak_slices(metal: np.ndarray, grid: WorkGrid, cfg: SegmentationConfig) -> np.ndarray:
    """Full-resolution slices that hold metal, and `metal_slab_margin_mm` beyond: streaks
    run in the slice plane right across the patient, far beyond `metal_margin_mm`."""
    out = np.zeros(grid.shape[0], bool)
    held = _full_slices(metal, grid)
    if held:
        reach = int(np.ceil(cfg.metal_slab_margin_mm / grid.spacing[0]))
        out[max(0, held.start - reach) : held.stop + reach] = True
    return out


def _full_slices(mask: np.ndarray, grid: WorkGrid) -> range:
    """The full-resolution slices from the first to the last working slice `mask` touches
    (empty when it touches none)."""
    ks = np.flatnonzero(mask.any(axis=(1, 2)))
    if not len(ks):
        return range(0)
    return range(int(ks[0]) * grid.factors[0], min(grid.shape[0], (int(ks[-1]) + 1) * grid.factors[0]))


def _within_streaks(hu: np.ndarray, labels: np.ndarray, label: int, box, spacing) -> bool:
    """A spot on a streaked slice that does not stand out from the streaks around it: its
    peak is less than `_STREAK_CONTRAST` standard deviations of the soft tissue in a ring
    3-10 mm around it (robust: a bone edge in the ring is no streak) above that tissue's
    median. Streaks are bright and dark bands; their spread, not the image noise, is the
    detection limit there."""
    reach = [0, *(int(np.ceil(_STREAK_RING_MM[1] / s)) for s in spacing[1:])]
    crop = tuple(slice(max(0, b.start - r), b.stop + r) for b, r in zip(box, reach, strict=True))
    mask = labels[crop] == label
    values = hu[crop]
    inner = ndimage.binary_dilation(mask, structure=ball(_STREAK_RING_MM[0], spacing, flat=True))
    outer = ndimage.binary_dilation(mask, structure=ball(_STREAK_RING_MM[1], spacing, flat=True))
    ring = outer & ~inner & (values > -300) & (values < 300)
    if ring.sum() < 20:
        return False
    tissue = values[ring].astype(np.float32)
    middle = float(np.median(tissue))
    spread = 1.4826 * float(np.median(np.abs(tissue - middle)))  # a bone edge in the ring is an outlier
    return float(values[mask].max()) - middle < _STREAK_CONTRAST * spread


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
        held = _full_slices(zone, grid)
        first, last = held.start, held.stop - 1
        z = [volume.index_to_lps([0, 0, k])[0][2] for k in (first, last)]
        return (
            f"{size}: slices {first}-{last} (z {min(z):.0f} to {max(z):.0f} mm LPS) not searched, "
            f"because streak artefacts cross them"
        )
    return f"{size}: nothing reported within {cfg.metal_margin_mm:g} mm of it in-plane (streak artefact)"
