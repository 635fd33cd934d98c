"""Where on a radiograph opacities are looked for, and how noisy the image is.

A film holds more than the patient: direct exposure (air), collimator shadows and burned-in
labels, which are flat or saturated, and metal, which is saturated and sharp. Noise and
every search are confined to the patient's body so that none of these can raise a finding.
Lung fields are left out too: their vessels seen end-on are compact opacities by the
hundred.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

# Immerkaer's operator: zero on any plane, 6 x sigma on white noise (sum of squares 36)
_NOISE_KERNEL = np.array([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]], dtype=np.float32)
_MAD_TO_SD = 1.4826
SATURATED_SPAN = 0.002  # within this fraction of the value range of the extreme value
FLAT_NOISE = 0.2  # "flat" is less than this fraction of the noise
AIR_FRACTION = 0.2  # the air/tissue split lies in the lowest fifth of the 1-99% range...
AIR_JUMP_NOISE = 20.0  # ...and tissue is brighter than air by at least this many noise SDs
LUNG_MAX_SKIN = 0.15  # at most this much of a lung's surroundings lies outside the body


def noise_sd(pixels: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Robust SD of the pixel noise: MAD of a high-pass that cancels smooth anatomy.

    The median ignores edges (bone, skin), which are few next to the many pixels of plain
    tissue, so structure barely raises the estimate.
    """
    response = ndimage.convolve(np.asarray(pixels, dtype=np.float32), _NOISE_KERNEL, mode="reflect")
    values = response[mask] if mask is not None and mask.any() else response.ravel()
    if values.size > 2_000_000:
        values = values[:: values.size // 1_000_000]
    mad = float(np.median(np.abs(values - np.median(values))))
    return _MAD_TO_SD * mad / 6.0


def local_noise(work: np.ndarray, block: int) -> np.ndarray:
    """Noise SD around each pixel: the median high-pass response over `block`-sized tiles,
    blended between tiles. Trabecular texture and grainy film raise it where they are, while
    an edge or a deposit covers too little of a tile to count."""
    response = np.abs(ndimage.convolve(np.asarray(work, dtype=np.float32), _NOISE_KERNEL, mode="reflect"))
    rows, cols = response.shape
    padded = np.pad(response, ((0, (-rows) % block), (0, (-cols) % block)), mode="reflect")
    tiles = padded.reshape(padded.shape[0] // block, block, padded.shape[1] // block, block)
    median = np.median(tiles.transpose(0, 2, 1, 3).reshape(tiles.shape[0], tiles.shape[2], -1), axis=2)
    sd = median / (0.6745 * 6.0)  # |N(0, 6 sigma)| has median 0.6745 x 6 sigma
    up = np.repeat(np.repeat(sd, block, axis=0), block, axis=1)[:rows, :cols]
    return ndimage.uniform_filter(up, block)


def saturated_mask(work: np.ndarray, min_area_px: float) -> np.ndarray:
    """Large areas stuck at the image's lowest or highest value: collimator shadows, burned-in
    label plates, unexposed film and metal that stops the beam. A deposit is never one."""
    lo, hi = float(work.min()), float(work.max())
    span = max(hi - lo, 1e-6)
    out = np.zeros(work.shape, dtype=bool)
    for extreme in (work <= lo + SATURATED_SPAN * span, work >= hi - SATURATED_SPAN * span):
        out |= large_parts(extreme, min_area_px)
    return out


def flat_mask(work: np.ndarray, noise: float, size_px: int, min_area_px: float) -> np.ndarray:
    """Large areas with almost no noise: electronic shutters and label plates painted into the
    image after acquisition (a patient always adds quantum noise)."""
    img = work.astype(np.float64)
    mean = ndimage.uniform_filter(img, size_px)
    var = np.maximum(ndimage.uniform_filter(img * img, size_px) - mean * mean, 0.0)
    return large_parts(np.sqrt(var) < FLAT_NOISE * max(noise, 1e-6), min_area_px)


def body_mask(
    work: np.ndarray, excluded: np.ndarray, noise: float, smooth_px: float, min_area_px: float
) -> np.ndarray:
    """The patient: everything denser than the direct-exposure background.

    Air is darker than halfway between its own level and an Otsu split, repeated on ever darker
    values until it falls in the lowest fifth of the (smoothed, usable) range, where it
    reaches the image edge: thin tissue (a fingertip's rim, the skin of a leg) stays in, and
    there is no air unless tissue is far brighter than it (a film collimated to the skin has
    none). What is left, holes filled, in pieces at least a tenth the size of
    the largest (a lead marker lying beside the patient is far smaller), is the body.
    """
    usable = ~excluded
    if not usable.any():
        return usable
    smooth = ndimage.gaussian_filter(work.astype(np.float32), smooth_px)
    air = _air(smooth, usable, noise)
    body = ndimage.binary_fill_holes(usable & ~air) & usable
    labels, n = ndimage.label(body)
    if n == 0:
        return body
    areas = np.bincount(labels.ravel())[1:]
    keep = np.flatnonzero(areas >= max(0.1 * areas.max(), min_area_px)) + 1
    return np.isin(labels, keep)


def _air(smooth: np.ndarray, usable: np.ndarray, noise: float) -> np.ndarray:
    values = smooth[usable]
    lo, hi = np.percentile(values, [1.0, 99.0])
    cap = lo + AIR_FRACTION * (hi - lo)
    split = hi
    for _ in range(4):  # Otsu on ever darker values until the split is air / tissue
        part = values[values < split]
        if part.size < 2 or np.ptp(part) <= 0 or split <= cap:
            break
        split = threshold_otsu(part)
    split = min(split, cap)
    dark, bright = values[values < split], values[values >= split]
    if not dark.size or not bright.size or np.median(bright) - np.median(dark) < AIR_JUMP_NOISE * noise:
        return np.zeros_like(usable)
    level = 0.5 * (float(np.median(dark)) + split)  # halfway from the air's level: skin stays in
    return _touching_edge((smooth < level) & usable)


def lung_mask(
    work: np.ndarray, body: np.ndarray, smooth_px: float, min_area_px: float, ring_px: float
) -> np.ndarray:
    """Aerated lung: large regions of the body darker than an Otsu split of the body's values
    and almost entirely surrounded by body. The dark soft tissue of a limb lies along its
    skin, so much of what surrounds it is outside the body; a lung meets the skin at most
    through a narrow band of thin tissue."""
    if not body.any():
        return body
    smooth = ndimage.gaussian_filter(work.astype(np.float32), smooth_px)
    values = smooth[body]
    if np.ptp(values) <= 0:
        return np.zeros_like(body)
    labels, _ = ndimage.label((smooth < threshold_otsu(values)) & body)
    areas = np.bincount(labels.ravel())
    lungs = np.zeros_like(body)
    ring_iter = max(1, round(ring_px))
    for i in np.flatnonzero(areas >= min_area_px):
        if i == 0:
            continue
        region = labels == i
        ring = ndimage.binary_dilation(region, iterations=ring_iter) & ~region
        if ring.any() and (ring & ~body).sum() <= LUNG_MAX_SKIN * ring.sum():
            lungs |= region
    return ndimage.binary_fill_holes(lungs)


def _touching_edge(mask: np.ndarray) -> np.ndarray:
    labels, n = ndimage.label(mask)
    if n == 0:
        return mask
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    return np.isin(labels, edge[edge > 0])


def large_parts(mask: np.ndarray, min_area_px: float) -> np.ndarray:
    """The connected parts of `mask` of at least `min_area_px` pixels."""
    labels, n = ndimage.label(mask)
    if n == 0:
        return mask
    areas = np.bincount(labels.ravel())
    big = np.flatnonzero(areas >= min_area_px)
    return np.isin(labels, big[big > 0])
