"""Bone on a radiograph: the soft tissue under it, where it is, and where two bones meet.

The soft tissue under a bone is estimated by an opening wider than the bone; bone is what
stands above it by more than an Otsu split of that excess. Bones wider than `WIDE_BONE_MM`
(a tibia, a spine, a tarsal bone) are judged against a wider opening and their interior is
not searched where they are textured (noisier than the film as a whole): trabecular
texture and overlapping cortices make compact spots there that no local test tells from
calcium, and a deposit seen through such a bone is rarely visible.

A joint is where a bone ends and another begins across a narrow gap. The two bone ends are
bright compact bands (end plates seen edge-on) that look like deposits to any local test, so
an opacity at a joint must stand out more than bone ends do.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage
from skimage import morphology
from skimage.filters import threshold_otsu

from pipeline.xray.masks import large_parts
from pipeline.xray.work import block_min, upsample

N_RAYS = 16
WIDE_BONE_MM = 15.0  # textured bones at least this wide are judged against WIDE_OPENING_MM...
WIDE_OPENING_MM = 50.0  # ...an opening wider than any limb bone seen on a film
WIDE_RIM_MM = 2.0  # a wide bone's mask is grown by this much to take in its cortex
BONE_MIN_MM = 6.0  # bone pieces smaller than a square of this side are specks or deposits
JOINT_REACH_MM = 20.0  # how far along a bone its end is looked for
OPENING_RADIUS_PX = 12  # soft-tissue openings run on blocks that leave about this radius


def soft_tissue(smooth: np.ndarray, body: np.ndarray, width_px: float) -> np.ndarray:
    """The tissue under bones narrower than `width_px`: an opening that wide, smoothed.

    Outside the body the image is set to its maximum first, so that the opening is not
    pulled down to air at the skin where the body is narrower than the opening (a finger).
    The opening runs on blocks about a twelfth of its radius (minimum of each block, so the
    estimate stays under the image): it is smooth at that scale, and far cheaper there.
    """
    radius = max(1.0, width_px / 2)
    step = max(1, int(radius // OPENING_RADIUS_PX))
    filled = np.where(body, smooth, smooth.max()).astype(np.float32)
    coarse = block_min(filled, step)
    disc = morphology.disk(max(1, round(radius / step)), decomposition="sequence")
    opened = upsample(morphology.opening(coarse, disc), step, smooth.shape)
    return ndimage.gaussian_filter(np.minimum(opened, smooth), radius / 3)


def wide_bones(
    smooth: np.ndarray, soft: np.ndarray, body: np.ndarray, textured: np.ndarray, px: Callable[[float], float]
) -> tuple[np.ndarray, np.ndarray]:
    """(tissue under every bone, mask of textured bones wider than WIDE_BONE_MM): `soft`
    where bones are narrow, the wider opening's estimate under wide ones. Only `textured`
    pixels count: thick soft tissue (a thigh) also stands above a wide opening, but is
    smooth."""
    wide_soft = soft_tissue(smooth, body, px(WIDE_OPENING_MM))
    excess = smooth - wide_soft
    values = excess[body]
    if values.size < 2 or np.ptp(values) <= 0:
        return soft, np.zeros_like(body)
    bone = (excess > threshold_otsu(values)) & body
    depth = ndimage.distance_transform_edt(bone)
    width = 2 * ndimage.maximum_filter(depth, size=round(px(WIDE_BONE_MM / 2)) | 1)
    wide = bone & (width >= px(WIDE_BONE_MM)) & textured
    # with its cortex: the rim of a wide bone is as busy as its interior
    wide = (ndimage.distance_transform_edt(~wide) <= px(WIDE_RIM_MM)) & body
    return np.where(wide, wide_soft, soft), wide


def bone_mask(smooth: np.ndarray, soft: np.ndarray, body: np.ndarray, min_area_px: float) -> np.ndarray:
    """Pixels well above the soft tissue, in pieces of at least `min_area_px` (a deposit or a
    speck of thin tissue at the skin is not a bone)."""
    excess = smooth - soft
    values = excess[body]
    if values.size < 2 or np.ptp(values) <= 0:
        return np.zeros(smooth.shape, dtype=bool)
    return large_parts((excess > threshold_otsu(values)) & body, min_area_px)


def ray_lengths(mask: np.ndarray, start: tuple[int, int], reach: float) -> np.ndarray:
    """Pixels travelled inside `mask` from `start` along each of N_RAYS directions."""
    angles = np.arange(N_RAYS) * 2 * np.pi / N_RAYS
    steps = np.arange(1, int(reach) + 1)
    rows = np.rint(start[0] + np.outer(np.sin(angles), steps)).astype(int)
    cols = np.rint(start[1] + np.outer(np.cos(angles), steps)).astype(int)
    inside = (rows >= 0) & (cols >= 0) & (rows < mask.shape[0]) & (cols < mask.shape[1])
    hit = np.zeros(rows.shape, dtype=bool)
    hit[inside] = mask[rows[inside], cols[inside]]
    return np.argmin(np.column_stack([hit, np.zeros(N_RAYS, dtype=bool)]), axis=1).astype(float)


def at_joint(mask: np.ndarray, start: tuple[int, int], reach: float, gap: float) -> bool:
    """Whether `start` lies at the end of a bone that another bone faces across a gap of at
    most `gap` pixels: beyond the bone's end, opposite its longest run, bone starts again."""
    if not mask[start]:
        return False
    lengths = ray_lengths(mask, start, reach)
    longest = int(np.argmax(lengths))
    for k in (-1, 0, 1):
        j = (longest + N_RAYS // 2 + k) % N_RAYS
        angle = j * 2 * np.pi / N_RAYS
        steps = np.arange(lengths[j] + 2, lengths[j] + gap + 2)
        rows = np.rint(start[0] + np.sin(angle) * steps).astype(int)
        cols = np.rint(start[1] + np.cos(angle) * steps).astype(int)
        ok = (rows >= 0) & (cols >= 0) & (rows < mask.shape[0]) & (cols < mask.shape[1])
        if mask[rows[ok], cols[ok]].any():
            return True
    return False
