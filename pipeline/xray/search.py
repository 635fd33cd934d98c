"""The search area of one radiograph (working grid), its noise, and what was left out.

Air, saturated areas (collimator, labels, metal) and their blurred rims, flat areas, lung
fields, and a warning for each exclusion that a reader should know about.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from skimage import morphology

from pipeline.config import RadiographConfig
from pipeline.xray import masks
from pipeline.xray.work import WorkImage

METAL_MARGIN_MM = 2.0  # the blurred rim of saturated metal or a label is not searched
FLAT_WINDOW_MM = 1.5  # window of the flatness test
MIN_BODY_MM = 20.0  # the patient covers at least this many mm square
LUNG_MIN_MM = 50.0  # a lung field is at least this many mm square...
LUNG_MARGIN_MM = 15.0  # ...and reaches this far beyond its aerated part (hila, bases)
LUNG_RING_MM = 5.0  # how far round a dark region its surroundings are looked at


@dataclass
class SearchArea:
    mask: np.ndarray  # working grid
    body: np.ndarray  # working grid
    noise_sd: float  # stored-pixel units (see `search_area`)
    warnings: list[str] = field(default_factory=list)


def search_area(work: WorkImage, config: RadiographConfig) -> SearchArea:
    """Where to look, and the noise SD of the stored pixels.

    The noise is measured on the working image inside the body and scaled back by the block
    size (white noise averages down by it): correlated detector noise and lossy compression,
    which hide fine noise but not noise at the scale of a deposit, then give the figure the
    original image would.
    """
    px = work.mm_to_px
    big = px(config.max_diameter_mm) ** 2
    saturated = masks.saturated_mask(work.pixels, big)
    rough = masks.noise_sd(work.pixels, ~saturated)
    flat = masks.flat_mask(work.pixels, rough, max(5, round(px(FLAT_WINDOW_MM))), big)
    excluded = saturated | flat
    body = masks.body_mask(work.pixels, excluded, rough, px(1.0), px(MIN_BODY_MM) ** 2)
    warnings: list[str] = []
    if not body.any():
        warnings.append("no patient found in the image (only air, collimator or saturated areas)")
        return SearchArea(body, body, 0.0, warnings)
    margin = max(1, round(px(METAL_MARGIN_MM)))
    search = body & ~ndimage.binary_dilation(excluded, morphology.disk(margin))
    if saturated.any():
        share = 100 * saturated.mean()
        warnings.append(f"{share:.1f}% of the image is saturated (collimator, labels or metal): not searched")
    lungs = masks.lung_mask(work.pixels, body, px(2.0), px(LUNG_MIN_MM) ** 2, px(LUNG_RING_MM))
    if lungs.any():
        lungs = (ndimage.distance_transform_edt(~lungs) <= px(LUNG_MARGIN_MM)) & body
        search &= ~lungs
        warnings.append(f"lung fields not searched ({100 * lungs.sum() / body.sum():.0f}% of the body)")
    return SearchArea(search, body, masks.noise_sd(work.pixels, body) * work.factor, warnings)
