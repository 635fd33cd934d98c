"""From label map to CT numbers: tissue HU and texture, deposits with partial volume,
scanner blur, metal streaks and noise, in the order a scanner would produce them.

Blur is a Gaussian point-spread function (sigma 0.55 pixel in-plane, 0.35 slice along z)
applied to the composed HU map; noise is white noise smoothed in-plane (correlated, as
after filtered back-projection) rescaled to the seeded standard deviation. Air outside
the body is left noise-free so that the compressed files stay small.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.phantom.grid import Grid
from pipeline.phantom.labels import HUTable, T
from pipeline.phantom.placement import PlacedDeposit

HU_MIN, HU_MAX = -1024.0, 3071.0
PSF_SIGMA = (0.35, 0.55, 0.55)  # (slice, row, column) voxels
NOISE_CORRELATION = 0.6  # in-plane sigma (pixels) of the noise smoothing


@dataclass(frozen=True)
class ScannerModel:
    noise_sd: float  # HU
    psf_sigma: tuple[float, float, float] = PSF_SIGMA


def tissue_hu(labels: np.ndarray, table: HUTable, rng: np.random.Generator) -> np.ndarray:
    """Mean HU of each voxel's tissue plus a smooth texture (trabeculae, lung parenchyma)."""
    hu = table.mean[labels]
    sd = table.texture_sd[labels]
    hu += sd * smooth_field(labels.shape, rng, block=3)
    return hu


def smooth_field(shape: tuple[int, ...], rng: np.random.Generator, block: int) -> np.ndarray:
    """Unit-variance random field varying over ~`block` voxels (drawn coarse, upsampled)."""
    coarse_shape = tuple(-(-n // block) + 1 for n in shape)
    coarse = rng.standard_normal(coarse_shape, dtype=np.float32)
    coarse = ndimage.gaussian_filter(coarse, 0.7)
    coarse /= max(float(coarse.std()), 1e-6)
    idx = [np.arange(n) // block for n in shape]
    return coarse[np.ix_(*idx)]


def add_deposits(hu: np.ndarray, deposits: list[PlacedDeposit], rng: np.random.Generator) -> None:
    """Blend each deposit into the HU map by its partial occupancy of every voxel."""
    for dep in deposits:
        sub = hu[dep.dm.window.slices]
        f = dep.dm.occupancy
        grain = 1 + 0.06 * rng.standard_normal(f.shape).astype(np.float32)
        sub[...] = sub * (1 - f) + f * np.float32(dep.density_hu) * grain


def scan(
    hu: np.ndarray,
    labels: np.ndarray,
    model: ScannerModel,
    rng: np.random.Generator,
    streaks: np.ndarray | None = None,
) -> np.ndarray:
    """Blur, artefacts, noise, then clip and round to the stored CT numbers (int16)."""
    out = ndimage.gaussian_filter(hu, model.psf_sigma, truncate=3.0)
    if streaks is not None:
        out += streaks
    noise = rng.standard_normal(hu.shape, dtype=np.float32)
    noise = ndimage.gaussian_filter(noise, (0, NOISE_CORRELATION, NOISE_CORRELATION), truncate=3.0)
    noise *= np.float32(model.noise_sd / max(float(noise[::4, ::4, ::4].std()), 1e-6))
    body = labels != T.AIR
    out += noise * body
    np.clip(out, HU_MIN, HU_MAX, out=out)
    return np.rint(out).astype(np.int16)


def grid_psf_mm(grid: Grid) -> tuple[float, float]:
    """In-plane and through-plane PSF sigma in mm (recorded in truth.json)."""
    dx, _, dz = grid.spacing
    return PSF_SIGMA[1] * dx, PSF_SIGMA[0] * dz
