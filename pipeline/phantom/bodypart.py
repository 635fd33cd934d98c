"""Building blocks of the body-part scenarios (head_neck, arterial_chest, hands_feet).

A body-part study scans one part of the body, not the whole trunk: its builder returns a
`PartModel` (anatomy, the box the scan covers, its own deposit sites and plans, the
physiologic calcifications it shows, its HU table), and generate_part.py turns that into
a study the same way generate.py does for the whole-body scenarios.

Physiologic and incidental calcifications (pineal gland, choroid plexus, falx, laryngeal
and costal cartilage) are clumps drawn like deposits (partial volume, clipped to the
tissue they sit in) but listed apart in truth.json, so tests can check that a detector
does not report them as calcinosis.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.phantom.anatomy import Anatomy
from pipeline.phantom.deposits import Clump, DepositMask
from pipeline.phantom.grid import Grid
from pipeline.phantom.labels import HUTable, T
from pipeline.phantom.placement import DepositPlan
from pipeline.phantom.scene import Layers, Op
from pipeline.phantom.sdf import Box, Capsule, Ellipsoid, vec
from pipeline.phantom.sites import Site
from pipeline.phantom.sizes import SizePreset


@dataclass(frozen=True)
class IncidentalPlan:
    """A physiologic / incidental calcification: not calcinosis, but dense like it."""

    kind: str  # intracranial_physiologic | laryngotracheal_cartilage | costal_cartilage
    name: str  # pineal_gland, choroid_plexus_left, falx, thyroid_cartilage_right, ...
    region: str
    clump: Clump
    allowed: frozenset[int]  # tissue it lies in (its mask is clipped to these labels)
    density_hu: float


@dataclass
class PlacedIncidental:
    number: int  # value in truth_incidental.nii.gz
    plan: IncidentalPlan
    dm: DepositMask
    centroid_body: np.ndarray


@dataclass(frozen=True)
class MetalPart:
    """A metal object (sternal wire): drawn as METAL once the grid is known, so that a
    thin wire stays one connected voxel line on any grid."""

    kind: str
    name: str
    points: tuple[np.ndarray, ...]  # closed loop or polyline (body frame, mm)
    radius_mm: float


@dataclass
class PartModel:
    anatomy: Anatomy
    lo: np.ndarray  # body-frame box the scan covers
    hi: np.ndarray
    body_part: str  # DICOM BodyPartExamined
    sites: dict[str, Site]
    plans: list[DepositPlan]
    table: HUTable
    incidental: list[IncidentalPlan] = field(default_factory=list)
    metal: list[MetalPart] = field(default_factory=list)
    streak_hu: float = 0.0  # amplitude of metal streaks (0: none)
    fine: bool = False  # a fine grid (hands, feet) instead of the size's matrix
    extra: dict[str, Any] = field(default_factory=dict)  # copied into truth.json


PartBuilder = Callable[[int, np.random.Generator, np.random.Generator], PartModel]

# fine grids of the extremity scans: (pixel mm range, slice mm options) per size
FINE_GRID: dict[str, tuple[tuple[float, float], tuple[float, ...]]] = {
    "small": ((0.68, 0.72), (1.5,)),
    "sample": ((0.6, 0.65), (1.0,)),
    "default": ((0.55, 0.6), (0.8,)),
    "clinical": ((0.5, 0.5), (0.625,)),
}
MIN_DEPOSIT_MM3 = 10.0


def part_grid(model: PartModel, preset: SizePreset, rng: np.random.Generator) -> Grid:
    """A square axial grid round the model's box; fine grids fix the pixel, others the matrix."""
    lo, hi = model.lo, model.hi
    half = 0.5 * float(max(hi[0] - lo[0], hi[1] - lo[1])) + 0.5 * float(rng.uniform(*preset.fov_margin_mm))
    if model.fine:
        (p0, p1), slices = FINE_GRID[preset.name]
        pixel = float(rng.uniform(p0, p1))
        matrix = int(np.ceil(2 * half / pixel / 2) * 2)
    else:
        slices = preset.slice_mm
        matrix = int(rng.choice(preset.matrices))
    dx = round(2 * half / matrix, 4)
    dz = float(rng.choice(slices))
    z0 = float(lo[2]) - float(rng.uniform(0, 4))
    nz = int(np.ceil((float(hi[2]) - z0) / dz)) + 1
    cx = 0.5 * float(lo[0] + hi[0]) + float(rng.uniform(-5, 5))
    cy = 0.5 * float(lo[1] + hi[1]) + float(rng.uniform(-5, 5))
    origin = (cx - dx * (matrix - 1) / 2, cy - dx * (matrix - 1) / 2, z0)
    offset = (
        round(float(rng.uniform(-6, 6)), 2),
        round(float(rng.uniform(120, 160)), 2),
        round(float(rng.uniform(-900, -600)), 2),
    )
    return Grid((nz, matrix, matrix), (dx, dx, dz), origin, offset)


def table_op(half_w: float, z0: float, z1: float) -> list[Op]:
    """The carbon-fibre table top under the body (y > 0), longer than the scan."""
    top = Box(vec([0, 14, (z0 + z1) / 2]), vec([half_w, 13, (z1 - z0) / 2 + 40]), round_mm=6)
    return [Layers(top, ((2.5, T.TABLE_SHELL),), core=T.TABLE_CORE)]


@dataclass(frozen=True)
class Frame:
    """A local frame (u, v, w) placed in the body: anatomy of a hand or foot is written in
    its own axes, then mirrored and placed for each side."""

    origin: np.ndarray
    rot: np.ndarray  # columns: body directions of local u, v, w

    def p(self, u: float, v: float, w: float) -> np.ndarray:
        return self.origin + self.rot @ vec([u, v, w])

    def ell(self, c: tuple[float, float, float], r: tuple[float, float, float]) -> Ellipsoid:
        return Ellipsoid(self.p(*c), vec(r), self.rot)

    def cap(
        self, a: tuple[float, float, float], b: tuple[float, float, float], ra: float, rb: float | None = None
    ) -> Capsule:
        return Capsule(self.p(*a), self.p(*b), ra, rb)

    def box(self, c: tuple[float, float, float], half: tuple[float, float, float], round_mm: float) -> Box:
        return Box(self.p(*c), vec(half), round_mm, self.rot)


def axis_rotation(direction: np.ndarray) -> np.ndarray:
    """Rotation whose first column is `direction` (for clumps elongated along a structure)."""
    d = np.asarray(direction, dtype=float)
    d = d / np.linalg.norm(d)
    helper = np.array([0.0, 0.0, 1.0]) if abs(d[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    e2 = np.cross(d, helper)
    e2 /= np.linalg.norm(e2)
    return np.column_stack([d, e2, np.cross(d, e2)])


def blob(centre: np.ndarray, radii: tuple[float, float, float], rot: np.ndarray | None = None) -> Clump:
    """A one-lobe clump (physiologic calcifications are single smooth nodules or plates)."""
    return Clump((Ellipsoid(np.asarray(centre, dtype=float), vec(radii), np.eye(3) if rot is None else rot),))
