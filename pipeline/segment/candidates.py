"""Candidate deposits: dense voxels where calcium can be, grouped and tested.

A candidate is a 3D connected clump of voxels at or above the calcium threshold inside the
search region (body minus bone and its rim, metal and its streaks, opacified blood). It is
kept when it is big enough and when its peak stands out from the tissue around it by
`significance_sigma` times the image noise: on a noisy low-dose scan thousands of specks
of noise cross 130 HU, while calcium stands far above its surroundings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.config import SegmentationConfig
from pipeline.segment.grid import WorkGrid
from pipeline.segment.masks import Spacing

_CLUMP = np.ones((3, 3, 3), bool)
_AIR_LIKE_HU = -200.0  # air, lung and their partial-volume edges; fat (-100) is tissue
_FAT_HU = (-190.0, -30.0)  # subcutaneous and visceral fat around a speck


@dataclass(frozen=True)
class Speck:
    """One 26-connected clump of dense voxels: its bounding box and its mask within it."""

    box: tuple[slice, slice, slice]
    mask: np.ndarray
    first: tuple[int, int, int]  # its first voxel in scan order (numbers the clumps)

    @property
    def n_voxels(self) -> int:
        return int(np.count_nonzero(self.mask))


def find_candidates(
    hu: np.ndarray,
    grid: WorkGrid,
    search: np.ndarray,
    threshold: float | np.ndarray,
    spacing: Spacing,
    cfg: SegmentationConfig,
    sigma: float,
) -> tuple[np.ndarray, list[str]]:
    """Label map (1..n, in the smallest unsigned type that holds n) of the kept candidates
    at or above `threshold` inside `search` (a working-grid mask), and notes on what was
    dropped.

    On a noisy scan there are tens of thousands of specks, and a full-resolution label map
    of them would cost more than the scan itself; they are found coarse to fine instead
    (see `specks`) and each is judged on its own crop.
    """
    dense, occupied = grid.dense_within(hu, threshold, search)
    voxel = float(np.prod(spacing))
    big = [
        s
        for s in specks(dense, grid, occupied)
        if s.n_voxels >= cfg.min_voxels and s.n_voxels * voxel >= cfg.min_volume_mm3
    ]
    standing = [(s, _peak_and_background(s, hu, dense)) for s in big]
    significant = [(s, pb) for s, pb in standing if pb[0] - pb[1] >= cfg.significance_sigma * sigma]
    base = float(np.min(threshold))
    kept = [s for s, pb in significant if _dense_enough(*pb, base, cfg.min_peak_margin_hu)]
    del dense
    out = np.zeros(hu.shape, label_type(len(kept)))
    for label, speck in enumerate(kept, start=1):
        out[speck.box][ndimage.binary_fill_holes(speck.mask)] = label
    notes = []
    if len(big) > len(significant):
        notes.append(
            f"{len(big) - len(significant)} dense speck(s) not reported: peak within "
            f"{cfg.significance_sigma:g} noise sigma ({sigma:.0f} HU) of the surrounding tissue"
        )
    if len(significant) > len(kept):
        notes.append(
            f"{len(significant) - len(kept)} faint speck(s) not reported: peak under "
            f"{base + cfg.min_peak_margin_hu:.0f} HU ({base + cfg.min_peak_margin_hu / 2:.0f} HU in fat): "
            "noise, streaks or vessel partial volume"
        )
    return out, notes


def specks(dense: np.ndarray, grid: WorkGrid, occupied: np.ndarray) -> list[Speck]:
    """The 26-connected components of `dense` (a snowball's lobes touch at corners too), in
    the order of their first voxel, as full-resolution labelling would number them.

    Voxels that touch at full resolution lie in the same or touching working cells, so each
    component lies within one connected group of `occupied` cells (cells holding a dense
    voxel); only each group's box is labelled at full resolution.
    """
    groups, _ = ndimage.label(occupied, structure=_CLUMP)
    found: list[Speck] = []
    for g, cells in enumerate(ndimage.find_objects(groups), start=1):
        if cells is not None:
            box = grid.full_box(cells)
            found.extend(_group_specks(dense[box] & grid.up(groups[cells] == g, box), box))
    found.sort(key=lambda s: s.first)
    return found


def _group_specks(crop: np.ndarray, box: tuple[slice, slice, slice]) -> list[Speck]:
    labels, _ = ndimage.label(crop, structure=_CLUMP)
    origin = np.array([s.start for s in box])
    out = []
    for label, sub in enumerate(ndimage.find_objects(labels), start=1):
        mask = labels[sub] == label
        corner = origin + [s.start for s in sub]
        first = corner + np.array(np.unravel_index(int(np.argmax(mask)), mask.shape))
        out.append(
            Speck(tuple(slice(c, c + n) for c, n in zip(corner, mask.shape, strict=True)), mask, tuple(first))
        )
    return out


def label_type(n: int) -> type[np.unsignedinteger]:
    """The smallest unsigned type for labels 0..n: a label map of a 600-slice scan is
    150 MiB as uint8, 600 MiB as int32."""
    for dtype in (np.uint8, np.uint16, np.uint32):
        if n <= np.iinfo(dtype).max:
            return dtype
    return np.uint64


def _peak_and_background(speck: Speck, hu: np.ndarray, dense: np.ndarray) -> tuple[float, float]:
    """The speck's peak HU and the tissue around it (any dense voxel is not tissue): the
    peak must stand above that tissue by the significance test's noise sigmas."""
    grown, region = _with_margin(speck, hu.shape)
    values = hu[grown]
    return float(values[region].max()), local_background(values, region, ~dense[grown])


def _dense_enough(peak: float, background: float, base: float, margin: float) -> bool:
    """Peak at least `margin` above the calcium threshold; in fat half that: a faint
    calcification in fat stands 300 HU above its background, while muscle noise, streaks
    and a vessel's partial volume (130-250 HU) stand much less above theirs."""
    if peak >= base + margin:
        return True
    return peak >= base + margin / 2 and _FAT_HU[0] <= background <= _FAT_HU[1]


def _with_margin(speck: Speck, shape: tuple[int, ...]) -> tuple[tuple[slice, ...], np.ndarray]:
    """The speck's box grown by 3 voxels (within the volume), and its mask on that box."""
    grown = tuple(
        slice(max(0, s.start - 3), min(n, s.stop + 3)) for s, n in zip(speck.box, shape, strict=True)
    )
    region = np.zeros(tuple(g.stop - g.start for g in grown), bool)
    region[
        tuple(slice(s.start - g.start, s.stop - g.start) for s, g in zip(speck.box, grown, strict=True))
    ] = speck.mask
    return grown, region


def local_background(values: np.ndarray, region: np.ndarray, free: np.ndarray) -> float:
    """Median HU of the tissue in a 2-voxel shell around `region` (voxels where `free`).

    Whatever surrounds it, searched or not: a speck in cartilage is compared with cartilage.
    Air, lung and gas (and their blurred edges) are left out unless there is nothing else,
    as for a clump inside the lung.
    """
    shell = ndimage.binary_dilation(region, iterations=2) & ~region & free
    if not shell.any():
        return float(np.median(values[~region])) if (~region).any() else 0.0
    tissue = shell & (values > _AIR_LIKE_HU)
    return float(np.median(values[tissue] if tissue.sum() >= 5 else values[shell]))
