"""The skeleton: cortical shell and the marrow it encloses, told apart from calcific clumps.

Bone and calcium are both dense, and a clump can be as large as a bone, so size does not
separate them. Each dense piece is judged by its structure and its surroundings:

- bone with an interior is a dense cortical shell around less dense cancellous bone or
  marrow, so its outer layer is denser than its core; a calcific clump is solid and, blurred
  by the scanner, densest at its core;
- a small piece of bone (a process of a vertebra, cancellous bone that just crossed the
  threshold) is embedded in bone-density tissue, while a clump sits in soft tissue even where
  it touches a bone;
- thin bones with no interior (ribs, phalanges) are long and narrow, unlike clumps.

Scanner blur joins a clump to a nearby bone by a neck of dense voxels one or two voxels
wide. A piece judged bone is therefore eroded by one voxel; if that splits it, each part is
judged on its own, on the piece's real surface (cut faces are not cortex).

The parts judged bone are then grown through tissue of bone density (cancellous bone cut
off by the threshold, costal cartilage) and their marrow filled; the parts judged not bone
are kept out of that growth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from pipeline.config import SegmentationConfig
from pipeline.segment.masks import Spacing, ball

_MIN_INTERIOR_VOXELS = 20  # pieces smaller than this have no interior to judge
_MIN_CORE_VOXELS = 4
_MIN_JUDGED_VOXELS = 4
_MIN_SPLIT_VOXELS = 100  # smaller pieces are judged whole
_MAX_MARROW_VOLUME_MM3 = 250_000.0
_PAD = 3
_CLUMP = np.ones((3, 3, 3), bool)
_MUSCLE_HU = 50.0
_CLUMP_REACH_VOXELS = 1.7  # the partial-volume rim hugs the cortex within a diagonal step
_SKIN_MM = 12.0  # a phalanx lies within a finger's width of the skin
_PHALANX_MIN_MM = 12.0  # the shortest phalanx (distal) is longer than this
_PHALANX_PEAK = 0.85  # of bone_cortex_hu: blur lowers a slim phalanx's cortex a little
_PHALANX_TIP_MM = 8.0  # a distal phalanx on two 5 mm slices measures about 10 mm
_PHALANX_TIP_PEAK = 0.9  # ... and is told from a clump by its cortex density alone


@dataclass(frozen=True)
class PieceFeatures:
    volume_mm3: float
    length_mm: float
    elongation: float  # sqrt of the largest / smallest principal variance
    flatness: float  # sqrt of the middle / smallest principal variance (plates are flat)
    peak_hu: float
    embedded: float  # fraction of the surrounding layer at bone density
    shell_minus_core_hu: float | None  # None when the piece has no interior
    near_skin: bool = False  # within a finger's width of the outside of the body

    @property
    def rod_like(self) -> bool:
        """Long and round in section (a phalanx), unlike a plate (a plaque) or a clump."""
        return self.elongation >= 2.5 and self.flatness < 2.0


@dataclass
class BonePieces:
    """Dense parts judged: `core` is bone (marrow filled), `others` are not (clumps)."""

    core: np.ndarray
    others: np.ndarray


def bone_pieces(
    hu: np.ndarray, peaks: np.ndarray, body: np.ndarray, spacing: Spacing, cfg: SegmentationConfig
) -> BonePieces:
    """Judge every dense piece of `hu`; `peaks` holds each cell's densest original voxel
    (the same as `hu` on a full-resolution grid), for tests of peak density."""
    dense = body & (hu >= cfg.bone_threshold_hu)
    core, others = np.zeros_like(dense), np.zeros_like(dense)
    labels, _ = ndimage.label(dense, structure=_CLUMP)
    for i, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        crop = tuple(slice(max(0, s.start - _PAD), s.stop + _PAD) for s in box)
        piece = labels[crop] == i
        skin = _near_skin(body, box, spacing)
        for part, is_bone_part in judge_piece(piece, hu[crop], spacing, cfg, peaks[crop], skin):
            if is_bone_part:
                core[crop] |= part  # with its own marrow: nothing between bones is filled
            else:
                others[crop] |= part
    return BonePieces(core & ~others, others)


def judge_piece(
    piece: np.ndarray,
    values: np.ndarray,
    spacing: Spacing,
    cfg: SegmentationConfig,
    peaks: np.ndarray | None = None,
    near_skin: bool = False,
) -> list[tuple[np.ndarray, bool]]:
    """[(part, is bone)] for one connected dense piece (a crop with some margin); bone
    parts come back with the marrow they enclose."""
    peaks = values if peaks is None else peaks
    surface = piece & ~ndimage.binary_erosion(piece)
    parts = [piece]
    if piece.sum() >= _MIN_SPLIT_VOXELS:
        parts = [
            q for p in _split_at_necks(piece, spacing) for q in _split_at_valleys(p, values, spacing, cfg)
        ]
    slivers = [p for p in parts if len(parts) > 1 and p.sum() < _MIN_INTERIOR_VOXELS]
    judged = []
    for part in parts:
        if any(part is sliver for sliver in slivers):
            continue
        judged.extend(_judge_part(part, values, peaks, surface, spacing, cfg, near_skin))
    # a sliver cut off by the splits is too small to judge: it goes with the part it touches
    for sliver in slivers:
        judged.append((sliver, _neighbour_verdict(sliver, judged)))
    return judged


def _contact(part: np.ndarray, piece: np.ndarray) -> float:
    """Fraction of the voxels just outside `part` that belong to the rest of `piece`."""
    rim = ndimage.binary_dilation(part, structure=_CLUMP) & ~part
    return float((rim & piece).sum() / max(rim.sum(), 1))


def _neighbour_verdict(sliver: np.ndarray, judged: list[tuple[np.ndarray, bool]]) -> bool:
    around = ndimage.binary_dilation(sliver, structure=_CLUMP) & ~sliver
    contacts = [(int((around & part).sum()), verdict) for part, verdict in judged]
    touching = max(contacts, default=(0, True))
    return touching[1] if touching[0] > 0 else True


def _judge_part(
    part: np.ndarray,
    values: np.ndarray,
    peaks: np.ndarray,
    surface: np.ndarray,
    spacing: Spacing,
    cfg: SegmentationConfig,
    near_skin: bool,
) -> list[tuple[np.ndarray, bool]]:
    """Judge one part on its own bounding box (cheap however large the piece it came from)."""
    box = _padded_box(part, pad=_PAD)
    sub, sub_values, sub_peaks = part[box], values[box], peaks[box]
    filled = _with_marrow(sub, spacing)
    features = piece_features(
        sub, sub_values, spacing, cfg.bone_grow_hu, surface[box] & sub, sub_peaks, near_skin, filled
    )
    if not is_bone(features, cfg):
        return [(_embed(sub, box, part.shape), False)]
    judged = []
    for clump in _outside_cortex(sub, sub_values, spacing, cfg, sub_peaks):
        filled &= ~clump
        judged.append((_embed(clump, box, part.shape), False))
    judged.append((_embed(filled, box, part.shape), True))
    return judged


def _padded_box(mask: np.ndarray, pad: int) -> tuple[slice, ...]:
    box = ndimage.find_objects(mask.astype(np.int8))[0]
    return tuple(
        slice(max(0, s.start - pad), min(n, s.stop + pad)) for s, n in zip(box, mask.shape, strict=True)
    )


def _embed(sub: np.ndarray, box: tuple[slice, ...], shape: tuple[int, ...]) -> np.ndarray:
    out = np.zeros(shape, bool)
    out[box] = sub
    return out


def _outside_cortex(
    part: np.ndarray, values: np.ndarray, spacing: Spacing, cfg, peaks: np.ndarray
) -> list[np.ndarray]:
    """Clumps lying on a bone, outside its cortex.

    The cortex is the bone's densest layer (here: at least 60% of the piece's 95th centile);
    what it encloses, once gaps of a couple of voxels in a thin cortex are closed, is bone.
    Dense tissue beyond it is either the partial-volume rim, which hugs the cortex within a
    voxel and a half, or a blob that reaches further out. A blob is a clump when most of it is
    dense (`bone_clump_hu` at its 90th centile: cancellous bone past a thin cortex and
    cartilage are fainter) but none of it reaches `bone_cortex_hu` (a cortex edge the block
    mean diluted on a coarse grid), when it is big enough to tell from a spur, touches
    the rest of the bone over only a small part of its boundary (cancellous bone leaking
    past a gap in the cortex is surrounded by bone and stays) and does not look like bone.
    """
    if part.sum() < _MIN_SPLIT_VOXELS or peaks[part].max() < cfg.bone_cortex_hu:
        return []  # no cortex, nothing to lie outside of (an opacified vessel, a clump)
    level = max(cfg.bone_split_hu, 0.6 * float(np.percentile(values[part], 95)))
    cortex = part & (values >= level)
    if cortex.sum() < _MIN_INTERIOR_VOXELS:
        return []
    inside = _with_marrow(cortex, spacing, close_voxels=2.5)
    envelope = ndimage.binary_dilation(inside, structure=ball(1.01 * max(spacing[1:]), spacing))
    outside = part & ~envelope
    if not outside.any():
        return []
    rim_zone = ndimage.binary_dilation(envelope, structure=ball(_CLUMP_REACH_VOXELS * min(spacing), spacing))
    # each blob is the part beyond the rim, with one voxel of its own edge
    labels, n = ndimage.label(outside & ~rim_zone, structure=_CLUMP)
    clumps = []
    for i in range(1, n + 1):
        far = labels == i
        blob = ndimage.binary_dilation(far, structure=_CLUMP) & outside
        if blob.sum() < _MIN_INTERIOR_VOXELS or peaks[far].max() >= cfg.bone_cortex_hu:
            continue  # too small to tell from a spur of the bone, or a bit of cortex itself
        if np.percentile(values[blob], 90) < cfg.bone_clump_hu:
            continue  # too faint to tell from cancellous bone past a thin cortex, or cartilage
        if _contact(blob, part) > cfg.bone_clump_contact:
            continue
        surface = blob & ~ndimage.binary_erosion(part)
        if not is_bone(piece_features(blob, values, spacing, cfg.bone_grow_hu, surface, peaks), cfg):
            clumps.append(blob)  # a process of the bone itself (spinous, transverse) stays
    return clumps


def _split_at_necks(piece: np.ndarray, spacing: Spacing) -> list[np.ndarray]:
    """Parts of `piece` joined by necks one or two voxels wide (or just [piece])."""
    eroded = ndimage.binary_erosion(piece, structure=ball(1.01 * max(spacing[1:]), spacing))
    return _assign_to_seeds(piece, eroded, spacing)


def _split_at_valleys(part: np.ndarray, values: np.ndarray, spacing: Spacing, cfg) -> list[np.ndarray]:
    """Parts of `part` that separate at a higher density: scanner blur joins a clump and a
    bone by voxels denser than the threshold but less dense than either of them."""
    if part.sum() < _MIN_SPLIT_VOXELS:
        return [part]
    return _assign_to_seeds(part, part & (values >= cfg.bone_split_hu), spacing)


def _assign_to_seeds(region: np.ndarray, seed_mask: np.ndarray, spacing: Spacing) -> list[np.ndarray]:
    """`region` divided among the connected seeds (of a useful size) by nearest seed."""
    seeds, n = ndimage.label(seed_mask, structure=_CLUMP)
    if n <= 1:
        return [region]
    sizes = np.bincount(seeds.ravel(), minlength=n + 1)
    big = np.flatnonzero(sizes >= _MIN_INTERIOR_VOXELS)
    big = big[big > 0]
    if len(big) <= 1:
        return [region]
    seeds = np.where(np.isin(seeds, big), seeds, 0)
    _, nearest = ndimage.distance_transform_edt(seeds == 0, sampling=spacing, return_indices=True)
    owner = np.where(region, seeds[tuple(nearest)], 0)
    return [owner == j for j in big if (owner == j).any()]


def skeleton_mask(
    pieces: BonePieces,
    hu: np.ndarray,
    peaks: np.ndarray,
    allowed: np.ndarray,
    spacing: Spacing,
    cfg,
    sigma: float,
) -> np.ndarray:
    """The bone parts, grown through bone-density tissue and on into cartilage inside
    `allowed`, never into the parts judged not bone. On a working grid coarser than the
    scan, cells next to bone that hold bone-dense voxels (a thin process, a cortex edge that
    the block mean diluted) are bone too."""
    # keep clear of clumps and of their blurred halo; tiny specks (calcified cartilage) do
    # not block, they are judged by what surrounds them
    clumps = _larger_than(pieces.others, _MIN_INTERIOR_VOXELS)
    clear = allowed & ~pieces.others & ~ndimage.binary_dilation(clumps, structure=_CLUMP, iterations=2)
    bone = _grow(pieces.core, hu, clear, sigma, cfg)
    cartilage = _cartilage(bone, hu, clear, sigma, cfg)
    # faint pieces (calcified cartilage, not calcinosis) lying in cartilage, judged against
    # cartilage found without keeping clear of them
    strong = _reaching(pieces.others, peaks, cfg.bone_split_hu)
    around = _cartilage(bone, hu, allowed & ~strong, sigma, cfg)
    skeleton = (
        bone | cartilage | (around & ~pieces.others) | _embedded_specks(pieces.others & ~strong, around)
    )
    thin = clear & (peaks >= cfg.bone_threshold_hu) & ~skeleton
    if thin.any():
        skeleton |= thin & ndimage.binary_dilation(skeleton, structure=_CLUMP)
    return skeleton


def _larger_than(mask: np.ndarray, n_voxels: int) -> np.ndarray:
    labels, n = ndimage.label(mask, structure=_CLUMP)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    big = np.flatnonzero(sizes > n_voxels)
    return np.isin(labels, big[big > 0])


def _reaching(mask: np.ndarray, peaks: np.ndarray, level: float) -> np.ndarray:
    """The connected pieces of `mask` whose densest voxel reaches `level`."""
    labels, n = ndimage.label(mask, structure=_CLUMP)
    if n == 0:
        return mask
    top = ndimage.maximum(peaks, labels, np.arange(1, n + 1))
    return np.isin(labels, np.flatnonzero(np.asarray(top) >= level) + 1)


def _embedded_specks(pieces: np.ndarray, cartilage: np.ndarray) -> np.ndarray:
    """Dense specks lying inside cartilage (calcified cartilage, not calcinosis): most of
    the voxels around them are cartilage. A clump in soft tissue beside a bone is not."""
    labels, _ = ndimage.label(pieces, structure=_CLUMP)
    out = np.zeros_like(pieces)
    for i, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        grown = tuple(slice(max(0, s.start - 1), s.stop + 1) for s in box)
        speck = labels[grown] == i
        rim = ndimage.binary_dilation(speck, structure=_CLUMP) & ~speck
        if rim.any() and cartilage[grown][rim].mean() >= 0.5:
            out[grown] |= speck
    return out


def _cartilage(bone: np.ndarray, hu: np.ndarray, allowed: np.ndarray, sigma: float, cfg) -> np.ndarray:
    """Costal cartilage and discs: tissue a little denser than muscle, attached to bone.

    Everything connected to bone through voxels above `cartilage_hu` and at least 2.5 noise
    sigma above muscle: under 1% of muscle voxels pass, far too few to form paths, while a
    thin band of cartilage blurred against the lung stays connected. Cartilage speckled with
    calcium is part of the skeleton, as are intervertebral discs; a calcific clump is a dense
    piece and is kept out.
    """
    level = max(cfg.cartilage_hu, _MUSCLE_HU + 2.5 * sigma)
    tissue = (allowed & (hu >= level)) | bone
    labels, _ = ndimage.label(tissue, structure=_CLUMP)
    touching = np.unique(labels[bone])
    return np.isin(labels, touching[touching > 0]) & ~bone


def is_bone(f: PieceFeatures, cfg: SegmentationConfig) -> bool:
    contrast = f.shell_minus_core_hu
    if contrast is not None and contrast >= cfg.bone_shell_contrast_hu:
        return True  # cortex around a less dense interior
    if f.rod_like and f.near_skin and _phalanx_like(f, cfg):
        return True  # a phalanx: too slim for a marrow cavity, blur lowers its cortex
    if contrast is not None and contrast <= -cfg.bone_shell_contrast_hu:
        return False  # solid and densest at its core: a clump
    if f.embedded >= cfg.bone_embedded_fraction:
        return True
    if contrast is None:
        return f.length_mm >= cfg.bone_min_length_mm and f.elongation >= cfg.bone_min_elongation
    return False


def _phalanx_like(f: PieceFeatures, cfg: SegmentationConfig) -> bool:
    """Long enough for a phalanx at a phalanx's density; on thick slices the tip of a
    phalanx is cut to two slices, and only cortex density tells it from a small clump."""
    if f.length_mm >= _PHALANX_MIN_MM:
        return f.peak_hu >= _PHALANX_PEAK * cfg.bone_cortex_hu
    return f.length_mm >= _PHALANX_TIP_MM and f.peak_hu >= _PHALANX_TIP_PEAK * cfg.bone_cortex_hu


def piece_features(
    piece: np.ndarray,
    values: np.ndarray,
    spacing: Spacing,
    bone_hu: float,
    surface: np.ndarray,
    peaks: np.ndarray | None = None,
    near_skin: bool = False,
    filled: np.ndarray | None = None,
) -> PieceFeatures:
    """Features of one part (a crop); `surface` is the part's real outer surface, `filled`
    the part with its marrow (computed when not given)."""
    n = int(piece.sum())
    volume = float(n * np.prod(spacing))
    peak = float((values if peaks is None else peaks)[piece].max()) if n else 0.0
    if n < _MIN_JUDGED_VOXELS:
        return PieceFeatures(volume, 0.0, 1.0, 1.0, peak, 0.0, None)
    coords = np.argwhere(piece) * np.asarray(spacing)
    eigen = np.maximum(np.sort(np.linalg.eigvalsh(np.cov(coords.T))), 1e-6)
    return PieceFeatures(
        volume_mm3=volume,
        length_mm=float(4.0 * np.sqrt(eigen[2])),  # ~ full extent of a uniform rod along its axis
        elongation=float(np.sqrt(eigen[2] / eigen[0])),
        flatness=float(np.sqrt(eigen[1] / eigen[0])),
        peak_hu=peak,
        embedded=_embedded(piece, values, bone_hu),
        shell_minus_core_hu=_shell_minus_core(piece, values, spacing, surface, filled),
        near_skin=near_skin,
    )


def _near_skin(body: np.ndarray, box: tuple[slice, ...], spacing: Spacing) -> bool:
    """Whether the outside of the body is within `_SKIN_MM` of the piece's bounding box."""
    reach = [int(np.ceil(_SKIN_MM / s)) for s in spacing]
    grown = tuple(slice(max(0, b.start - r), b.stop + r) for b, r in zip(box, reach, strict=True))
    inside = body[grown]
    at_edge = any(g.start == 0 or g.stop >= n for g, n in zip(grown, body.shape, strict=True))
    return bool((~inside).any()) and not (at_edge and inside.all())


def _embedded(piece: np.ndarray, values: np.ndarray, bone_hu: float) -> float:
    """Fraction of the ring two voxels out from the piece that is of bone density.

    The first voxel layer is the piece's own blurred edge, so it is skipped; the raw HU of
    the next layer tell whether the piece sits in bone (a fragment of cancellous bone) or in
    soft tissue (a clump, a stone), without any smoothing that the piece itself would brighten.
    """
    near = ndimage.binary_dilation(piece, structure=_CLUMP)
    ring = ndimage.binary_dilation(near, structure=_CLUMP) & ~near
    if not ring.any():
        return 0.0
    return float((values[ring] >= bone_hu).mean())


def _shell_minus_core(
    piece: np.ndarray,
    values: np.ndarray,
    spacing: Spacing,
    surface: np.ndarray,
    filled: np.ndarray | None = None,
) -> float | None:
    """Density of the outer layer (its cortex) minus that of the interior; None: no interior.

    The outer layer is the two voxels under the real surface (not faces where the piece was
    cut from a neighbour); its 90th centile is the cortex, which lies a voxel or two inside
    the blurred edge. The interior is the median of voxels 2.5 voxels deep (the central part
    of a slim piece) plus the marrow the piece encloses. Counted in voxels, not mm, so a
    phalanx has an interior too. For a blurred solid clump the outer layer is below its core.
    """
    if piece.sum() < _MIN_INTERIOR_VOXELS or not surface.any():
        return None
    depth = ndimage.distance_transform_edt(piece, sampling=spacing) / min(spacing)
    core = piece & (depth >= min(2.5, max(1.5, 0.6 * float(depth.max()))))
    marrow = (_with_marrow(piece, spacing) if filled is None else filled) & ~piece
    interior = np.concatenate([values[core], values[marrow]]).astype(np.float64)
    if len(interior) < _MIN_CORE_VOXELS:
        return None
    layer = ndimage.binary_dilation(surface, iterations=2) & piece
    return float(np.percentile(values[layer], 90) - np.median(interior))


def _grow(seed: np.ndarray, hu: np.ndarray, allowed_region: np.ndarray, sigma: float, cfg) -> np.ndarray:
    """Bone plus the tissue of bone density connected to it: cancellous bone that the
    threshold cut into fragments, the edges of marrow.

    The level is `bone_grow_hu` and at least 3 noise sigma above muscle, so that noise does
    not open paths through muscle, tendon or fat. The parts judged not bone, and a cell
    around them, are outside `allowed_region`, so a clump against a bone is never taken in.
    """
    if not cfg.bone_grow or not seed.any():
        return seed
    level = max(cfg.bone_grow_hu, _MUSCLE_HU + 3.0 * sigma)
    tissue = (allowed_region & (hu >= level)) | seed
    labels, _ = ndimage.label(tissue, structure=_CLUMP)
    touching = np.unique(labels[seed])
    return np.isin(labels, touching[touching > 0])


def _with_marrow(mask: np.ndarray, spacing: Spacing, close_voxels: float = 1.5) -> np.ndarray:
    """Close small cortical gaps and fill the marrow the cortex encloses in 3D.

    Only cavities closed in 3D and of marrow size are filled: slice by slice, the rib cage,
    the pelvic ring and the ribs around the back muscles are closed rings too, and what they
    enclose is chest, pelvis and muscle, not bone; the skull's cavity is too big to be marrow.
    (SimpleITK's multi-threaded filters: this runs on every bone.)
    """
    if not mask.any():
        return mask
    pad = int(np.ceil(close_voxels)) + 1
    image = sitk.GetImageFromArray(np.pad(mask, pad).astype(np.uint8))
    image.SetSpacing(tuple(float(v) for v in spacing[::-1]))
    radius = [max(0, int(close_voxels * max(spacing[1:]) // s)) for s in spacing[::-1]]
    closed = sitk.BinaryMorphologicalClosing(image, radius, sitk.sitkBall) | image
    filled = sitk.GetArrayFromImage(sitk.BinaryFillhole(closed)).astype(bool)
    closed_a = sitk.GetArrayFromImage(closed).astype(bool)
    holes = filled & ~closed_a
    if holes.any():
        labels, n = ndimage.label(holes)
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        big = np.flatnonzero(sizes > _MAX_MARROW_VOLUME_MM3 / float(np.prod(spacing)))
        filled &= ~np.isin(labels, big[big > 0])
    return filled[pad:-pad, pad:-pad, pad:-pad]
