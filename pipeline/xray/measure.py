"""An accepted opacity measured on the stored pixels: outline, centroid, size, contrast.

The search ran on the averaged working image; the outline is redrawn at full resolution
against the same background (the path opening, interpolated) so that the centroid and area
are as exact as the stored image allows, then converted to mm when the spacing is known.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.models import Radiograph, RadiographDeposit
from pipeline.xray.candidates import Candidate
from pipeline.xray.tophat import TopHats
from pipeline.xray.work import WorkImage


@dataclass(frozen=True)
class Region:
    """An opacity's pixels on the stored grid, as a mask over a window."""

    mask: np.ndarray
    origin: tuple[int, int]  # (row, col) of the window's first pixel


def full_resolution_region(
    c: Candidate, tophats: TopHats, image: Radiograph, work: WorkImage, fraction: float
) -> Region:
    """The outline redrawn on the stored pixels: above `fraction` of the peak top-hat,
    connected to the peak, within the working outline grown by one working pixel."""
    f = work.factor
    r0, c0 = c.outline.origin
    h, w = c.outline.mask.shape
    pad = 2
    # the stored window covering the working window, plus a margin
    top, left = max((r0 - pad) * f, 0), max((c0 - pad) * f, 0)
    bottom = min((r0 + h + pad) * f, image.pixels.shape[0])
    right = min((c0 + w + pad) * f, image.pixels.shape[1])
    rows = np.arange(top, bottom)
    cols = np.arange(left, right)
    pixels = np.asarray(image.pixels[top:bottom, left:right], dtype=np.float32)
    smooth = ndimage.gaussian_filter(pixels, 0.5 * f) if f > 1 else tophats.smooth[top:bottom, left:right]
    # stored pixel i sits at working coordinate (i - (f - 1) / 2) / f
    wr, wc = np.meshgrid((rows - (f - 1) / 2) / f, (cols - (f - 1) / 2) / f, indexing="ij")
    background = ndimage.map_coordinates(tophats.backgrounds[c.scale], [wr, wc], order=1, mode="nearest")
    allowed = _grown_outline(c, wr, wc)
    th = np.where(allowed, smooth - background, 0.0)
    peak = np.unravel_index(int(np.argmax(th)), th.shape)
    labels, _ = ndimage.label(th >= fraction * th[peak])
    return Region(labels == labels[peak], (top, left))


def _grown_outline(c: Candidate, wr: np.ndarray, wc: np.ndarray) -> np.ndarray:
    grown = ndimage.binary_dilation(np.pad(c.outline.mask, 2), iterations=1)
    ir = np.rint(wr).astype(int) - c.outline.origin[0] + 2
    ic = np.rint(wc).astype(int) - c.outline.origin[1] + 2
    inside = (ir >= 0) & (ic >= 0) & (ir < grown.shape[0]) & (ic < grown.shape[1])
    out = np.zeros(wr.shape, dtype=bool)
    out[inside] = grown[ir[inside], ic[inside]]
    return out


def deposit(
    label: int, mask: np.ndarray, origin: tuple[int, int], image: Radiograph, contrast: float
) -> RadiographDeposit:
    """The RadiographDeposit of one outline (a mask over a window at `origin`); sizes in mm
    only when the spacing is known."""
    rr, cc = np.nonzero(mask)
    rr, cc = rr + origin[0], cc + origin[1]
    area = len(rr)
    eq_px = float(2 * np.sqrt(area / np.pi))
    area_mm2 = eq_mm = None
    if image.pixel_spacing_mm is not None:
        pixel_area = float(image.pixel_spacing_mm[0] * image.pixel_spacing_mm[1])
        area_mm2 = area * pixel_area
        eq_mm = float(2 * np.sqrt(area_mm2 / np.pi))
    return RadiographDeposit(
        label=label,
        series_uid=image.series_uid,
        stack_label=image.stack_label,
        sop_instance_uid=image.sop_instance_uid,
        centroid_px=(float(rr.mean()), float(cc.mean())),
        bbox_px=((int(rr.min()), int(cc.min())), (int(rr.max()) + 1, int(cc.max()) + 1)),
        area_px=int(area),
        area_mm2=area_mm2,
        equivalent_diameter_px=eq_px,
        equivalent_diameter_mm=eq_mm,
        contrast=round(float(contrast), 2),
    )
