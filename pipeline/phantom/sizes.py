"""Study sizes and the CT grid a seed chooses for a body.

`small` is for fast tests (about 2.9 mm pixels: too coarse to tell a phalanx from a clump),
`sample` for sample_data (the usual in-plane grid, 5 mm slices as in routine
reconstructions, so the repository stays small), `default` for the usual phantom
(generates in a few seconds), `clinical` for benchmarks at real scanner resolution. Within a size, the
seed varies the matrix, the field of view (so the pixel spacing), the slice spacing and
where the patient lies in scanner coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.phantom.anatomy import Anatomy
from pipeline.phantom.grid import Grid


@dataclass(frozen=True)
class SizePreset:
    name: str
    matrices: tuple[int, ...]
    slice_mm: tuple[float, ...]
    fov_margin_mm: tuple[float, float]
    noise_sd: tuple[float, float]  # HU, white-noise part before correlation
    drr_mm: float  # voxel of the fine grid a radiograph is computed on
    drr_pixel_mm: float  # detector pixel
    min_deposit_voxels: float  # smallest deposit, in voxels (coarse grids: keep them visible)


SIZES: dict[str, SizePreset] = {
    "small": SizePreset("small", (160, 176), (4.0, 5.0), (16, 40), (12, 18), 0.5, 0.5, 2.5),
    "sample": SizePreset("sample", (256,), (5.0,), (16, 40), (12, 20), 0.35, 0.25, 0.7),
    "default": SizePreset("default", (304, 320), (2.5, 3.0), (16, 40), (12, 20), 0.35, 0.25, 0.7),
    "clinical": SizePreset("clinical", (512,), (1.25, 1.5), (16, 40), (14, 22), 0.25, 0.15, 0.7),
}


def make_grid(anatomy: Anatomy, preset: SizePreset, rng: np.random.Generator) -> Grid:
    """A square axial grid round the body (hands included), slices bottom to top."""
    half = anatomy.half_width() + 0.5 * float(rng.uniform(*preset.fov_margin_mm))
    matrix = int(rng.choice(preset.matrices))
    dx = round(2 * half / matrix, 4)
    dz = float(rng.choice(preset.slice_mm))
    z0, z1 = anatomy.z_range
    z0 -= float(rng.uniform(0, 15))
    nz = int(np.ceil((z1 - z0) / dz)) + 1
    y_centre = -0.5 * float(anatomy.layout.trunk_b.v.max()) * 2 + float(rng.uniform(-15, 25))
    origin = (-dx * (matrix - 1) / 2 + float(rng.uniform(-8, 8)), y_centre - dx * (matrix - 1) / 2, z0)
    offset = (
        round(float(rng.uniform(-6, 6)), 2),
        round(float(rng.uniform(120, 160)), 2),
        round(float(rng.uniform(-900, -600)), 2),
    )
    return Grid((nz, matrix, matrix), (dx, dx, dz), origin, offset)
