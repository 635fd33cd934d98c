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

The connected skeleton is one piece spanning most of the scan, beside hundreds of small
ones, so every step looks only at the bounding box of what it works on (a part is held as
its box and its mask on that box), binary morphology is done with array shifts, and each
mask is labelled into connected pieces once. Every such shortcut gives the same voxels as
the whole-array operation it stands for.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import NamedTuple

import cc3d
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
_CROSS = ndimage.generate_binary_structure(3, 1)
_MUSCLE_HU = 50.0
_CLUMP_REACH_VOXELS = 1.7  # the partial-volume rim hugs the cortex within a diagonal step
_SKIN_MM = 12.0  # a phalanx lies within a finger's width of the skin
_PHALANX_MIN_MM = 12.0  # the shortest phalanx (distal) is longer than this
_PHALANX_PEAK = 0.85  # of bone_cortex_hu: blur lowers a slim phalanx's cortex a little
_PHALANX_TIP_MM = 8.0  # a distal phalanx on two 5 mm slices measures about 10 mm
_PHALANX_TIP_PEAK = 0.9  # ... and is told from a clump by its cortex density alone
_ENHANCED_CARTILAGE_HU = 110.0  # above enhanced liver and spleen (80-100), below cartilage
_BULK_RADIUS_MM = 7.0  # cartilage and cancellous fragments are thinner than 14 mm

Box = tuple[slice, ...]


class Part(NamedTuple):
    """A mask on its own box (`box` indexes the array it belongs to): a small part of a
    large piece then costs what its box costs, not what the piece's crop costs."""

    box: Box
    mask: np.ndarray


class Judged(NamedTuple):
    box: Box
    mask: np.ndarray
    is_bone: bool


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
    if not dense.any():
        return BonePieces(core, others)
    # labelled on the box of the dense voxels, which reaches every piece's crop
    area = _grown(_bbox(dense), _PAD, dense.shape)
    labels = _label26(dense[area])[0]  # any numbering: the pieces' verdicts are merged by union
    for i, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        local = _grown(box, _PAD, labels.shape)
        piece = labels[local] == i
        crop = _shifted(local, area)
        skin = _near_skin(body, _shifted(box, area), spacing)
        for judged in judge_piece(piece, hu[crop], spacing, cfg, peaks[crop], skin):
            # bone parts come with their own marrow: nothing between bones is filled
            target = core if judged.is_bone else others
            target[crop][judged.box] |= judged.mask
    return BonePieces(core & ~others, others)


def judge_piece(
    piece: np.ndarray,
    values: np.ndarray,
    spacing: Spacing,
    cfg: SegmentationConfig,
    peaks: np.ndarray | None = None,
    near_skin: bool = False,
) -> list[Judged]:
    """[(box, part, is bone)] for one connected dense piece (a crop with some margin), each
    part given on its box of the crop; bone parts come back with the marrow they enclose."""
    peaks = values if peaks is None else peaks
    surface = piece & ~_erode(piece, _CROSS)
    whole = _bbox(piece)
    parts = [Part(whole, piece[whole])]
    if piece.sum() >= _MIN_SPLIT_VOXELS:
        parts = [
            q for p in _split_at_necks(parts[0], spacing) for q in _split_at_valleys(p, values, spacing, cfg)
        ]
    is_sliver = [len(parts) > 1 and p.mask.sum() < _MIN_INTERIOR_VOXELS for p in parts]
    judged: list[Judged] = []
    for part, sliver in zip(parts, is_sliver, strict=True):
        if not sliver:
            judged.extend(_judge_part(part, values, peaks, surface, spacing, cfg, near_skin))
    # a sliver cut off by the splits is too small to judge: it goes with the part it touches
    for part, sliver in zip(parts, is_sliver, strict=True):
        if sliver:
            judged.append(Judged(*part, _neighbour_verdict(part, judged, piece.shape)))
    return judged


def _contact(part: np.ndarray, piece: np.ndarray) -> float:
    """Fraction of the voxels just outside `part` that belong to the rest of `piece`."""
    rim = _dilate_box(part) & ~part
    return float((rim & piece).sum() / max(rim.sum(), 1))


def _neighbour_verdict(sliver: Part, judged: list[Judged], shape: tuple[int, ...]) -> bool:
    box = _grown(sliver.box, 1, shape)
    mask = _placed(sliver, box)
    around = _dilate_box(mask) & ~mask
    contacts = [(_overlap(Part(box, around), Part(j.box, j.mask)), j.is_bone) for j in judged]
    touching = max(contacts, default=(0, True))
    return touching[1] if touching[0] > 0 else True


def _judge_part(
    part: Part,
    values: np.ndarray,
    peaks: np.ndarray,
    surface: np.ndarray,
    spacing: Spacing,
    cfg: SegmentationConfig,
    near_skin: bool,
) -> list[Judged]:
    """Judge one part on its own bounding box (cheap however large the piece it came from)."""
    box = _grown(part.box, _PAD, values.shape)
    sub, sub_values, sub_peaks = _placed(part, box), values[box], peaks[box]
    filled = _with_marrow(sub, spacing)
    features = piece_features(
        sub, sub_values, spacing, cfg.bone_grow_hu, surface[box] & sub, sub_peaks, near_skin, filled
    )
    if not is_bone(features, cfg):
        return [Judged(box, sub, False)]
    judged = []
    for clump in _outside_cortex(sub, sub_values, spacing, cfg, sub_peaks):
        filled &= ~clump
        judged.append(Judged(box, clump, False))
    judged.append(Judged(box, filled, True))
    return judged


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
    envelope = _dilate(inside, ball(1.01 * max(spacing[1:]), spacing))
    outside = part & ~envelope
    if not outside.any():
        return []
    rim_zone = _dilate(envelope, ball(_CLUMP_REACH_VOXELS * min(spacing), spacing))
    # each blob is the part beyond the rim, with one voxel of its own edge
    labels, _ = ndimage.label(outside & ~rim_zone, structure=_CLUMP)
    below_surface = None  # the part eroded, once a blob needs it
    clumps = []
    for i, far_box in enumerate(ndimage.find_objects(labels), start=1):
        near = _grown(far_box, 3, part.shape)  # holds the blob, its rim and the rim's ring
        far = labels[near] == i
        blob = _dilate_box(far) & outside[near]
        if not _may_be_clump(blob, far, part[near], values[near], peaks[near], cfg):
            continue
        below_surface = _erode(part, _CROSS) if below_surface is None else below_surface
        surface = blob & ~below_surface[near]
        origin = tuple(s.start for s in near)
        features = piece_features(
            blob, values[near], spacing, cfg.bone_grow_hu, surface, peaks[near], origin=origin
        )
        if not is_bone(features, cfg):  # a process of the bone itself (spinous, transverse) stays
            clumps.append(_placed(Part(near, blob), tuple(slice(0, n) for n in part.shape)))
    return clumps


def _may_be_clump(
    blob: np.ndarray, far: np.ndarray, part: np.ndarray, values: np.ndarray, peaks: np.ndarray, cfg
) -> bool:
    """The tests of _outside_cortex that come before the blob's shape is looked at."""
    if blob.sum() < _MIN_INTERIOR_VOXELS or peaks[far].max() >= cfg.bone_cortex_hu:
        return False  # too small to tell from a spur of the bone, or a bit of cortex itself
    if np.percentile(values[blob], 90) < cfg.bone_clump_hu:
        return False  # too faint to tell from cancellous bone past a thin cortex, or cartilage
    return _contact(blob, part) <= cfg.bone_clump_contact


def _split_at_necks(piece: Part, spacing: Spacing) -> list[Part]:
    """Parts of `piece` joined by necks one or two voxels wide (or just [piece])."""
    eroded = _erode(piece.mask, ball(1.01 * max(spacing[1:]), spacing))
    return _assign_to_seeds(piece, eroded, spacing)


def _split_at_valleys(part: Part, values: np.ndarray, spacing: Spacing, cfg) -> list[Part]:
    """Parts of `part` that separate at a higher density: scanner blur joins a clump and a
    bone by voxels denser than the threshold but less dense than either of them."""
    if part.mask.sum() < _MIN_SPLIT_VOXELS:
        return [part]
    return _assign_to_seeds(part, part.mask & (values[part.box] >= cfg.bone_split_hu), spacing)


def _assign_to_seeds(region: Part, seed_mask: np.ndarray, spacing: Spacing) -> list[Part]:
    """`region` divided among the connected seeds (of a useful size) by nearest seed.

    `seed_mask` lies on the region's box. All seeds lie in that box, so the nearest seed of
    each voxel (ties included) is the one a search over any larger array would find."""
    seeds, n = ndimage.label(seed_mask, structure=_CLUMP)
    if n <= 1:
        return [region]
    sizes = np.bincount(seeds.ravel(), minlength=n + 1)
    big = np.flatnonzero(sizes >= _MIN_INTERIOR_VOXELS)
    big = big[big > 0]
    if len(big) <= 1:
        return [region]
    useful = np.zeros(n + 1, bool)
    useful[big] = True
    nearest = ndimage.distance_transform_edt(
        ~useful[seeds], sampling=spacing, return_distances=False, return_indices=True
    )
    owner = np.zeros_like(seeds)
    owner[region.mask] = seeds[tuple(axis[region.mask] for axis in nearest)]
    boxes = ndimage.find_objects(owner)
    return [
        Part(_shifted(boxes[j - 1], region.box), owner[boxes[j - 1]] == j)
        for j in big
        if j <= len(boxes) and boxes[j - 1] is not None
    ]


def skeleton_mask(
    pieces: BonePieces,
    hu: np.ndarray,
    peaks: np.ndarray,
    allowed: np.ndarray,
    spacing: Spacing,
    cfg,
    sigma: float,
    enhanced: bool = False,
) -> np.ndarray:
    """The bone parts, grown through bone-density tissue and on into cartilage inside
    `allowed`, never into the parts judged not bone. On an `enhanced` scan the growth into
    cartilage stays out of organs that enhance as much as cartilage.
    On a working grid coarser than the scan, cells next to bone that hold bone-dense voxels
    (a thin process, a cortex edge that the block mean diluted) are bone too."""
    skeleton = np.zeros_like(allowed)
    reach = allowed | pieces.core | pieces.others
    if not reach.any():
        return skeleton
    # the skeleton lies within what it may reach; two voxels more hold the halo kept clear
    # of clumps and the voxels around a speck
    area = _grown(_bbox(reach), 2, reach.shape)
    within = BonePieces(pieces.core[area], pieces.others[area])
    skeleton[area] = _skeleton_within(
        within, hu[area], peaks[area], allowed[area], cfg, sigma, spacing, enhanced
    )
    return skeleton


def _skeleton_within(
    pieces: BonePieces,
    hu: np.ndarray,
    peaks: np.ndarray,
    allowed: np.ndarray,
    cfg,
    sigma: float,
    spacing: Spacing,
    enhanced: bool,
) -> np.ndarray:
    """skeleton_mask on a box that holds everything the skeleton can reach."""
    # keep clear of clumps and of their blurred halo; tiny specks (calcified cartilage) do
    # not block, they are judged by what surrounds them
    labels, n = _label26(pieces.others)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    clumps = _selected(labels, sizes > _MIN_INTERIOR_VOXELS)
    clear = allowed & ~pieces.others & ~_dilate_box(clumps, reach=2)
    bone = _grow(pieces.core, hu, clear, sigma, cfg)
    cartilage = _cartilage(bone, hu, clear, sigma, cfg, spacing, enhanced)
    # faint pieces (calcified cartilage, not calcinosis) lying in cartilage, judged against
    # cartilage found without keeping clear of them
    strong = _reaching(labels, n, pieces.others, peaks, cfg.bone_split_hu)
    around = _cartilage(bone, hu, allowed & ~_selected(labels, strong), sigma, cfg, spacing, enhanced)
    skeleton = bone | cartilage | (around & ~pieces.others) | _embedded_specks(labels, ~strong, around)
    thin = clear & (peaks >= cfg.bone_threshold_hu) & ~skeleton
    if thin.any():
        skeleton |= thin & _dilate_box(skeleton)
    return skeleton


def _selected(labels: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """The voxels of the labelled pieces for which `chosen` (indexed by label) is true; a
    lookup table, much cheaper than np.isin on a whole grid."""
    table = chosen.copy()
    table[0] = False
    return table[labels]


def _reaching(labels: np.ndarray, n: int, mask: np.ndarray, peaks: np.ndarray, level: float) -> np.ndarray:
    """Which labelled pieces of `mask` (by label) have their densest voxel at `level` or above."""
    top = np.full(n + 1, -np.inf)
    np.maximum.at(top, labels[mask], peaks[mask])
    return top >= level


def _embedded_specks(labels: np.ndarray, chosen: np.ndarray, cartilage: np.ndarray) -> np.ndarray:
    """Dense specks lying inside cartilage (calcified cartilage, not calcinosis): most of
    the voxels around them are cartilage. A clump in soft tissue beside a bone is not.
    The specks are the labelled pieces for which `chosen` is true."""
    out = np.zeros(labels.shape, bool)
    for i, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None or not chosen[i]:
            continue
        grown = _grown(box, 1, labels.shape)
        speck = labels[grown] == i
        rim = _dilate_box(speck) & ~speck
        if rim.any() and cartilage[grown][rim].mean() >= 0.5:
            out[grown] |= speck
    return out


def _cartilage(
    bone: np.ndarray,
    hu: np.ndarray,
    allowed: np.ndarray,
    sigma: float,
    cfg,
    spacing: Spacing,
    enhanced: bool,
) -> np.ndarray:
    """Costal cartilage and discs: tissue a little denser than muscle, attached to bone.

    Everything connected to bone through voxels above `cartilage_hu` and at least 2.5 noise
    sigma above muscle: under 1% of muscle voxels pass, far too few to form paths, while a
    thin band of cartilage blurred against the lung stays connected. Cartilage speckled with
    calcium is part of the skeleton, as are intervertebral discs; a calcific clump is a dense
    piece and is kept out. On an `enhanced` scan the liver, spleen, kidneys and heart are as
    dense as cartilage; cartilage is slender (a costal cartilage is about a centimetre
    thick), so tissue thick enough to hold a disc of `_BULK_RADIUS_MM` is an organ there,
    never grown into.
    """
    level = max(cfg.cartilage_hu, _MUSCLE_HU + 2.5 * sigma)
    if enhanced:  # organs nearly as dense as cartilage: a higher level, and never bulk
        tissue = _slender(allowed & (hu >= max(level, _ENHANCED_CARTILAGE_HU)), spacing)
    else:
        tissue = allowed & (hu >= level)
    tissue = (tissue & ~bone) | bone
    return _touching(tissue, bone) & ~bone


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
    origin: tuple[int, ...] = (0, 0, 0),
) -> PieceFeatures:
    """Features of one part (a crop); `surface` is the part's real outer surface, `filled`
    the part with its marrow (computed when not given). `origin` is where the crop starts
    in the box the part was first judged on: its voxel coordinates are counted from there,
    so that the principal axes come out the same to the last bit on any crop."""
    n = int(piece.sum())
    volume = float(n * np.prod(spacing))
    peak = float((values if peaks is None else peaks)[piece].max()) if n else 0.0
    if n < _MIN_JUDGED_VOXELS:
        return PieceFeatures(volume, 0.0, 1.0, 1.0, peak, 0.0, None)
    coords = (np.argwhere(piece) + np.asarray(origin)) * np.asarray(spacing)
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
    near = _dilate_box(piece)
    ring = _dilate_box(near) & ~near
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
    # on the piece's box and one voxel around it, scipy's distance transform is the one it
    # gives on any larger crop, to the last bit (ties too): beyond lie only empty planes
    box = _grown(_bbox(piece), 1, piece.shape)
    piece, values, surface = piece[box], values[box], surface[box]
    filled = None if filled is None else filled[box]
    depth = ndimage.distance_transform_edt(piece, sampling=spacing) / min(spacing)
    core = piece & (depth >= min(2.5, max(1.5, 0.6 * float(depth.max()))))
    marrow = (_with_marrow(piece, spacing) if filled is None else filled) & ~piece
    interior = np.concatenate([values[core], values[marrow]]).astype(np.float64)
    if len(interior) < _MIN_CORE_VOXELS:
        return None
    layer = _dilate(_dilate(surface, _CROSS), _CROSS) & piece
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
    return _touching(tissue, seed)


def _slender(tissue: np.ndarray, spacing: Spacing) -> np.ndarray:
    """`tissue` without its bulk: the parts that hold a disc of `_BULK_RADIUS_MM` (an
    enhanced organ) and a margin around them, so that growth into cartilage stops at an
    organ's edge rather than flooding it."""
    if not tissue.any():
        return tissue
    box = _grown(_bbox(tissue), 2, tissue.shape)
    sub = tissue[box]
    disc = ball(_BULK_RADIUS_MM, spacing, flat=True)  # in-plane: a slab's end slices count too
    bulk = _dilate(_dilate(_erode(sub, disc), disc), ball(2.0 * max(spacing[1:]), spacing, flat=True))
    out = tissue.copy()
    out[box] &= ~bulk
    return out


def _touching(tissue: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """The connected pieces of `tissue` that hold a voxel of `seed`."""
    labels, n = _label26(tissue)
    chosen = np.zeros(n + 1, bool)
    chosen[labels[seed]] = True
    return _selected(labels, chosen)


def _with_marrow(mask: np.ndarray, spacing: Spacing, close_voxels: float = 1.5) -> np.ndarray:
    """Close small cortical gaps and fill the marrow the cortex encloses in 3D.

    Only cavities closed in 3D and of marrow size are filled: slice by slice, the rib cage,
    the pelvic ring and the ribs around the back muscles are closed rings too, and what they
    enclose is chest, pelvis and muscle, not bone; the skull's cavity is too big to be marrow.

    The closing uses SimpleITK's ball (the filters this was first written with) and treats
    everything beyond the array as empty. Both the closing and the cavities lie within the
    mask's bounding box, so they are found there, with a margin of empty voxels.
    """
    if not mask.any():
        return mask
    radius = tuple(max(0, int(close_voxels * max(spacing[1:]) // s)) for s in spacing)
    kernel = _itk_ball(radius)
    box = _bbox(mask)
    margin = tuple((r + 1, r + 1) for r in radius)
    sub = np.pad(mask[box], margin)
    closed = _erode(_dilate(sub, kernel), kernel) | sub
    filled = closed | _cavities(closed, spacing)
    out = mask.copy()
    out[box] = filled[tuple(slice(a, n - b) for (a, b), n in zip(margin, filled.shape, strict=True))]
    return out


def _cavities(closed: np.ndarray, spacing: Spacing) -> np.ndarray:
    """The holes of `closed` (background not joined to the array's border by faces) of
    marrow size; `closed` has an empty margin, so its border is one background piece."""
    labels, n = cc3d.connected_components(~closed, connectivity=6, return_N=True)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    marrow = sizes <= _MAX_MARROW_VOLUME_MM3 / float(np.prod(spacing))
    marrow[labels[(0,) * closed.ndim]] = False
    return _selected(labels, marrow)


@cache
def _itk_ball(radius: tuple[int, ...]) -> np.ndarray:
    """SimpleITK's sitkBall structuring element of `radius` voxels (z, y, x), taken from the
    filter itself so that the closing is the one the bone tests were tuned with."""
    point = np.zeros([2 * r + 1 for r in radius], np.uint8)
    point[radius] = 1
    image = sitk.BinaryDilate(sitk.GetImageFromArray(point), list(radius[::-1]), sitk.sitkBall)
    return sitk.GetArrayFromImage(image).astype(bool)


def _label26(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """26-connected pieces of `mask` (cc3d: several times faster than scipy; its numbering
    differs, so it is used only where the numbering does not matter)."""
    labels, n = cc3d.connected_components(mask, connectivity=26, return_N=True)
    return labels, int(n)


def _dilate(mask: np.ndarray, structure: np.ndarray) -> np.ndarray:
    """ndimage.binary_dilation(mask, structure) for a symmetric structure of odd size whose
    rows along the last axis are centred runs (balls, crosses, cubes): the mask dilated
    along that axis by each run, shifted into place along the others."""
    rows = _rows(structure)
    runs = _runs(mask, max(width for _, width in rows), erode=False)
    out = np.zeros_like(mask)
    for offset, width in rows:
        dst, src = _shift(offset, mask.shape)
        out[dst] |= runs[width][src]
    return out


def _erode(mask: np.ndarray, structure: np.ndarray) -> np.ndarray:
    """ndimage.binary_erosion(mask, structure), beyond the array being empty, for the same
    structures as _dilate."""
    rows = _rows(structure)
    runs = _runs(mask, max(width for _, width in rows), erode=True)
    out = np.ones_like(mask)
    for offset, width in rows:
        dst, src = _shift(offset, mask.shape)
        out[dst] &= runs[width][src]
        for axis, kept in enumerate(dst):
            lead = (slice(None),) * axis
            out[(*lead, slice(0, kept.start))] = False
            out[(*lead, slice(kept.stop, None))] = False
    return out


def _runs(mask: np.ndarray, reach: int, erode: bool) -> list[np.ndarray]:
    """[mask dilated (or eroded) along the last axis by a run of 2 w + 1 voxels, for w in
    0..reach]."""
    runs = [mask]
    for w in range(1, reach + 1):
        run = runs[-1].copy()
        if erode:
            run[..., w:] &= mask[..., :-w]
            run[..., :-w] &= mask[..., w:]
            run[..., :w] = False
            run[..., max(0, mask.shape[-1] - w) :] = False
        else:
            run[..., w:] |= mask[..., :-w]
            run[..., :-w] |= mask[..., w:]
        runs.append(run)
    return runs


def _dilate_box(mask: np.ndarray, reach: int = 1) -> np.ndarray:
    """Dilation by a cube of side 2 * reach + 1 (`_CLUMP` applied `reach` times), one axis
    at a time."""
    out = mask
    for axis in range(mask.ndim):
        src, out = out, out.copy()
        lead = (slice(None),) * axis
        for step in range(1, reach + 1):
            out[(*lead, slice(step, None))] |= src[(*lead, slice(None, -step))]
            out[(*lead, slice(None, -step))] |= src[(*lead, slice(step, None))]
    return out


def _rows(structure: np.ndarray) -> tuple[tuple[tuple[int, ...], int], ...]:
    return _rows_of(structure.shape, structure.tobytes())


@cache
def _rows_of(shape: tuple[int, ...], cells: bytes) -> tuple[tuple[tuple[int, ...], int], ...]:
    """((offset of the row from the centre, half its length), ...) of a structuring element
    made of centred runs along its last axis."""
    structure = np.frombuffer(cells, bool).reshape(shape)
    centre = np.array(shape) // 2
    rows = []
    for index in np.argwhere(structure.any(axis=-1)):
        row = np.flatnonzero(structure[tuple(index)]) - centre[-1]
        width = int(row[-1])
        if not np.array_equal(row, np.arange(-width, width + 1)):
            raise ValueError("structuring element rows must be centred runs")
        rows.append(((*(int(v) for v in index - centre[:-1]), 0), width))
    return tuple(rows)


def _shift(offset: tuple[int, ...], shape: tuple[int, ...]) -> tuple[Box, Box]:
    """(dst, src) slices with dst[p] = src[p - offset] wherever both lie in the array."""
    dst = tuple(slice(min(n, max(0, o)), max(0, n + min(0, o))) for o, n in zip(offset, shape, strict=True))
    src = tuple(slice(d.start - o, d.stop - o) for d, o in zip(dst, offset, strict=True))
    return dst, src


def _bbox(mask: np.ndarray) -> Box:
    """Bounding box of a mask with at least one voxel."""
    return ndimage.find_objects(mask.view(np.uint8), max_label=1)[0]


def _grown(box: Box, by: int, shape: tuple[int, ...]) -> Box:
    return tuple(slice(max(0, s.start - by), min(n, s.stop + by)) for s, n in zip(box, shape, strict=True))


def _shifted(box: Box, within: Box) -> Box:
    """`box`, given inside `within`, in the coordinates `within` is given in."""
    return tuple(slice(s.start + w.start, s.stop + w.start) for s, w in zip(box, within, strict=True))


def _placed(part: Part, box: Box) -> np.ndarray:
    """`part` on `box`, which contains the part's box."""
    out = np.zeros(tuple(s.stop - s.start for s in box), bool)
    where = tuple(slice(p.start - b.start, p.stop - b.start) for p, b in zip(part.box, box, strict=True))
    out[where] = part.mask
    return out


def _overlap(a: Part, b: Part) -> int:
    """Number of voxels in both masks."""
    common = tuple(
        slice(max(s.start, t.start), min(s.stop, t.stop)) for s, t in zip(a.box, b.box, strict=True)
    )
    if any(c.start >= c.stop for c in common):
        return 0
    in_a = tuple(slice(c.start - s.start, c.stop - s.start) for c, s in zip(common, a.box, strict=True))
    in_b = tuple(slice(c.start - t.start, c.stop - t.start) for c, t in zip(common, b.box, strict=True))
    return int((a.mask[in_a] & b.mask[in_b]).sum())
