"""Measurements of each deposit: size, density, Agatston score, mass, position, lobes.

Each deposit is measured on the crop of its bounding box only, so the cost grows with the
calcium found, not with the size of the scan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.models import CTVolume, Deposit
from pipeline.segment.agatston import agatston_score
from pipeline.segment.candidates import local_background
from pipeline.segment.lobes import count_lobes

_MIN_INTERIOR = 8
_PLATEAU_CENTILE = 90


@dataclass(frozen=True)
class Excess:
    """A clump's partial-volume content: `fraction` voxels' worth of calcium at its plateau
    density, and `hu_sum` the HU above the surrounding tissue summed over its voxels."""

    fraction: float
    hu_sum: float
    background_hu: float
    plateau_hu: float


def _plateau(values: np.ndarray, region: np.ndarray, spacing_zyx: tuple[float, float, float]) -> float:
    """The clump's own density, from its interior deeper than blur reaches (one and a half
    in-plane voxels, measured in mm so thick slices count right). A clump too small for an
    interior has only its peak, which blur lowers: small clumps come out large."""
    depth = ndimage.distance_transform_edt(np.pad(region, 1), sampling=spacing_zyx)[1:-1, 1:-1, 1:-1]
    interior = region & (depth > 1.5 * max(spacing_zyx[1:]))
    if interior.sum() >= _MIN_INTERIOR:
        # a high centile, not the median: thick slices dilute even the interior of a clump
        # only a few slices long, and the densest voxels are the ones closest to its density
        return float(np.percentile(values[interior], _PLATEAU_CENTILE))
    return float(values[region].max())


def _partial_volume(
    hu: np.ndarray,
    labels: np.ndarray,
    box: tuple[slice, ...],
    label: int,
    spacing_zyx: tuple[float, float, float],
) -> Excess:
    """Volume by partial-volume fractions, blur-invariant where thresholding is not.

    Scanner blur spreads a clump's calcium over a rim of voxels; the 130 HU iso-surface
    lies outside its true edge and a threshold count over-estimates its volume. Each voxel
    of the clump and of a one-voxel margin holds the fraction (HU - background) / (plateau -
    background) of calcium, clipped to [0, 1]; the fractions add up to the true volume when
    the plateau is reached (clumps larger than the blur). The same excess HU, summed, gives
    the integrated mass, which blur does not change at all.
    """
    grown = tuple(slice(max(0, s.start - 3), s.stop + 3) for s in box)
    values = hu[grown].astype(np.float32)
    region = labels[grown] == label
    free = labels[grown] == 0
    background = local_background(values, region, free)
    plateau = _plateau(values, region, spacing_zyx)
    margin = (ndimage.binary_dilation(region, structure=np.ones((3, 3, 3), bool)) & free) | region
    excess = np.clip(values[margin] - background, 0, None)
    span = max(plateau - background, 1.0)
    return Excess(float(np.clip(excess / span, 0, 1).sum()), float(excess.sum()), background, plateau)


def grid_steps(volume: CTVolume) -> tuple[float, float, float]:
    """(in-plane pixel area mm2, distance between slice planes mm, row step mm)."""
    col, row, step = (volume.affine[:3, i] for i in range(3))
    normal = np.cross(col, row)
    area = float(np.linalg.norm(normal))
    return area, float(abs(step @ normal) / area), float(np.linalg.norm(row))


def measure_deposits(
    volume: CTVolume,
    labels: np.ndarray,
    *,
    edges: tuple[float, float, float, float],
    normalise_agatston: bool,
    mass_factor: float | None,
    lobe_prominence_mm: float,
    boxes: list[tuple[slice, ...]] | None = None,
) -> list[Deposit]:
    """One Deposit per label of `labels` (1..n), in label order; `boxes`: each label's
    bounding box when the caller has them (else a pass over the whole label map finds them)."""
    pixel_area, slice_gap, row_step = grid_steps(volume)
    col_step = pixel_area / row_step
    spacing_zyx = (slice_gap, row_step, col_step)
    deposits = []
    for label, box in enumerate(ndimage.find_objects(labels) if boxes is None else boxes, start=1):
        if box is None:
            continue
        mask = labels[box] == label
        hu = volume.hu[box]
        values = hu[mask].astype(np.float64)
        n = int(mask.sum())
        excess = _partial_volume(volume.hu, labels, box, label, spacing_zyx)
        volume_mm3 = excess.fraction * volume.voxel_volume_mm3
        offset = np.array([s.start for s in box], float)  # (k, j, i)
        kji = np.argwhere(mask).mean(axis=0) + offset
        ijk = kji[::-1]
        mean_hu = float(values.mean())
        deposits.append(
            Deposit(
                label=label,
                series_uid=volume.series_uid,
                stack_label=volume.stack_label,
                n_voxels=n,
                volume_mm3=volume_mm3,
                max_hu=float(values.max()),
                mean_hu=mean_hu,
                agatston=agatston_score(
                    hu, mask, pixel_area, slice_gap, edges=edges, normalise=normalise_agatston
                ),
                mass_mg=None
                if mass_factor is None
                else mass_factor * excess.hu_sum * volume.voxel_volume_mm3,
                equivalent_diameter_mm=float((6.0 * volume_mm3 / np.pi) ** (1.0 / 3.0)),
                largest_axial_area_mm2=float(mask.sum(axis=(1, 2)).max() * pixel_area),
                centroid_ijk=tuple(float(v) for v in ijk),  # type: ignore[arg-type]
                centroid_lps_mm=tuple(float(v) for v in volume.index_to_lps(ijk)[0]),  # type: ignore[arg-type]
                bbox_ijk=(
                    (box[2].start, box[1].start, box[0].start),
                    (box[2].stop, box[1].stop, box[0].stop),
                ),
                lobes=count_lobes(mask, spacing_zyx, lobe_prominence_mm),
            )
        )
    return deposits
