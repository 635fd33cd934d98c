"""Body outline, skin, subcutaneous fat, muscle and the patient table.

The outline is one smooth union of trunk, thighs, shoulders (and neck and head) plus the
arms, so skin and fat follow it without seams; muscle is then painted part by part, each
part inset by its own fat thickness, and the trunk's cavity is cut inside the muscle wall.
"""

from __future__ import annotations

import itertools

import numpy as np

from pipeline.phantom.labels import T
from pipeline.phantom.layout import Layout, Limb
from pipeline.phantom.scene import Fill, Layers, Op
from pipeline.phantom.sdf import (
    Box,
    Capsule,
    Ellipsoid,
    Profile,
    Shape,
    SuperEllipseZ,
    Union,
    vec,
)


def trunk(lay: Layout, inset: Profile | float = 0.0) -> SuperEllipseZ:
    """The trunk outline, optionally shrunk by `inset` mm all round."""
    d = inset if isinstance(inset, Profile) else Profile(lay.trunk_a.z, np.full(len(lay.trunk_a.z), inset))
    a = lay.trunk_a.shifted(Profile(d.z, -d.v))
    b = lay.trunk_b.shifted(Profile(d.z, -d.v))
    top = 700 * lay.s if lay.p.with_head else 650 * lay.s
    return SuperEllipseZ(a=a, b=b, cy=lay.trunk_cy(), p=lay.trunk_p, z0=float(lay.trunk_a.z[0]), z1=top)


def cavity(lay: Layout) -> SuperEllipseZ:
    z0, z1 = lay.cavity_z
    p = Profile(lay.cavity_a.z, np.full(len(lay.cavity_a.z), 2.2))
    return SuperEllipseZ(a=lay.cavity_a, b=lay.cavity_b, cy=lay.cavity_cy, p=p, z0=z0, z1=z1)


def thigh(lay: Layout, side: str, inset: float = 0.0) -> Capsule:
    h = lay.hips[side]
    r0, r1 = h.thigh_radius
    bottom = h.thigh_top + vec([h.sg * 5, 10, -470]) * lay.s
    return Capsule(h.thigh_top, bottom, r0 - inset, r1 - inset)


def shoulder_mass(lay: Layout, side: str, inset: float = 0.0) -> Ellipsoid:
    sg = lay.limbs[side].sg
    c = vec([sg * 128 * lay.p.width, -70, 562]) * lay.s
    return Ellipsoid(c, vec([62, 58, 40]) * lay.s - inset)


def arm_parts(lb: Limb, s: float, inset: float = 0.0) -> list[Shape]:
    """Upper arm, forearm, wrist and palm (fingers are separate: no muscle in them)."""
    r_sh, r_el, r_wr = (r - inset for r in lb.arm_radius)
    top = lb.humeral_head + vec([lb.sg * 12, 0, 12]) * s
    return [
        Capsule(top, lb.elbow, r_sh, r_el),
        Capsule(lb.elbow, lb.wrist + vec([0, 0, 25]) * s, r_el, r_wr + 4 * s),
        Ellipsoid(lb.wrist + vec([0, -2, 8]) * s, vec([29, 17, 30]) * s - inset),
        palm(lb, s, inset),
    ]


def palm(lb: Limb, s: float, inset: float = 0.0) -> Shape:
    """Broad at the knuckles, narrower and thicker towards the wrist."""
    distal = Ellipsoid(lb.hand + vec([0, 1, -18]) * s, vec([40, 12.5, 28]) * s - inset)
    proximal = Ellipsoid(lb.hand + vec([-lb.sg * 3, 0, 16]) * s, vec([33, 14, 30]) * s - inset)
    return Union((distal, proximal), k=12 * s)


def arm_outline(lb: Limb, s: float) -> Shape:
    """One arm with its hand (the radiograph keeps only what is inside this)."""
    return Union((*arm_parts(lb, s), *finger_shapes(lb, s)), k=5 * s)


def finger_shapes(lb: Limb, s: float, inset: float = 0.0) -> list[Shape]:
    out: list[Shape] = []
    for f in lb.fingers:
        start = f.joints[0] + (vec([0, 0, 12]) * s if f.number != 1 else vec([lb.sg * 8, 2, 24]) * s)
        pts = (start, *f.joints)
        for a, b in itertools.pairwise(pts):
            out.append(Capsule(a, b, f.radius - inset, f.radius * 0.85 - inset))
    return out


def neck_and_head(lay: Layout) -> list[Shape]:
    s = lay.s
    if not lay.p.with_head:
        return []
    return [
        Capsule(vec([0, -88, 600]) * s, vec([0, -98, 710]) * s, 58 * s, 54 * s),
        head_outline(lay),
        Ellipsoid(vec([0, -148, 728]) * s, vec([56, 52, 62]) * s),
    ]


def head_outline(lay: Layout) -> Ellipsoid:
    return Ellipsoid(vec([0, -105, 790]) * lay.s, vec([76, 96, 92]) * lay.s)


def body_outline(lay: Layout) -> Shape:
    s = lay.s
    core = Union(
        (
            trunk(lay),
            thigh(lay, "left"),
            thigh(lay, "right"),
            shoulder_mass(lay, "left"),
            shoulder_mass(lay, "right"),
            *neck_and_head(lay),
        ),
        k=18 * s,
    )
    arms = [arm_outline(lb, s) for lb in lay.limbs.values()]
    return Union((core, *arms), k=3 * s)


def soft_tissue_ops(lay: Layout) -> list[Op]:
    """Skin and fat everywhere, then muscle part by part, then the trunk's cavity."""
    s, skin = lay.s, lay.skin_mm
    limb_fat = 0.55 * lay.p.fat_mm
    ops: list[Op] = [Layers(body_outline(lay), ((skin, T.SKIN),), core=T.FAT)]
    fat_only = frozenset({T.FAT})
    ops.append(Fill(T.MUSCLE, trunk(lay, lay.fat.shifted(skin)), within=fat_only))
    for side in ("left", "right"):
        ops.append(Fill(T.MUSCLE, thigh(lay, side, skin + 0.8 * lay.p.fat_mm), within=fat_only))
        ops.append(Fill(T.MUSCLE, shoulder_mass(lay, side, skin + 0.5 * lay.p.fat_mm), within=fat_only))
        lb = lay.limbs[side]
        parts = arm_parts(lb, s, skin + limb_fat)
        ops.extend(Fill(T.MUSCLE, part, within=fat_only) for part in parts[:2])
        ops.append(
            Fill(
                T.MUSCLE,
                Ellipsoid(lb.hand + vec([-lb.sg * 18, 6, 8]) * s, vec([12, 7, 22]) * s),
                within=fat_only,
            )
        )
        ops.append(
            Fill(
                T.MUSCLE,
                Ellipsoid(lb.hand + vec([lb.sg * 22, 6, 8]) * s, vec([10, 7, 22]) * s),
                within=fat_only,
            )
        )
    if lay.p.with_head:
        neck = Capsule(vec([0, -88, 600]) * s, vec([0, -98, 700]) * s, 58 * s - skin - 8, 54 * s - skin - 8)
        ops.append(Fill(T.MUSCLE, neck, within=fat_only))
        ops.append(Fill(T.MUSCLE, Ellipsoid(vec([0, -148, 722]) * s, vec([48, 44, 50]) * s), within=fat_only))
    ops.append(Fill(T.VISCERAL_FAT, cavity(lay), within=frozenset({T.MUSCLE})))
    return ops


def table_ops(lay: Layout, z0: float, z1: float) -> list[Op]:
    """A carbon-fibre table top (dense shell, foam core) under the body, longer than the scan."""
    half_w = lay.half_width() + 12
    top = Box(vec([0, 14, (z0 + z1) / 2]), vec([half_w, 13, (z1 - z0) / 2 + 40]), round_mm=6)
    rail = Box(vec([0, 40, (z0 + z1) / 2]), vec([0.4 * half_w, 12, (z1 - z0) / 2 + 40]), round_mm=8)
    return [
        Layers(top, ((2.5, T.TABLE_SHELL),), core=T.TABLE_CORE),
        Layers(rail, ((3.0, T.TABLE_SHELL),), core=T.TABLE_CORE),
    ]
