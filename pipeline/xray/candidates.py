"""Candidate opacities on the top-hats, and the tests that keep bone out.

Every local maximum of a top-hat that clears the noise is outlined and judged:

* compact: its outline does not run on to the edge of its search disc (it would be part of a
  longer structure), is not elongated (a cortex or a bone edge), is solid (not a ring or a
  crescent) and peaks near its centre (a bone end's rim peaks off-centre);
* dense enough against the bone under it: an opacity lying on bone must add a fraction of the
  bone's own signal (the radiographic rule that bone hides faint calcium);
* not a bone end at a joint: two bright spots facing each other across a narrow darker gap,
  across their long axes, are the two sides of a joint, and any spot where a bone ends facing
  another bone must stand out more than bone ends do (`joint_min_cnr`).

Contrast is judged against the larger of the image's noise and the noise around the
candidate, so that grainy or textured parts of a film (trabecular bone) need more.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.config import RadiographConfig
from pipeline.xray.bones import JOINT_REACH_MM, at_joint
from pipeline.xray.shape import Outline, Shape, outline, shape_of
from pipeline.xray.tophat import PATH_MARGIN_PX, TopHats

PARTNER_DIP = 0.3  # a joint gap is darker than both ends by this fraction of the top-hat
PARTNER_MIN_MM = 2.0  # bone ends of one joint are at least this far apart
ROUND_ELONGATION = 1.2  # rounder outlines have no direction to speak of
ACROSS_DEG = 40.0  # a partner more than this far off the long axis lies across it


@dataclass
class Candidate:
    """A top-hat peak at one search diameter, outlined on the working grid."""

    rc: tuple[int, int]
    scale: int  # index into TopHats.diameters
    diameter_px: float
    height: float  # top-hat at the peak (image units)
    value: float  # smoothed image at the peak
    outline: Outline
    shape: Shape


@dataclass(frozen=True)
class Context:
    """What the tests need besides the candidates, on the working grid."""

    smooth: np.ndarray
    under: np.ndarray  # the soft tissue under the bones
    bone: np.ndarray  # bone mask (for joints)
    noise: np.ndarray  # per pixel: max(image noise, local noise), image units
    pixel_mm: float


def peaks(tophats: TopHats, search: np.ndarray, min_height: float, fraction: float) -> list[Candidate]:
    """Local maxima of every top-hat above `min_height` inside `search`, each outlined at
    `fraction` of its height."""
    found = []
    for k, (d, th) in enumerate(zip(tophats.diameters, tophats.tophats, strict=True)):
        size = max(3, round(d / 2) | 1)
        is_peak = (th == ndimage.maximum_filter(th, size)) & (th >= min_height) & search
        for r, c in np.argwhere(is_peak):
            found.append(_candidate(tophats, k, (int(r), int(c)), fraction))
    return found


def _candidate(tophats: TopHats, k: int, rc: tuple[int, int], fraction: float) -> Candidate:
    th = tophats.tophats[k]
    d = float(tophats.diameters[k])
    height = float(th[rc])
    out = outline(th, rc, fraction * height, d + PATH_MARGIN_PX)
    local = (rc[0] - out.origin[0], rc[1] - out.origin[1])
    return Candidate(rc, k, d, height, float(tophats.smooth[rc]), out, shape_of(out.mask, local))


def select(cands: list[Candidate], ctx: Context, config: RadiographConfig) -> list[Candidate]:
    """The candidates that pass every test, one per opacity (the highest top-hat wins where
    several sizes found the same one)."""
    clear = [c for c in cands if not c.outline.touches and c.height >= config.min_cnr * ctx.noise[c.rc]]
    pairs = joint_pairs(clear, ctx.smooth, config.joint_partner_mm, ctx.pixel_mm)
    kept = [
        c
        for i, c in enumerate(clear)
        if i not in pairs
        and is_compact(c, config)
        and bone_fraction(c, ctx.under) >= config.min_bone_fraction
        and not _faint_at_joint(c, ctx, config)
    ]
    return _one_per_opacity(kept, ctx.smooth.shape)


def is_compact(c: Candidate, config: RadiographConfig) -> bool:
    s = c.shape
    return (
        s.elongation <= config.max_elongation
        and s.solidity >= config.min_solidity
        and s.offset <= config.max_peak_offset
    )


def bone_fraction(c: Candidate, under: np.ndarray) -> float:
    """The top-hat over everything above the soft tissue at the peak (bone included): 1 for
    an opacity in soft tissue, small for texture on bone."""
    above = c.value - float(under[c.rc])
    return c.height / max(above, c.height, 1e-6)


def _faint_at_joint(c: Candidate, ctx: Context, config: RadiographConfig) -> bool:
    if c.height >= config.joint_min_cnr * ctx.noise[c.rc]:
        return False
    return at_joint(ctx.bone, c.rc, JOINT_REACH_MM / ctx.pixel_mm, config.joint_gap_mm / ctx.pixel_mm)


def joint_pairs(cands: list[Candidate], smooth: np.ndarray, max_mm: float, pixel_mm: float) -> set[int]:
    """Indices of candidates that face a partner as bright (within half their top-hat) across
    a darker gap, 2 mm to `max_mm` away, the partner lying across their long axis: the two
    ends of a joint. A deposit beside a bone has the bone along its long axis, or is round."""
    if not cands:
        return set()
    pts = np.array([c.rc for c in cands], dtype=float)
    values = np.array([c.value for c in cands])
    ends = set()
    for i, c in enumerate(cands):
        dist = np.hypot(*(pts - pts[i]).T) * pixel_mm
        for j in np.flatnonzero((dist >= PARTNER_MIN_MM) & (dist <= max_mm)):
            if values[j] < c.value - 0.5 * c.height or not _across(c, pts[j] - pts[i]):
                continue
            n = int(np.ceil(dist[j] / pixel_mm)) * 2 + 2
            line = ndimage.map_coordinates(
                smooth, [np.linspace(pts[i, 0], pts[j, 0], n), np.linspace(pts[i, 1], pts[j, 1], n)], order=1
            )
            if min(c.value, values[j]) - line.min() > PARTNER_DIP * c.height:
                ends.add(i)
                break
    return ends


def _across(c: Candidate, towards: np.ndarray) -> bool:
    """Whether `towards` points across the outline's long axis (round outlines: always)."""
    if c.shape.elongation < ROUND_ELONGATION:
        return True
    cos = abs(float(np.dot(towards, c.shape.axis))) / max(float(np.hypot(*towards)), 1e-9)
    return cos < np.cos(np.radians(ACROSS_DEG))


def _one_per_opacity(cands: list[Candidate], shape: tuple[int, int]) -> list[Candidate]:
    """Highest top-hat first; a candidate whose peak lies in (or next to) an already chosen
    outline is the same opacity seen at another size."""
    chosen: list[Candidate] = []
    taken = np.zeros(shape, dtype=bool)
    for c in sorted(cands, key=lambda c: -c.height):
        if taken[c.rc]:
            continue
        chosen.append(c)
        rows, cols = np.nonzero(ndimage.binary_dilation(np.pad(c.outline.mask, 1)))
        rows, cols = rows + c.outline.origin[0] - 1, cols + c.outline.origin[1] - 1
        ok = (rows >= 0) & (cols >= 0) & (rows < shape[0]) & (cols < shape[1])
        taken[rows[ok], cols[ok]] = True
    return chosen
