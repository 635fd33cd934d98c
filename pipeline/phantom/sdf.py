"""Implicit shapes: signed distance functions (negative inside, mm) with bounding boxes.

Anatomy is built from these instead of voxel masks because an SDF can be drawn on any grid
(CT or a radiograph's fine grid), gives cortical shells and tissue layers by thresholding
(-t < d < 0), and only needs evaluating inside the shape's box. Distances of ellipsoids and
super-ellipses are first-order approximations, exact on the surface, which is all the
layering needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from pipeline.phantom.grid import Window

BIG = np.float32(1e4)


def vec(p: Sequence[float]) -> np.ndarray:
    return np.asarray(p, dtype=np.float64)


class Shape:
    """Base class: `sdf(win)` gives distances on a window, `bounds()` the box (mm)."""

    def sdf(self, win: Window) -> np.ndarray:
        raise NotImplementedError

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def contains(self, p: np.ndarray) -> np.ndarray:
        """Whether body-frame points (N, 3) lie inside (used for lobe and landmark checks)."""
        p = np.atleast_2d(np.asarray(p, dtype=np.float32))
        out = np.empty(len(p), dtype=bool)
        for n, q in enumerate(p):
            win = Window(
                slices=(slice(0, 1),) * 3,
                x=q[0].reshape(1, 1, 1),
                y=q[1].reshape(1, 1, 1),
                z=q[2].reshape(1, 1, 1),
            )
            out[n] = float(self.sdf(win).ravel()[0]) < 0
        return out


def _full(win: Window, value: np.float32 = BIG) -> np.ndarray:
    return np.full(win.shape, value, dtype=np.float32)


@dataclass(frozen=True)
class Sphere(Shape):
    center: np.ndarray
    radius: float

    def sdf(self, win: Window) -> np.ndarray:
        c = self.center
        d2 = (
            (win.x - np.float32(c[0])) ** 2
            + (win.y - np.float32(c[1])) ** 2
            + (win.z - np.float32(c[2])) ** 2
        )
        return np.broadcast_to(np.sqrt(d2) - np.float32(self.radius), win.shape).astype(np.float32)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.center - self.radius, self.center + self.radius


def rotation(yaw_deg: float = 0.0, pitch_deg: float = 0.0, roll_deg: float = 0.0) -> np.ndarray:
    """Rotation about z (yaw), then y (pitch), then x (roll); columns are the local axes."""
    a, b, c = np.radians([yaw_deg, pitch_deg, roll_deg])
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rx = np.array([[1, 0, 0], [0, np.cos(c), -np.sin(c)], [0, np.sin(c), np.cos(c)]])
    return rz @ ry @ rx


@dataclass(frozen=True)
class Ellipsoid(Shape):
    """Ellipsoid with semi-axes `radii` along the columns of `rot` (identity: x, y, z)."""

    center: np.ndarray
    radii: np.ndarray
    rot: np.ndarray = field(default_factory=lambda: np.eye(3))

    def local(self, win: Window) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        c = self.center
        dx, dy, dz = win.x - np.float32(c[0]), win.y - np.float32(c[1]), win.z - np.float32(c[2])
        r = self.rot.astype(np.float32)
        return (
            dx * r[0, 0] + dy * r[1, 0] + dz * r[2, 0],
            dx * r[0, 1] + dy * r[1, 1] + dz * r[2, 1],
            dx * r[0, 2] + dy * r[1, 2] + dz * r[2, 2],
        )

    def sdf(self, win: Window) -> np.ndarray:
        u, v, w = self.local(win)
        a, b, c = (np.float32(r) for r in self.radii)
        k0 = np.sqrt((u / a) ** 2 + (v / b) ** 2 + (w / c) ** 2)
        k1 = np.sqrt((u / (a * a)) ** 2 + (v / (b * b)) ** 2 + (w / (c * c)) ** 2)
        # the first-order distance is 0/0 at the very centre: use minus the smallest radius
        d = np.where(k1 > 1e-6, k0 * (k0 - 1) / np.maximum(k1, np.float32(1e-6)), -min(a, b, c))
        return np.broadcast_to(d, win.shape).astype(np.float32)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        half = np.sqrt(((self.rot * self.radii) ** 2).sum(axis=1))
        return self.center - half, self.center + half


@dataclass(frozen=True)
class Capsule(Shape):
    """Segment a-b swept by a sphere whose radius goes linearly from ra to rb."""

    a: np.ndarray
    b: np.ndarray
    ra: float
    rb: float | None = None

    def sdf(self, win: Window) -> np.ndarray:
        a, b = self.a.astype(np.float32), self.b.astype(np.float32)
        rb = self.ra if self.rb is None else self.rb
        ab = b - a
        L2 = np.float32(max(float(ab @ ab), 1e-9))
        px, py, pz = win.x - a[0], win.y - a[1], win.z - a[2]
        t = np.clip((px * ab[0] + py * ab[1] + pz * ab[2]) / L2, 0, 1)
        d = np.sqrt((px - t * ab[0]) ** 2 + (py - t * ab[1]) ** 2 + (pz - t * ab[2]) ** 2)
        return (d - (np.float32(self.ra) + np.float32(rb - self.ra) * t)).astype(np.float32)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        r = max(self.ra, self.rb or self.ra)
        return np.minimum(self.a, self.b) - r, np.maximum(self.a, self.b) + r


@dataclass(frozen=True)
class ZCylinder(Shape):
    """Elliptic cylinder along z (vertebral bodies, discs, canal), flat ends."""

    center: np.ndarray
    rx: float
    ry: float
    half_height: float

    def sdf(self, win: Window) -> np.ndarray:
        c = self.center.astype(np.float32)
        rho = np.sqrt(
            ((win.x - c[0]) / np.float32(self.rx)) ** 2 + ((win.y - c[1]) / np.float32(self.ry)) ** 2
        )
        dr = (rho - 1) * np.float32(min(self.rx, self.ry))
        dz = np.abs(win.z - c[2]) - np.float32(self.half_height)
        return _combine_extrusion(dr, dz, win)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        half = np.array([self.rx, self.ry, self.half_height])
        return self.center - half, self.center + half


def _combine_extrusion(dr: np.ndarray, dz: np.ndarray, win: Window) -> np.ndarray:
    outside = np.sqrt(np.maximum(dr, 0) ** 2 + np.maximum(dz, 0) ** 2)
    return np.broadcast_to(outside + np.minimum(np.maximum(dr, dz), 0), win.shape).astype(np.float32)


@dataclass(frozen=True)
class Box(Shape):
    """Box with rounded edges (radius `round_mm`), axes along the columns of `rot`."""

    center: np.ndarray
    half: np.ndarray
    round_mm: float = 0.0
    rot: np.ndarray = field(default_factory=lambda: np.eye(3))

    def sdf(self, win: Window) -> np.ndarray:
        u, v, w = Ellipsoid(self.center, self.half, self.rot).local(win)
        r = np.float32(self.round_mm)
        qx = np.abs(u) - np.float32(self.half[0]) + r
        qy = np.abs(v) - np.float32(self.half[1]) + r
        qz = np.abs(w) - np.float32(self.half[2]) + r
        outside = np.sqrt(np.maximum(qx, 0) ** 2 + np.maximum(qy, 0) ** 2 + np.maximum(qz, 0) ** 2)
        inside = np.minimum(np.maximum(np.maximum(qx, qy), qz), 0)
        return np.broadcast_to(outside + inside - r, win.shape).astype(np.float32)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        half = np.abs(self.rot) @ self.half
        return self.center - half, self.center + half


@dataclass(frozen=True)
class Profile:
    """A quantity that varies piecewise-linearly with z (body outline, fat thickness)."""

    z: np.ndarray
    v: np.ndarray

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return np.interp(z, self.z, self.v).astype(np.float32)

    def shifted(self, dv: Profile | float) -> Profile:
        extra = dv(self.z) if isinstance(dv, Profile) else dv
        return Profile(self.z, self.v + extra)


@dataclass(frozen=True)
class SuperEllipseZ(Shape):
    """Stack of super-ellipses along z: |x-cx|^p/a^p + |y-cy|^p/b^p = 1, capped at z0, z1.

    The trunk and the body cavities are drawn with this; a, b, cy and p vary with z.
    """

    a: Profile
    b: Profile
    cy: Profile
    p: Profile
    z0: float
    z1: float
    cx: float = 0.0

    def sdf(self, win: Window) -> np.ndarray:
        z = win.z
        a, b, cy, p = self.a(z), self.b(z), self.cy(z), self.p(z)
        ux = np.maximum(np.abs(win.x - np.float32(self.cx)), 1e-3) / a
        uy = np.maximum(np.abs(win.y - cy), 1e-3) / b
        f = ux**p + uy**p
        rho = f ** (1 / p)
        # gradient of the 1-homogeneous rho gives a first-order distance
        gx = rho ** (1 - p) * ux ** (p - 1) / a
        gy = rho ** (1 - p) * uy ** (p - 1) / b
        dr = (rho - 1) / np.sqrt(gx * gx + gy * gy)
        dz = np.maximum(np.float32(self.z0) - z, z - np.float32(self.z1))
        return _combine_extrusion(dr, dz, win)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        zs = np.linspace(self.z0, self.z1, 64)
        a, b, cy = self.a(zs), self.b(zs), self.cy(zs)
        lo = np.array([self.cx - a.max(), (cy - b).min(), self.z0])
        hi = np.array([self.cx + a.max(), (cy + b).max(), self.z1])
        return lo, hi


@dataclass(frozen=True)
class Union(Shape):
    """Union of children, smooth (blend radius k mm) when k > 0; children evaluated in their boxes."""

    children: tuple[Shape, ...]
    k: float = 0.0

    def sdf(self, win: Window) -> np.ndarray:
        out = _full(win)
        for child in self.children:
            lo, hi = child.bounds()
            found = win.sub(lo - self.k - 1, hi + self.k + 1)
            if found is None:
                continue
            local, sub = found
            out[local] = smin(out[local], child.sdf(sub), self.k)
        return out

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        boxes = [c.bounds() for c in self.children]
        return np.min([b[0] for b in boxes], axis=0), np.max([b[1] for b in boxes], axis=0)


def smin(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum: min(a, b) with a fillet of radius ~k."""
    if k <= 0:
        return np.minimum(a, b)
    k32 = np.float32(k)
    h = np.clip(0.5 + 0.5 * (b - a) / k32, 0, 1)
    return (b + (a - b) * h - k32 * h * (1 - h)).astype(np.float32)


@dataclass(frozen=True)
class Intersect(Shape):
    a: Shape
    b: Shape

    def sdf(self, win: Window) -> np.ndarray:
        return np.maximum(self.a.sdf(win), self.b.sdf(win))

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        (la, ha), (lb, hb) = self.a.bounds(), self.b.bounds()
        return np.maximum(la, lb), np.minimum(ha, hb)


@dataclass(frozen=True)
class Subtract(Shape):
    """`a` with `b` cut away."""

    a: Shape
    b: Shape

    def sdf(self, win: Window) -> np.ndarray:
        return np.maximum(self.a.sdf(win), -self.b.sdf(win))

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.a.bounds()


@dataclass(frozen=True)
class HalfSpace(Shape):
    """Points on the side of the plane opposite to `normal` (n . (p - point) < 0)."""

    point: np.ndarray
    normal: np.ndarray

    def sdf(self, win: Window) -> np.ndarray:
        n = self.normal / np.linalg.norm(self.normal)
        d = (
            (win.x - np.float32(self.point[0])) * np.float32(n[0])
            + (win.y - np.float32(self.point[1])) * np.float32(n[1])
            + (win.z - np.float32(self.point[2])) * np.float32(n[2])
        )
        return np.broadcast_to(d, win.shape).astype(np.float32)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.full(3, -1e5), np.full(3, 1e5)


@dataclass(frozen=True)
class Offset(Shape):
    """`shape` grown by `d` mm (shrunk when d < 0)."""

    shape: Shape
    d: float

    def sdf(self, win: Window) -> np.ndarray:
        return self.shape.sdf(win) - np.float32(self.d)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.shape.bounds()
        g = max(self.d, 0.0)
        return lo - g, hi + g


def chain(points: Sequence[Sequence[float]], radii: Sequence[float] | float) -> Union:
    """Capsules through consecutive points: ribs, clavicles, vessels, bowel loops."""
    pts = [vec(p) for p in points]
    rs = [float(radii)] * len(pts) if np.isscalar(radii) else [float(r) for r in radii]  # type: ignore[arg-type]
    return Union(tuple(Capsule(pts[i], pts[i + 1], rs[i], rs[i + 1]) for i in range(len(pts) - 1)))
