"""Putting deposits into the rendered anatomy so that every rule of their site holds.

A centre is drawn among the voxels of the site's host tissue near its anchor (far enough
from bone, deep enough inside the organ, away from earlier deposits); the clump is built
there, clipped to the tissues it may occupy, and kept only if the checks pass (mask not
empty, centroid inside the mask, enough of it in the host, bone distance within the
site's range). Otherwise it tries again, smaller and elsewhere.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.phantom.anatomy import Anatomy
from pipeline.phantom.deposits import Clump, DepositMask, draw, lobes_in_mask, make_clump
from pipeline.phantom.grid import Grid, Window
from pipeline.phantom.labels import BONE_LABELS, T, lut
from pipeline.phantom.sdf import Ellipsoid
from pipeline.phantom.sites import SITES, Site
from pipeline.phantom.vessels import aorta_points

BONE_LUT = lut(BONE_LABELS | {T.METAL})
SEPARATION_VOXELS = 2
MIDLINE_MM = 20.0  # |x - midline| below this is "midline"


@dataclass(frozen=True)
class DepositPlan:
    """One deposit a scenario asks for: where, how big (mm3), how many lobes, how dense."""

    site: str
    side: int  # +1 left, -1 right (ignored by unsided sites)
    volume: tuple[float, float]
    lobes: tuple[int, int]
    density: tuple[float, float] = (400.0, 1000.0)


@dataclass
class PlacedDeposit:
    number: int  # label value in the truth mask
    plan: DepositPlan
    site: Site
    clump: Clump
    density_hu: float
    dm: DepositMask
    lobes: int
    centroid_body: np.ndarray

    @property
    def id(self) -> str:
        return f"D{self.number}"

    @property
    def laterality(self) -> str:
        return laterality_of(float(self.centroid_body[0]))


def laterality_of(x_body: float) -> str:
    """The patient's side of a point from its distance to the body midline (x = 0)."""
    if x_body > MIDLINE_MM:
        return "left"
    if x_body < -MIDLINE_MM:
        return "right"
    return "midline"


class Placer:
    """Places deposits one after another on one rendered CT grid."""

    def __init__(
        self,
        anatomy: Anatomy,
        grid: Grid,
        labels: np.ndarray,
        rng: np.random.Generator,
        min_voxels_volume: float = 0.7,
        sites: dict[str, Site] | None = None,
        min_mm3: float = 0.0,
    ) -> None:
        self.anatomy, self.grid, self.labels, self.rng = anatomy, grid, labels, rng
        self.sites = SITES if sites is None else sites
        self.min_mm3 = min_mm3  # smallest mask volume kept (body-part scenarios promise a floor)
        self.min_volume = min_voxels_volume * grid.voxel_volume
        self.occupied = np.zeros(labels.shape, dtype=bool)
        self.placed: list[PlacedDeposit] = []
        self.min_voxels = 1
        self.failures: Counter[str] = Counter()  # why attempts were rejected (diagnostics)

    def place_all(self, plans: list[DepositPlan]) -> list[PlacedDeposit]:
        for plan in plans:
            dep = self.place(plan)
            if dep is not None:
                self.placed.append(dep)
                self._occupy(dep.dm)
        return self.placed

    def place(self, plan: DepositPlan) -> PlacedDeposit | None:
        site = self.sites[plan.site]
        lo_v = max(plan.volume[0], self.min_volume)
        hi_v = max(plan.volume[1], lo_v * 1.5)
        for attempt in range(16):
            shrink = 0.8 ** max(0, attempt - 7)
            vol = float(np.exp(self.rng.uniform(np.log(lo_v), np.log(hi_v)))) * shrink
            vol = max(vol, lo_v)
            dep = self._try(plan, site, vol)
            if dep is not None:
                return dep
        return None

    def _try(self, plan: DepositPlan, site: Site, volume: float) -> PlacedDeposit | None:
        rng, grid = self.rng, self.grid
        r_eff = float((3 * volume / (4 * np.pi)) ** (1 / 3))
        anchor = site.anchor(self.anatomy, plan.side, rng)
        centre = self._centre(site, anchor, r_eff)
        if centre is None:
            return self._fail("no centre")
        n_lobes = int(rng.integers(plan.lobes[0], plan.lobes[1] + 1))
        clump = self._build(site, centre, volume, n_lobes)
        gap_min = site.bone_gap[0] if site.bone_gap else 0.0
        dm = draw(clump, grid, self.labels, site.allowed, margin_mm=gap_min + 2)
        if dm is None or dm.n_voxels < self.min_voxels:
            return self._fail("too few voxels")
        if gap_min > 0:
            dm = self._clip_near_bone(dm, gap_min)
            if dm.n_voxels < self.min_voxels:
                return self._fail("too few voxels off bone")
        reason = self._checks(site, dm)
        if reason:
            return self._fail(reason)
        lobes = lobes_in_mask(clump, grid, dm)
        centroid = self._centroid(dm)
        if lobes < 1:
            return self._fail("no lobe centre in mask")
        if centroid is None:
            return self._fail("centroid outside mask")
        density = float(rng.uniform(*plan.density))
        return PlacedDeposit(len(self.placed) + 1, plan, site, clump, density, dm, lobes, centroid)

    # --- the steps ---------------------------------------------------------------------

    def _centre(self, site: Site, anchor: np.ndarray, r_eff: float) -> np.ndarray | None:
        """A random host voxel near the anchor that satisfies the site's distances."""
        grid = self.grid
        half = site.search_mm + 2 * r_eff + 15
        win = grid.window(anchor - half, anchor + half)
        if win is None:
            return None
        lab = self.labels[win.slices]
        host = lut(site.hosts)[lab]
        near = (
            (np.abs(win.x - anchor[0]) <= site.search_mm)
            & (np.abs(win.y - anchor[1]) <= site.search_mm)
            & (np.abs(win.z - anchor[2]) <= site.search_mm)
        )
        cand = host & near & ~self.occupied[win.slices]
        if site.bone_gap is not None:
            gmin, gmax = site.bone_gap
            dist = self._bone_distance(win)
            lo = gmin + (0.6 * r_eff if site.kind == "clump" else 0.0)
            cand &= (dist >= lo) & (dist <= gmax + r_eff)
        if site.host_depth > 0:
            depth = ndimage.distance_transform_edt(host, sampling=self._sampling())
            cand &= depth >= site.host_depth * r_eff + min(grid.spacing)
        idx = np.flatnonzero(cand)
        if idx.size == 0:
            return None
        k, j, i = np.unravel_index(int(idx[self.rng.integers(idx.size)]), cand.shape)
        return np.array([win.x.ravel()[i], win.y.ravel()[j], win.z.ravel()[k]], dtype=float)

    def _build(self, site: Site, centre: np.ndarray, volume: float, n_lobes: int) -> Clump:
        rng = self.rng
        if site.kind == "plaque":
            return self._plaque(centre, volume, n_lobes)
        if site.kind == "tendon":
            axis = self._tendon_axis(site, centre)
            return make_clump(rng, centre, volume, n_lobes, stretch=(axis, 1.8))
        return make_clump(rng, centre, volume, n_lobes)

    def _plaque(self, centre: np.ndarray, volume: float, n_lobes: int) -> Clump:
        """Thin curved plates in the aortic wall: thin radially, long along the vessel."""
        pts = np.array(aorta_points(self.anatomy.layout)[0])
        zs = pts[:, 2]
        order = np.argsort(zs)
        axis_c = np.array([np.interp(centre[2], zs[order], pts[order][:, i]) for i in range(3)])
        n = centre - axis_c
        n[2] = 0
        n = n / max(np.linalg.norm(n), 1e-6)
        t = np.cross(np.array([0.0, 0.0, 1.0]), n)
        rot = np.column_stack([n, t, [0.0, 0.0, 1.0]])
        lobes = []
        for m in range(max(1, n_lobes)):
            c = centre + np.array([0.0, 0.0, 1.0]) * (m * 4.5) + t * self.rng.uniform(-1.5, 1.5)
            lobes.append(Ellipsoid(c, np.array([1.3, 3.2, 3.8]) * self.rng.uniform(0.85, 1.15, 3), rot))
        clump = Clump(tuple(lobes))
        return clump.scaled((volume / clump.volume()) ** (1 / 3) if clump.volume() > 0 else 1.0)

    def _tendon_axis(self, site: Site, centre: np.ndarray) -> np.ndarray:
        if site.name.startswith("supraspinatus"):
            d = np.array([np.sign(centre[0]), 0.0, -0.3])
        else:
            d = np.array([0.15 * np.sign(centre[0]), 0.0, 1.0])
        return d / np.linalg.norm(d)

    def _clip_near_bone(self, dm: DepositMask, gap: float) -> DepositMask:
        dist = self._bone_distance(dm.window)
        mask = dm.mask & (dist >= gap)
        if mask.any():
            comp, n = ndimage.label(mask, structure=np.ones((3, 3, 3), dtype=bool))
            if n > 1:
                sizes = ndimage.sum_labels(mask, comp, index=np.arange(1, n + 1))
                mask = comp == (int(np.argmax(sizes)) + 1)
        occ = dm.occupancy * (dist >= gap * 0.5)
        return DepositMask(dm.window, mask, occ.astype(np.float32))

    def _fail(self, reason: str) -> None:
        self.failures[reason] += 1
        return None

    def _checks(self, site: Site, dm: DepositMask) -> str | None:
        """Why the drawn deposit breaks its site's rules, or None when it keeps them."""
        lab = self.labels[dm.window.slices][dm.mask]
        if self.occupied[dm.window.slices][dm.mask].any():
            return "touches another deposit"
        if dm.n_voxels * self.grid.voxel_volume < self.min_mm3:
            return "smaller than the floor"
        if lut(site.hosts)[lab].mean() < site.min_host_fraction:
            return "too little in host tissue"
        if site.bone_gap is not None:
            gmin, gmax = site.bone_gap
            dist = self._bone_distance(dm.window)[dm.mask]
            gmax_eff = max(gmax, 1.01 * max(self.grid.spacing))
            if dist.min() > gmax_eff:
                return "too far from bone"
            if dist.min() < gmin:
                return "too close to bone"
        return None

    def _centroid(self, dm: DepositMask) -> np.ndarray | None:
        """Mean position of the mask voxels, if the voxel nearest to it is in the mask."""
        k, j, i = np.nonzero(dm.mask)
        ck, cj, ci = k.mean(), j.mean(), i.mean()
        rk, rj, ri = (int(np.rint(v)) for v in (ck, cj, ci))
        if not dm.mask[rk, rj, ri]:
            return None
        w = dm.window
        sp = self.grid.spacing
        return np.array(
            [w.x.ravel()[0] + ci * sp[0], w.y.ravel()[0] + cj * sp[1], w.z.ravel()[0] + ck * sp[2]]
        )

    def _bone_distance(self, win: Window) -> np.ndarray:
        """Distance (mm) from each voxel of `win` to the nearest bone or metal voxel, looking
        up to 20 mm beyond the window."""
        grid = self.grid
        pad = 20.0
        lo = np.array([win.x.ravel()[0], win.y.ravel()[0], win.z.ravel()[0]]) - pad
        hi = np.array([win.x.ravel()[-1], win.y.ravel()[-1], win.z.ravel()[-1]]) + pad
        big = grid.window(lo, hi)
        assert big is not None
        bone = BONE_LUT[self.labels[big.slices]]
        if not bone.any():
            return np.full(win.shape, 1e3, dtype=np.float32)
        dist = ndimage.distance_transform_edt(~bone, sampling=self._sampling())
        sl = tuple(
            slice(w.start - b.start, w.stop - b.start) for w, b in zip(win.slices, big.slices, strict=True)
        )
        return dist[sl].astype(np.float32)

    def _sampling(self) -> tuple[float, float, float]:
        dx, dy, dz = self.grid.spacing
        return (dz, dy, dx)

    def _occupy(self, dm: DepositMask) -> None:
        """Mark the deposit and SEPARATION_VOXELS round it as taken."""
        n = SEPARATION_VOXELS + 1
        padded = np.pad(dm.mask, n)
        grown = ndimage.binary_dilation(padded, structure=np.ones((3, 3, 3), dtype=bool), iterations=n)
        src, dst = [], []
        for sl, size in zip(dm.window.slices, self.occupied.shape, strict=True):
            start, stop = sl.start - n, sl.stop + n
            lo, hi = max(start, 0), min(stop, size)
            dst.append(slice(lo, hi))
            src.append(slice(lo - start, hi - start))
        self.occupied[tuple(dst)] |= grown[tuple(src)]
