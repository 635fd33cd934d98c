"""Anatomical masks the candidate search needs: body (without the table), metal and its
streaks, lungs, and the noise level.

They are computed on the working grid (see grid.py) with voxel spacing in mm, so that every
size and margin in the configuration is in millimetres whatever the scan's resolution.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage

from pipeline.config import SegmentationConfig

Spacing = tuple[float, float, float]  # (z, y, x) mm

_TABLE_MAX_THICKNESS_MM = 30.0
_TABLE_MIN_WIDTH_MM = 100.0
_TABLE_PERSISTENCE = 0.95
_NOISE_SLICES = 24


def ball(radius_mm: float, spacing: Spacing, flat: bool = False) -> np.ndarray:
    """A structuring element of `radius_mm` on an anisotropic grid (a disk when `flat`)."""
    r = [0 if flat and axis == 0 else max(0, int(radius_mm // s)) for axis, s in enumerate(spacing)]
    grids = np.ogrid[tuple(slice(-n, n + 1) for n in r)]
    dist2 = sum((g * s) ** 2 for g, s in zip(grids, spacing, strict=True))
    return dist2 <= radius_mm**2 + 1e-9


def body_mask(hu: np.ndarray, spacing: Spacing, cfg: SegmentationConfig) -> np.ndarray:
    """The patient: tissue denser than air, without the table, cushions or clothes.

    The table is found as what it is, a thin plate at the same place in every slice, and
    removed. Opening with a disk of `table_gap_mm` then cuts thin bridges to anything else
    (cushions, clothing, a table the first step missed). Separate parts of the patient
    (arms beside the trunk) are kept unless tiny; holes (lungs, bowel gas) are filled slice
    by slice.
    """
    dense = hu > cfg.body_threshold_hu
    dense &= ~table_mask(dense, spacing)
    disk = ball(cfg.table_gap_mm, spacing, flat=True)
    opened = ndimage.binary_opening(dense, structure=disk) if disk.size > 1 else dense
    labels, n = ndimage.label(opened)
    if n == 0:
        return np.zeros_like(dense)
    voxel = float(np.prod(spacing))
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:] * voxel
    keep = np.flatnonzero(sizes >= max(cfg.min_body_part_mm3, 0.002 * sizes.max())) + 1
    body = np.isin(labels, keep)
    if disk.size > 1:  # give back the skin the opening shaved off
        body = ndimage.binary_dilation(body, structure=disk) & dense
    return fill_slices(body)


def table_mask(dense: np.ndarray, spacing: Spacing) -> np.ndarray:
    """The patient table: dense in (nearly) every slice at the same place, thin front to
    back, and wide. Nothing of the patient is the same in every slice and that thin."""
    if dense.shape[0] < 5:
        return np.zeros_like(dense)
    persistent = dense.mean(axis=0) >= _TABLE_PERSISTENCE
    length = max(3, int(_TABLE_MAX_THICKNESS_MM / spacing[1]) | 1)
    thick = ndimage.binary_opening(persistent, structure=np.ones((length, 1), bool))
    thin = persistent & ~thick
    labels, _ = ndimage.label(thin, structure=np.ones((3, 3), bool))
    table = np.zeros_like(thin)
    for i, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is not None and (box[1].stop - box[1].start) * spacing[2] >= _TABLE_MIN_WIDTH_MM:
            table[box] |= labels[box] == i
    if not table.any():
        return np.zeros_like(dense)
    table |= _under_patient(table, persistent)
    table = ndimage.binary_dilation(table, iterations=1)
    return dense & table[None]


def _under_patient(table: np.ndarray, persistent: np.ndarray) -> np.ndarray:
    """The table's rows across its whole width, where they are dense in every slice.

    Where the patient lies on the table and is in every slice (a chest or abdomen scan),
    back and table top merge into one thick block on a 2 mm grid, so the thin-plate test
    finds the table only at its sides; the strip under the patient's back would stay in the
    body, and its dense shell would be reported as calcium."""
    rows = np.flatnonzero(table.any(axis=1))
    cols = np.flatnonzero(table.any(axis=0))
    strip = np.zeros_like(table)
    strip[rows, cols[0] : cols[-1] + 1] = persistent[rows, cols[0] : cols[-1] + 1]
    return strip


def fill_slices(mask: np.ndarray) -> np.ndarray:
    out = np.empty_like(mask)
    for k in range(mask.shape[0]):
        out[k] = ndimage.binary_fill_holes(mask[k]) if mask[k].any() else mask[k]
    return out


def metal_masks(
    metal: np.ndarray, spacing: Spacing, cfg: SegmentationConfig
) -> tuple[np.ndarray, np.ndarray]:
    """(metal, exclusion zone): the implant itself, and where its streaks make HU meaningless.

    Streaks run along the slice plane right across the patient, so in "slab" mode every
    slice that holds metal (and `metal_slab_margin_mm` beyond, along the slice axis) is left
    out; in "radius" mode only what lies within `metal_margin_mm` of the metal in-plane.
    """
    metal = _big_parts(metal, spacing, cfg.metal_min_volume_mm3)  # lone clipped voxels are no implant
    if not metal.any():
        return metal, metal.copy()
    if cfg.metal_streaks == "slab":
        slices = np.flatnonzero(metal.any(axis=(1, 2)))
        reach = int(np.ceil(cfg.metal_slab_margin_mm / spacing[0]))
        zone = np.zeros_like(metal)
        zone[max(0, slices[0] - reach) : slices[-1] + reach + 1] = True
        return metal, zone
    distance = ndimage.distance_transform_edt(~metal, sampling=(spacing[0] * 4.0, spacing[1], spacing[2]))
    return metal, distance <= cfg.metal_margin_mm


def _big_parts(mask: np.ndarray, spacing: Spacing, min_mm3: float) -> np.ndarray:
    labels, n = ndimage.label(mask)
    sizes = np.bincount(labels.ravel(), minlength=n + 1) * float(np.prod(spacing))
    big = np.flatnonzero(sizes >= min_mm3)
    return np.isin(labels, big[big > 0])


def lung_mask(hu: np.ndarray, body: np.ndarray, spacing: Spacing, cfg: SegmentationConfig) -> np.ndarray:
    """Aerated lung inside the body (large components below `lung_threshold_hu`), with the
    vessels and nodules it encloses in each slice."""
    air = body & (hu < cfg.lung_threshold_hu)
    lungs = _big_parts(air, spacing, cfg.lung_min_volume_mm3)
    return fill_slices(lungs) & body


def noise_sigma(hu: np.ndarray, body: np.ndarray) -> float:
    """Image noise (HU, 1 sigma) in soft tissue, from the spread around a local median.

    A robust (MAD) estimate of voxel minus 5 x 5 median over fat and muscle, on at most
    `_NOISE_SLICES` slices and every other row and column of them: hundreds of thousands of
    voxels, far more than a stable MAD needs, at a small fraction of the cost of a median
    filter over the whole scan. `body` may be on a coarser grid (it is matched per slice).
    """
    ks = np.arange(0, hu.shape[0], max(1, -(-hu.shape[0] // _NOISE_SLICES)))
    inside = _match(body, ks, hu.shape)
    residual = np.concatenate([_soft_residuals(hu[k], mask) for k, mask in zip(ks, inside, strict=True)])
    if len(residual) < 100:
        return 20.0
    return float(1.4826 * np.median(np.abs(residual - np.median(residual))))


def _soft_residuals(image: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """HU minus the 5 x 5 median, at every other row and column of `inside` whose median
    is soft tissue (-150 to 120 HU)."""
    take = inside[::2, ::2]
    if not take.any():
        return np.zeros(0, np.float32)
    padded = np.pad(image, 2, mode="symmetric")  # what scipy's median filter calls "reflect"
    windows = sliding_window_view(padded, (5, 5))[::2, ::2][take].reshape(-1, 25)
    local = np.partition(windows, 12, axis=1)[:, 12]
    soft = (local > -150) & (local < 120)
    return windows[soft, 12].astype(np.float32) - local[soft]


def _match(body: np.ndarray, ks: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """`body` (possibly coarser) sampled at full-resolution slices `ks`, full in-plane size."""
    fz = -(-shape[0] // body.shape[0])
    fy = -(-shape[1] // body.shape[1])
    fx = -(-shape[2] // body.shape[2])
    rows = body[ks // fz]
    return np.repeat(np.repeat(rows, fy, axis=1), fx, axis=2)[:, : shape[1], : shape[2]]
