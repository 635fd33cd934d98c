"""The working image: a radiograph averaged down to about `work_pixel_mm`, and its scale.

Opacities of interest are millimetres across, so a 0.1-0.2 mm detector pixel is finer than
the search needs; block averaging (not interpolation) keeps every count, lowers the noise by
the block size and makes a 2000 x 2500 film cheap to filter at every scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.config import RadiographConfig
from pipeline.models import Radiograph


@dataclass(frozen=True)
class WorkImage:
    """The averaged image and how its pixels map back to the stored ones."""

    pixels: np.ndarray  # (rows, cols) float32, block means of `factor` x `factor` stored pixels
    factor: int
    spacing_mm: tuple[float, float]  # stored pixel (row, col) spacing, known or assumed
    spacing_known: bool

    @property
    def pixel_mm(self) -> float:
        """Side of a working pixel in mm (the mean of rows and columns)."""
        return self.factor * 0.5 * (self.spacing_mm[0] + self.spacing_mm[1])

    def mm_to_px(self, mm: float) -> float:
        """A length in mm as working pixels."""
        return mm / self.pixel_mm

    def to_stored(self, rc: np.ndarray) -> np.ndarray:
        """(N, 2) working (row, col) -> stored (row, col): a block's centre."""
        return np.asarray(rc, dtype=float) * self.factor + (self.factor - 1) / 2.0


def stored_spacing(image: Radiograph, config: RadiographConfig) -> tuple[tuple[float, float], bool]:
    """The stored pixel spacing, or the assumed one (and False) when the file gives none."""
    if image.pixel_spacing_mm is not None:
        return (float(image.pixel_spacing_mm[0]), float(image.pixel_spacing_mm[1])), True
    return (config.assumed_pixel_mm, config.assumed_pixel_mm), False


def working_image(image: Radiograph, config: RadiographConfig) -> WorkImage:
    spacing, known = stored_spacing(image, config)
    factor = max(1, round(config.work_pixel_mm / min(spacing)))
    return WorkImage(block_mean(image.pixels, factor), factor, spacing, known)


def block_mean(pixels: np.ndarray, factor: int) -> np.ndarray:
    """Mean of each `factor` x `factor` block; a partial last block is averaged as it is."""
    img = np.asarray(pixels, dtype=np.float32)
    if factor == 1:
        return img
    rows, cols = img.shape
    pad_r, pad_c = (-rows) % factor, (-cols) % factor
    padded = np.pad(img, ((0, pad_r), (0, pad_c)), mode="edge")
    r2, c2 = padded.shape[0] // factor, padded.shape[1] // factor
    return padded.reshape(r2, factor, c2, factor).mean(axis=(1, 3), dtype=np.float64).astype(np.float32)


def block_min(img: np.ndarray, step: int) -> np.ndarray:
    """Minimum of each `step` x `step` block (an estimate that stays under the image)."""
    if step == 1:
        return img
    rows, cols = img.shape
    padded = np.pad(img, ((0, (-rows) % step), (0, (-cols) % step)), mode="edge")
    return padded.reshape(padded.shape[0] // step, step, padded.shape[1] // step, step).min(axis=(1, 3))


def upsample(coarse: np.ndarray, step: int, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of a block grid (fine pixel i sits at (i - (step - 1) / 2) / step)."""
    if step == 1:
        return coarse[: shape[0], : shape[1]]
    rows = (np.arange(shape[0]) - (step - 1) / 2) / step
    cols = (np.arange(shape[1]) - (step - 1) / 2) / step
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    return ndimage.map_coordinates(coarse, [rr, cc], order=1, mode="nearest").astype(np.float32)
