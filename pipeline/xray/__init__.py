"""Radiograph stage: compact calcific opacities on a plain film (CR, DX).

A radiograph has no Hounsfield units, so an opacity is judged against the image itself:

1. the image is averaged down to about `work_pixel_mm` (``work``);
2. the patient is separated from air, collimator shadows, burned-in labels, saturated metal
   and lung fields, and the noise is measured inside the patient (``search``, ``masks``);
3. at every deposit size from `min_diameter_mm` to `max_diameter_mm`, a path-opening
   top-hat removes long structures, cortices and bone edges included (``paths``, ``tophat``);
4. its peaks are outlined and kept when they clear the noise, are compact, add enough to the
   bone beneath and are not bone ends at a joint (``candidates``, ``bones``); the interior
   of wide bones (tibia, spine, tarsus) is not searched;
5. each opacity is measured on the stored pixels (``measure``).

Sizes are in mm when the pixel spacing is known; otherwise the size limits assume
`assumed_pixel_mm` pixels and the findings say so.
"""

from __future__ import annotations

import numpy as np

from pipeline.config import RadiographConfig
from pipeline.models import Radiograph, RadiographDeposit, RadiographFindings
from pipeline.xray import bones, masks
from pipeline.xray import candidates as cand
from pipeline.xray.measure import deposit, full_resolution_region
from pipeline.xray.search import search_area
from pipeline.xray.tophat import TopHats, diameters_px, top_hats
from pipeline.xray.work import WorkImage, working_image

__all__ = ["find_opacities"]

LOCAL_NOISE_MM = 6.0  # tiles over which the local noise is measured
TEXTURE_NOISE = 1.5  # textured: local noise at least this many times the film's


def find_opacities(image: Radiograph, config: RadiographConfig) -> RadiographFindings:
    """Compact dense opacities on one radiograph, measured, with their label map."""
    work = working_image(image, config)
    area = search_area(work, config)
    warnings = _spacing_warnings(work) + area.warnings
    labels = np.zeros(image.pixels.shape, dtype=np.int32)
    if not area.mask.any() or area.noise_sd <= 0:
        return RadiographFindings(image, [], labels, float(area.noise_sd), warnings)
    px = work.mm_to_px
    tophats = top_hats(work.pixels, diameters_px(px(config.min_diameter_mm), px(config.max_diameter_mm)))
    found = cand.peaks(tophats, area.mask, config.min_cnr * area.noise_sd, config.edge_fraction)
    ctx, wide = _context(tophats, area.mask, area.noise_sd, work, config)
    if wide.any():
        found = [c for c in found if not wide[c.rc]]
        warnings.append("textured bones wider than 15 mm are not searched (trabecular texture)")
    chosen = cand.select(found, ctx, config)
    deposits = _measure(chosen, tophats, image, work, area.noise_sd, labels, config)
    return RadiographFindings(image, deposits, labels, float(area.noise_sd), warnings)


def _spacing_warnings(work: WorkImage) -> list[str]:
    if work.spacing_known:
        return []
    return [
        f"pixel spacing unknown: the radiograph stage's size limits assume {work.spacing_mm[0]:g} mm pixels"
    ]


def _context(
    tophats: TopHats, search: np.ndarray, noise_sd: float, work: WorkImage, config: RadiographConfig
) -> tuple[cand.Context, np.ndarray]:
    """Soft tissue, bone, wide bones and the noise the candidates are judged against."""
    px = work.mm_to_px
    soft = bones.soft_tissue(tophats.smooth, search, px(config.bone_width_mm))
    bone = bones.bone_mask(tophats.smooth, soft, search, px(bones.BONE_MIN_MM) ** 2)
    local = masks.local_noise(work.pixels, max(4, round(px(LOCAL_NOISE_MM)))) * work.factor
    under, wide = bones.wide_bones(tophats.smooth, soft, search, local >= TEXTURE_NOISE * noise_sd, px)
    noise = np.maximum(local, noise_sd)
    return cand.Context(tophats.smooth, under, bone, noise, work.pixel_mm), wide


def _measure(
    chosen: list[cand.Candidate],
    tophats: TopHats,
    image: Radiograph,
    work: WorkImage,
    noise_sd: float,
    labels: np.ndarray,
    config: RadiographConfig,
) -> list[RadiographDeposit]:
    """Each opacity redrawn on the stored pixels and written into `labels` (1..n, top to
    bottom); a pixel already claimed by an earlier opacity stays with it, and outlines under
    `min_outline_mm` across (with the assumed spacing when it is unknown) are dropped."""
    deposits: list[RadiographDeposit] = []
    pixel_area = work.spacing_mm[0] * work.spacing_mm[1]
    for c in sorted(chosen, key=lambda c: c.rc):
        region = full_resolution_region(c, tophats, image, work, config.edge_fraction)
        r0, c0 = region.origin
        window = labels[r0 : r0 + region.mask.shape[0], c0 : c0 + region.mask.shape[1]]
        free = region.mask & (window == 0)
        if 2 * np.sqrt(free.sum() * pixel_area / np.pi) < config.min_outline_mm:
            continue
        label = len(deposits) + 1
        window[free] = label
        deposits.append(deposit(label, free, region.origin, image, c.height / noise_sd))
    return deposits
