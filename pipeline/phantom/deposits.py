"""Snowball-like deposits: clumps of overlapping ellipsoids ("lobes") and their voxel masks.

Definition of lobes (used in truth.json): a clump is the union of n component ellipsoids.
The generator builds it so that (1) every component overlaps an earlier one (the clump is
one piece), (2) no component's centre lies inside any other component, so each component
makes its own bulge on the surface. `lobes` is the number of components whose centre voxel
lies inside the deposit's final mask (after the mask is clipped to soft tissue), i.e. the
bulges that are really there.

Definition of the mask and volume: a voxel belongs to a deposit when its centre lies inside
the exact (unblurred) clump and its anatomical label is one the deposit may occupy; only
the largest 26-connected piece is kept. volume_mm3 = voxels x voxel volume. CT values use
the clump's partial occupancy of each voxel (3x3x3 supersampling) instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.phantom.grid import Grid, Window
from pipeline.phantom.labels import lut
from pipeline.phantom.sdf import Ellipsoid, Shape, Union

SUPERSAMPLE = 3


@dataclass(frozen=True)
class Clump:
    """A deposit's shape: component ellipsoids, the first one being the core."""

    lobes: tuple[Ellipsoid, ...]

    @property
    def shape(self) -> Shape:
        return Union(self.lobes) if len(self.lobes) > 1 else self.lobes[0]

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.shape.bounds()

    def scaled(self, factor: float) -> Clump:
        """The same clump `factor` times larger, about the core's centre."""
        c0 = self.lobes[0].center
        return Clump(
            tuple(
                Ellipsoid(c0 + (lobe.center - c0) * factor, lobe.radii * factor, lobe.rot)
                for lobe in self.lobes
            )
        )

    def volume(self, resolution: int = 40) -> float:
        """Volume of the union, on a `resolution`^3 grid over its box."""
        lo, hi = self.bounds()
        step = (hi - lo) / resolution
        grid = Grid((resolution,) * 3, tuple(step), tuple(lo + step / 2))  # type: ignore[arg-type]
        inside = self.shape.sdf(grid.full) < 0
        return float(inside.sum() * np.prod(step))


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def _ellipsoid(
    rng: np.random.Generator, centre: np.ndarray, r: float, rot: np.ndarray | None = None
) -> Ellipsoid:
    ratios = np.array([1.0, rng.uniform(0.75, 1.0), rng.uniform(0.65, 1.0)])
    return Ellipsoid(centre, r * ratios, random_rotation(rng) if rot is None else rot)


def make_clump(
    rng: np.random.Generator,
    centre: np.ndarray,
    volume_mm3: float,
    n_lobes: int,
    stretch: tuple[np.ndarray, float] | None = None,
) -> Clump:
    """A clump of `n_lobes` components round `centre`, scaled to `volume_mm3`.

    `stretch` = (direction, factor) elongates the clump along a direction (tendons,
    plaques in a vessel wall) by spreading the lobes along it.
    """
    lobes = [_ellipsoid(rng, centre, 1.0)]
    tries = 0
    while len(lobes) < n_lobes and tries < 400:
        tries += 1
        parent = lobes[0] if (len(lobes) < 4 or rng.random() < 0.5) else lobes[int(rng.integers(len(lobes)))]
        r_parent = float(parent.radii.min())
        r = r_parent * rng.uniform(0.5, 0.85)
        direction = rng.normal(size=3)
        if stretch is not None:
            axis, factor = stretch
            direction = direction + axis * (factor - 1) * np.sign(direction @ axis + 1e-9) * 1.5
        direction /= np.linalg.norm(direction)
        dist = float(parent.radii.max()) + r * rng.uniform(0.1, 0.45)
        if dist >= r_parent + r * 0.95:
            dist = r_parent + r * 0.7
        cand = _ellipsoid(rng, parent.center + direction * dist, r)
        if _separate(cand, lobes):
            lobes.append(cand)
    clump = Clump(tuple(lobes))
    return clump.scaled((volume_mm3 / clump.volume()) ** (1 / 3))


def _separate(cand: Ellipsoid, lobes: list[Ellipsoid]) -> bool:
    """The new lobe's centre is outside every lobe, no lobe centre is inside it, and it
    overlaps at least one lobe."""
    centres = np.array([lobe.center for lobe in lobes])
    if cand.contains(centres).any():
        return False
    if any(lobe.contains(cand.center[None])[0] for lobe in lobes):
        return False
    overlaps = [
        float(np.linalg.norm(lobe.center - cand.center)) < float(lobe.radii.min() + cand.radii.min()) * 0.98
        for lobe in lobes
    ]
    return any(overlaps)


@dataclass
class DepositMask:
    """A deposit drawn on a grid: boolean mask and occupancy inside `window`."""

    window: Window
    mask: np.ndarray
    occupancy: np.ndarray

    @property
    def n_voxels(self) -> int:
        return int(self.mask.sum())


def draw(
    clump: Clump,
    grid: Grid,
    labels: np.ndarray,
    allowed: frozenset[int],
    margin_mm: float = 0.0,
    keep_largest: bool = True,
) -> DepositMask | None:
    """Mask (voxel centres inside the clump, on allowed labels, largest piece) and
    partial-volume occupancy of `clump` on `grid`."""
    lo, hi = clump.bounds()
    pad = np.asarray(grid.spacing) + margin_mm
    win = grid.window(lo - pad, hi + pad)
    if win is None:
        return None
    ok = lut(allowed)[labels[win.slices]]
    mask = (clump.shape.sdf(win) < 0) & ok
    if keep_largest and mask.any():
        comp, n = ndimage.label(mask, structure=np.ones((3, 3, 3), dtype=bool))
        if n > 1:
            sizes = ndimage.sum_labels(mask, comp, index=np.arange(1, n + 1))
            mask = comp == (int(np.argmax(sizes)) + 1)
    near = ndimage.binary_dilation(mask, structure=np.ones((3, 3, 3), dtype=bool)) & ok
    occ = occupancy(clump, grid, win) * near
    return DepositMask(win, mask, occ.astype(np.float32))


def occupancy(clump: Clump, grid: Grid, win: Window) -> np.ndarray:
    """Fraction of each voxel of `win` inside the clump (SUPERSAMPLE^3 samples per voxel)."""
    n = SUPERSAMPLE
    offs = (np.arange(n) - (n - 1) / 2) / n
    axes = []
    for axis, step in zip((win.x.ravel(), win.y.ravel(), win.z.ravel()), grid.spacing, strict=True):
        axes.append((axis[:, None] + offs[None, :] * step).ravel().astype(np.float32))
    fine = Window(
        slices=(slice(0, len(axes[2])), slice(0, len(axes[1])), slice(0, len(axes[0]))),
        x=axes[0].reshape(1, 1, -1),
        y=axes[1].reshape(1, -1, 1),
        z=axes[2].reshape(-1, 1, 1),
    )
    inside = (clump.shape.sdf(fine) < 0).astype(np.float32)
    nz, ny, nx = win.shape
    return inside.reshape(nz, n, ny, n, nx, n).mean(axis=(1, 3, 5))


def lobes_in_mask(clump: Clump, grid: Grid, dm: DepositMask) -> int:
    """Components whose centre voxel lies inside the final mask (see the module docstring)."""
    count = 0
    origin = np.array([dm.window.x.ravel()[0], dm.window.y.ravel()[0], dm.window.z.ravel()[0]])
    for lobe in clump.lobes:
        i, j, k = np.rint((lobe.center - origin) / np.asarray(grid.spacing)).astype(int)
        if (
            0 <= k < dm.mask.shape[0]
            and 0 <= j < dm.mask.shape[1]
            and 0 <= i < dm.mask.shape[2]
            and dm.mask[k, j, i]
        ):
            count += 1
    return count
