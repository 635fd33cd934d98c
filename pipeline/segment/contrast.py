"""Intravenous contrast from the image: find the blood pool, measure it, keep its lumen out.

On a scan after iodinated contrast the aorta and heart hold blood of 150-500 HU, above
Agatston's 130 HU: thresholded naively, every vessel would be reported as calcification.
The header's ContrastBolusAgent is often missing (or says APPLIED on a scan whose vessels are
barely opacified), so the decision is made on the image, the tag only a hint:

- the blood pool is sought slice by slice as a round, even disc 6-40 mm in radius
  (the aorta, a heart chamber) near the trunk's midline, outside bone, after the disc is
  cut free of what touches it (the crus, the IVC, the liver) by an in-plane erosion; a disc
  found on a few neighbouring slices at about the same place is the pool. Slab scans of a
  few centimetres are measured as well as whole trunks, and a lumen that is not tubular over
  6 cm (a short slab) is still found;
- its median HU decides contrast (unenhanced blood is 30-60 HU) and the phase (arterial,
  portal venous, delayed);
- contrast-filled lumen, and every enhancing organ joined to it at lumen density, is
  never searched at the plain threshold: there calcium must exceed a lumen-adaptive level,
  the lumen's median plus `contrast_lumen_sd` robust SDs of its voxels (as Comp2Comp does
  for the aorta), so a wall calcification beside the lumen is still found while the lumen
  is not. Elsewhere the plain threshold holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from pipeline.config import SegmentationConfig
from pipeline.models import ContrastStatus

_MAX_POOL_SD_HU = 60.0  # blood is homogeneous: noise plus a little mixing
_MIN_RADIUS_MM = 7.0  # the abdominal aorta is 8-12 mm in radius, a heart chamber far more
_MIN_CORE_CELLS = 6
_MAX_LUMEN_SD_HU = 25.0  # one disc of blood is as even as the noise (10-20 HU on ~2 mm cells)
_MAX_RADIUS_MM = 40.0
_ROUNDNESS = 0.45  # area / (pi r^2) of the inscribed radius; a disc is 1, a band is small
_MIDLINE_SHARE = 0.3  # of the trunk's width either side of its centre
_CUT_MM = 3.0  # in-plane erosion that cuts the lumen free of what touches it
_MIN_SLICES = 2
_VESSEL_MIN_LENGTH_MM = 40.0
_VESSEL_MAX_AREA_MM2 = 450.0  # an artery of up to 24 mm across, in section
_VESSEL_SLENDER = 5.0  # length / width: an iliac artery is 15, a lobulated calcific mass 2-3
_MIN_LUMEN_MM3 = 8000.0  # 4 cm of aorta; a lumen and what enhances with it is more
_SPINE_DX_MM = 60.0
_MIN_POOL_HU = 110.0  # sought above this; decided against blood_pool_hu
_RING_DROP_HU = 40.0  # a lumen's surroundings are at least this much less dense
_TRACK_MM = 15.0  # the pool's centre moves less than this between neighbouring slices
_ARTERIAL_HU = 250.0  # the aorta in the arterial phase
_PORTAL_HU = 145.0  # ... in the portal venous phase (delayed: below)


@dataclass
class ContrastFinding:
    """What the blood pool showed; `zone` (working grid) is where the lumen-adaptive
    threshold applies (`zone_levels`, per cell), `pool` the lumen itself (for site mapping:
    a deposit against it lies in an arterial wall)."""

    status: ContrastStatus
    pool: np.ndarray
    zone: np.ndarray
    zone_levels: np.ndarray | None  # per working cell: the calcium threshold in the zone
    threshold_hu: float  # the plain calcium threshold, outside the zone
    notes: list[str] = field(default_factory=list)
    central: np.ndarray | None = None  # the lumen grown from the aorta and heart (not the limbs' vessels)

    @property
    def enhanced(self) -> bool:
        return self.status.present


def find_contrast(
    hu: np.ndarray,
    body: np.ndarray,
    exclude: np.ndarray,
    spacing: tuple[float, float, float],
    cfg: SegmentationConfig,
    base_threshold: float,
    header_agent: str | None,
    voxel_noise_gain: float = 1.0,
    bone: np.ndarray | None = None,
    noise_sd: float = 0.0,
) -> ContrastFinding:
    """`hu` and masks on the working grid; `exclude` is bone and metal streaks, `bone` the
    bone (default: `exclude`); `noise_sd` the image noise on the working grid;
    `voxel_noise_gain` turns a spread of working cells into one of single voxels (the square
    root of the voxels a cell averages)."""
    smooth = ndimage.uniform_filter(hu.astype(np.float32), size=(1, 3, 3))
    bone = exclude if bone is None else bone
    even = max(_MAX_LUMEN_SD_HU, 1.5 * noise_sd)
    discs = _pool_discs(hu, smooth, body, exclude, bone, spacing, even)
    empty = np.zeros_like(body)
    if not discs.any():
        return _no_pool(empty, base_threshold, header_agent)
    values = hu[discs]
    median = float(np.median(values))
    if median < cfg.blood_pool_hu:
        status = ContrastStatus(
            False, "none", median, "both" if not header_agent else "image",
            f"blood pool (aorta or heart) measured at {median:.0f} HU: not opacified",
        )  # fmt: skip
        notes = []
        if header_agent:
            notes.append(
                f"header names a contrast agent ({header_agent}) but the blood pool measures {median:.0f} HU "
                "(unenhanced): analysed as a plain scan"
            )
        return ContrastFinding(status, empty, empty, None, base_threshold, notes)
    sd = max(_disc_sd(hu, discs), 15.0)  # blood's own spread, within one vessel or chamber
    levels_of = _disc_medians(hu, discs)
    lo = max(cfg.blood_pool_hu * 0.8, min(levels_of) - 3.0 * sd)
    hi = max(levels_of) + 4.0 * sd
    # grown away from bone by a cell: cancellous bone behind a gap in a thin cortex is as
    # dense as an enhanced lumen
    lumen = _grown_lumen(smooth, discs, body & ~ndimage.binary_dilation(exclude) | discs, lo, hi)
    if lumen.sum() * float(np.prod(spacing)) < _MIN_LUMEN_MM3:
        return _no_pool(empty, base_threshold, header_agent)  # a few round blobs: no vessel
    central = lumen.copy()
    lumen |= _vessels(hu, body & ~exclude & ~lumen, base_threshold, hi, spacing)
    zone = ndimage.binary_dilation(lumen, iterations=1) & body
    margin = cfg.contrast_lumen_sd * max(sd, noise_sd) * voxel_noise_gain
    levels = _local_levels(hu, lumen, zone, base_threshold, margin)
    zone_threshold = float(np.median(levels[zone]))
    phase = _phase(median)
    source = "both" if header_agent else "image"
    status = ContrastStatus(
        True, phase, median, source,
        f"blood pool (aorta or heart) measured at {median:.0f} HU (robust SD {sd:.0f} HU)",
    )  # fmt: skip
    volume_ml = lumen.sum() * float(np.prod(spacing)) / 1000.0
    notes = [
        f"contrast-enhanced series ({phase.replace('_', ' ')} phase; blood pool {median:.0f} HU, "
        f"{volume_ml:.0f} mL of lumen and enhancing tissue joined to it): calcium there must exceed "
        f"the local lumen density + {margin:.0f} HU ({cfg.contrast_lumen_sd:g} SD of its voxels; median "
        f"{zone_threshold:.0f} HU), "
        f"elsewhere {base_threshold:.0f} HU; volumes and scores there count only voxels above that level"
    ]
    if not header_agent:
        notes.append(
            "no contrast agent in the header, but the blood pool is opacified: contrast taken from the image"
        )
    return ContrastFinding(status, lumen, zone, levels, base_threshold, notes, central)


def _no_pool(empty: np.ndarray, base_threshold: float, header_agent: str | None) -> ContrastFinding:
    """No aorta or heart in view (a head, a limb, or too short a slab): the header decides."""
    if header_agent:
        status = ContrastStatus(
            True, "unknown", None, "header",
            f"no blood pool in view to measure; the header names a contrast agent ({header_agent})",
        )  # fmt: skip
        note = (
            f"header names a contrast agent ({header_agent}); no aorta or heart in view to measure it, "
            "so enhancing vessels cannot be told from calcium by their lumen"
        )
        return ContrastFinding(status, empty, empty, None, base_threshold, [note])
    status = ContrastStatus(
        False, "unknown", None, "header", "no blood pool in view and no contrast agent in the header"
    )
    return ContrastFinding(status, empty, empty, None, base_threshold, [])


def _pool_discs(
    hu: np.ndarray,
    smooth: np.ndarray,
    body: np.ndarray,
    exclude: np.ndarray,
    bone: np.ndarray,
    spacing: tuple[float, float, float],
    even_sd: float,
) -> np.ndarray:
    """Round, even discs of opacified blood density near the trunk's midline, kept where
    they line up over neighbouring slices."""
    candidate = body & ~exclude & (smooth >= _MIN_POOL_HU) & (smooth < 700.0)
    cut = max(1, round(_CUT_MM / spacing[1]))
    found = np.zeros_like(body)
    centres: dict[int, list[np.ndarray]] = {}
    for k in np.flatnonzero(candidate.any(axis=(1, 2))):
        for disc, centre in _slice_discs(candidate[k], smooth[k], body[k], spacing, cut):
            if not _spine_behind(bone[k], centre, spacing) or _robust_sd(hu[k][disc]) > even_sd:
                continue  # not in front of the spine, or uneven (cancellous bone, not blood)
            found[k] |= disc
            centres.setdefault(int(k), []).append(centre)
    return _tracked(found, centres, spacing)


def _slice_discs(candidate, smooth, body, spacing, cut):
    cores = ndimage.binary_erosion(candidate, iterations=cut)
    labels, n = ndimage.label(cores)
    if n == 0:
        return []
    _ys, xs = np.nonzero(body)
    centre_x = xs.mean()
    half_width = (xs.max() - xs.min() + 1) / 2
    out = []
    dist = ndimage.distance_transform_edt(cores, sampling=spacing[1:])
    for i, box in enumerate(ndimage.find_objects(labels), start=1):
        part = labels[box] == i
        if part.sum() < _MIN_CORE_CELLS:
            continue  # a speck left by the erosion, not a lumen's core
        radius = float(dist[box][part].max()) + cut * spacing[1]
        if not _MIN_RADIUS_MM <= radius <= _MAX_RADIUS_MM:
            continue
        area = float(part.sum()) * spacing[1] * spacing[2]
        grown_area = area + 2 * np.pi * radius * cut * spacing[1]
        if grown_area / (np.pi * radius**2) < _ROUNDNESS or grown_area / (np.pi * radius**2) > 3.0:
            continue
        jj, ii = np.nonzero(part)
        cx = ii.mean() + box[1].start
        if abs(cx - centre_x) > _MIDLINE_SHARE * 2 * half_width:
            continue
        if float(smooth[box][part].std()) > _MAX_POOL_SD_HU:
            continue
        disc = np.zeros_like(candidate)
        disc[box] = part
        if not _stands_out(disc, smooth, body, cut):
            continue  # a piece of an enhanced organ, not a lumen within its wall
        out.append((disc, np.array([jj.mean() + box[0].start, cx]) * spacing[1:]))
    return out


def _robust_sd(values: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def _spine_behind(bone: np.ndarray, centre: np.ndarray, spacing) -> bool:
    """The aorta and the heart lie in front of the spine: bone behind the disc, within
    `_SPINE_DX_MM` of it across (a uniform round insert of a phantom, a uniform vertebra of
    a phantom spine, has none)."""
    jj, ii = np.nonzero(bone)
    if not len(jj):
        return False
    y, x = jj * spacing[1], ii * spacing[2]
    return bool(((y > centre[0] + _MIN_RADIUS_MM) & (np.abs(x - centre[1]) <= _SPINE_DX_MM)).any())


def _stands_out(disc: np.ndarray, smooth: np.ndarray, body: np.ndarray, cut: int) -> bool:
    """A lumen is denser than what lies around it (its wall, fat, muscle, a vein);
    a piece of an enhanced liver or spleen is surrounded by more of the same."""
    inner = ndimage.binary_dilation(disc, iterations=cut + 1)
    ring = ndimage.binary_dilation(inner, iterations=cut + 2) & ~inner & body
    if not ring.any():
        return False
    return float(np.median(smooth[ring])) <= float(np.median(smooth[disc])) - _RING_DROP_HU


def _tracked(found: np.ndarray, centres: dict[int, list[np.ndarray]], spacing) -> np.ndarray:
    """Discs with a disc at about the same place on a neighbouring slice (a vessel or a
    chamber runs on; an isolated round blob is something else)."""
    keep = np.zeros_like(found)
    ks = sorted(centres)
    run = 0
    for k in ks:
        linked = any(
            np.linalg.norm(c - d) <= _TRACK_MM
            for j in (k - 1, k + 1)
            for c in centres[k]
            for d in centres.get(j, [])
        )
        if linked:
            keep[k] = found[k]
            run += 1
    return keep if run >= _MIN_SLICES else np.zeros_like(found)


def _disc_medians(hu: np.ndarray, discs: np.ndarray) -> list[float]:
    """The median of each slice's discs: a pool mixes levels (right heart fainter than the
    left and the aorta in the arterial phase)."""
    return [float(np.median(hu[k][discs[k]])) for k in np.flatnonzero(discs.any(axis=(1, 2)))]


def _disc_sd(hu: np.ndarray, discs: np.ndarray) -> float:
    """The spread of blood within one disc, the median over the discs (the spread of all of
    them together also holds the differences between chambers and vessels)."""
    spreads = [_robust_sd(hu[k][discs[k]]) for k in np.flatnonzero(discs.any(axis=(1, 2)))]
    return float(np.median(spreads)) if spreads else 0.0


def _grown_lumen(
    smooth: np.ndarray, discs: np.ndarray, allowed: np.ndarray, lo: float, hi: float
) -> np.ndarray:
    """The lumen: what is joined to the discs at lumen density (the aorta's branches, the
    heart's chambers, the portal vein and organs that enhance as much), no denser than the
    pool's own spread allows."""
    tissue = allowed & (smooth >= lo) & (smooth <= hi)
    labels, _ = ndimage.label(tissue | discs)
    chosen = np.unique(labels[discs])
    return np.isin(labels, chosen[chosen > 0])


def _local_levels(
    hu: np.ndarray, lumen: np.ndarray, zone: np.ndarray, base: float, margin: float
) -> np.ndarray:
    """The calcium threshold per working cell: the densest lumen within a few cells plus
    `margin` inside the zone, `base` elsewhere. A pool mixes levels (the left heart and aorta
    brighter than the right heart in the arterial phase, a vein fainter than the aorta), so
    one number for all of it is either too low for the aorta or too high for the veins.
    The cells' own values, not smoothed ones: a thin artery's lumen smoothed with the fat
    around it reads far below the artery itself."""
    dense = np.where(lumen, hu, np.float32(-1e4))
    local = ndimage.grey_dilation(dense, size=(3, 5, 5))
    levels = np.full(hu.shape, np.float32(base))
    levels[zone] = np.maximum(base, local[zone] + margin)
    return levels


def _vessels(hu: np.ndarray, allowed: np.ndarray, level: float, top: float, spacing) -> np.ndarray:
    """Opacified vessels apart from the pool (the arteries of an arm, the neck, a leg):
    pieces above the calcium threshold that run long and narrow along the body axis. Thin
    ones read well below the pool's density (partial volume), so they are sought from the
    calcium threshold up, up to the pool's own upper level `top` (a bone's cortex, also long
    and thin, is denser); a calcific deposit is a clump, not a tube (a calcified artery's
    plaques are denser than the lumen and stay above the zone's level)."""
    tissue = allowed & (hu >= level) & (hu < 700.0)
    labels, _ = ndimage.label(tissue)
    out = np.zeros_like(tissue)
    for i, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        length = (box[0].stop - box[0].start) * spacing[0]
        if length < _VESSEL_MIN_LENGTH_MM:
            continue
        part = labels[box] == i
        mean_area = part.sum() * spacing[1] * spacing[2] / max(1, box[0].stop - box[0].start)
        slender = mean_area <= _VESSEL_MAX_AREA_MM2 and length >= _VESSEL_SLENDER * np.sqrt(mean_area)
        if slender and float(np.median(hu[box][part])) <= top:
            out[box] |= part
    return out


def _phase(pool: float) -> str:
    """The phase by the blood pool's density: the aorta is brightest in the arterial phase
    (250-500 HU), moderate in the portal venous phase (about 150-250 HU) and barely above
    plain blood in a delayed one."""
    if pool >= _ARTERIAL_HU:
        return "arterial"
    if pool >= _PORTAL_HU:
        return "portal_venous"
    return "delayed"
