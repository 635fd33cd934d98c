"""A PA radiograph of one hand and wrist, computed from the same anatomy and deposits.

The hand lies palm down on the table beside the thigh, so a beam along y (through the
back of the hand to the palm) sees only the hand and wrist. The anatomy is re-drawn on a
fine grid round the hand, attenuation is integrated along y (parallel beam, magnification
1), and the log-converted signal is written so that dense is bright (MONOCHROME2), with
detector blur and noise.

Image axes: column index grows with LPS x (towards the patient's left), row index grows
with z (towards the head), so the fingertips are at the top. Pixel (row, col) is at
x = x0 + col * spacing, z = z0 + row * spacing.

A deposit is `visible` when its contrast-to-noise ratio (peak added signal over the
detector noise SD) is at least CNR_VISIBLE and its peak signal is at least
BONE_FRACTION_VISIBLE of the bone signal at the same pixel (otherwise bone hides it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.phantom.anatomy import Anatomy
from pipeline.phantom.deposits import draw
from pipeline.phantom.grid import Grid
from pipeline.phantom.labels import BONE_LABELS, T, hu_table, lut
from pipeline.phantom.placement import PlacedDeposit
from pipeline.phantom.scene import render
from pipeline.phantom.soft import arm_outline

MU_WATER = 0.025  # 1/mm at the effective energy of a 55 kVp hand exposure
DETECTOR_GAIN = 2000.0  # detector units per unit of line integral
DETECTOR_OFFSET = 250.0
DETECTOR_SIGMA_PX = 0.7
CNR_VISIBLE = 3.0
BONE_FRACTION_VISIBLE = 0.15


@dataclass
class Projection:
    """A computed radiograph and where it looks."""

    pixels: np.ndarray  # (rows, cols) float, dense bright
    side: str
    x0: float  # body-frame x of column 0
    z0: float  # body-frame z of row 0
    spacing: float  # mm, rows and columns
    noise_sd: float
    hits: dict[int, DepositHit]


@dataclass(frozen=True)
class DepositHit:
    centroid_px: tuple[float, float] | None  # (row, col)
    in_field: bool
    visible: bool
    cnr: float


def mu_table(contrast: bool = False) -> np.ndarray:
    """Linear attenuation (1/mm) per label; calcium-rich tissue weighs more at low kV."""
    hu = hu_table(contrast).mean
    excess = hu / 1000.0
    boost = np.where(hu > 100, 1.5, 1.0)
    mu = MU_WATER * np.maximum(1 + excess * boost, 0)
    mu[T.METAL] = 1.0
    return mu.astype(np.float32)


def hand_grid(anatomy: Anatomy, side: str, spacing: float) -> Grid:
    lay = anatomy.layout
    lb, s = lay.limbs[side], lay.s
    tips = min(f.tip[2] for f in lb.fingers)
    x_lo, x_hi = lb.hand[0] - 58 * s, lb.hand[0] + 58 * s
    z_lo, z_hi = tips - 12 * s, lb.wrist[2] + 70 * s
    y_lo, y_hi = -48 * s, 0.5
    dy = 2 * spacing
    shape = (int((z_hi - z_lo) / spacing) + 1, int((y_hi - y_lo) / dy) + 1, int((x_hi - x_lo) / spacing) + 1)
    return Grid(shape, (spacing, dy, spacing), (x_lo, y_lo, z_lo))


def project_hand(
    anatomy: Anatomy,
    side: str,
    deposits: list[PlacedDeposit],
    spacing: float,
    rng: np.random.Generator,
    noise_sd: float = 10.0,
) -> Projection:
    grid = hand_grid(anatomy, side, spacing)
    labels = render(anatomy.ops, grid, cortex_floor_mm=0.0)
    # only the arm lies on the detector: drop the thigh and trunk that share the box
    outside_arm = arm_outline(anatomy.layout.limbs[side], anatomy.layout.s).sdf(grid.full) > 0.5
    labels[outside_arm] = T.AIR
    mu = mu_table()
    dy = grid.spacing[1]
    line = mu[labels].sum(axis=1) * dy  # (z, x)
    bone_excess = (lut(BONE_LABELS)[labels] * (mu[labels] - MU_WATER)).sum(axis=1) * dy
    signals: dict[int, np.ndarray] = {}
    for dep in deposits:
        dm = draw(dep.clump, grid, labels, dep.site.allowed, keep_largest=False)
        if dm is None or not dm.occupancy.any():
            continue
        mu_dep = MU_WATER * (1 + dep.density_hu / 1000.0 * 1.5)
        bg = mu[labels[dm.window.slices]]
        added = (dm.occupancy * (mu_dep - bg)).sum(axis=1) * dy
        full = np.zeros_like(line)
        zs, _, xs = dm.window.slices
        full[zs, xs] = added
        line += full
        signals[dep.number] = full
    image = DETECTOR_OFFSET + DETECTOR_GAIN * line
    image = ndimage.gaussian_filter(image, DETECTOR_SIGMA_PX)
    image += rng.normal(0, noise_sd, image.shape)
    image = np.clip(image, 0, 4095)
    hits = {dep.number: _hit(dep, grid, signals.get(dep.number), bone_excess, noise_sd) for dep in deposits}
    return Projection(
        image.astype(np.float32), side, float(grid.origin[0]), float(grid.origin[2]), spacing, noise_sd, hits
    )


def _hit(
    dep: PlacedDeposit, grid: Grid, signal: np.ndarray | None, bone: np.ndarray, noise_sd: float
) -> DepositHit:
    nz, _, nx = grid.shape
    col = (dep.centroid_body[0] - grid.origin[0]) / grid.spacing[0]
    row = (dep.centroid_body[2] - grid.origin[2]) / grid.spacing[2]
    inside = 0 <= row <= nz - 1 and 0 <= col <= nx - 1
    if not inside or signal is None:
        return DepositHit(None, False, False, 0.0)
    blurred = ndimage.gaussian_filter(signal * DETECTOR_GAIN, DETECTOR_SIGMA_PX)
    r, c = np.unravel_index(int(np.argmax(blurred)), blurred.shape)
    peak = float(blurred[r, c])
    cnr = peak / max(noise_sd, 1e-6)
    bone_signal = float(bone[r, c]) * DETECTOR_GAIN
    visible = cnr >= CNR_VISIBLE and peak >= BONE_FRACTION_VISIBLE * bone_signal
    return DepositHit((round(float(row), 2), round(float(col), 2)), True, bool(visible), round(cnr, 2))
