"""The skeleton: spine, thorax, shoulder girdle, pelvis and the bones of the limbs.

Every bone is a `Bone` op (cortical shell round cancellous bone) so that a bone mask with
hole filling works on the CT as on a real scan; long-bone shafts get a thick dense cortex
round fatty marrow. Joints keep a gap of 2-3 mm between the bones that meet there.
"""

from __future__ import annotations

import itertools

import numpy as np

from pipeline.phantom.labels import T
from pipeline.phantom.layout import Layout, Limb, Vertebra
from pipeline.phantom.scene import Bone, Fill, Op
from pipeline.phantom.sdf import (
    Capsule,
    Ellipsoid,
    HalfSpace,
    Intersect,
    Shape,
    Sphere,
    Subtract,
    Union,
    ZCylinder,
    chain,
    vec,
)


def frame(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotation whose columns are u, v (made orthogonal to u) and u x v."""
    u = u / np.linalg.norm(u)
    v = v - (v @ u) * u
    v = v / np.linalg.norm(v)
    return np.column_stack([u, v, np.cross(u, v)])


def skeleton_ops(lay: Layout) -> list[Op]:
    ops: list[Op] = []
    ops += spine_ops(lay)
    ops += thorax_ops(lay)
    for side in ("left", "right"):
        ops += shoulder_ops(lay, side)
        ops += arm_bone_ops(lay.limbs[side], lay.s)
        ops += pelvis_ops(lay, side)
        ops += femur_ops(lay, side)
    ops += sacrum_ops(lay)
    return ops


# --- spine -------------------------------------------------------------------------------


def drawn_vertebrae(lay: Layout) -> list[Vertebra]:
    return [v for v in lay.spine if lay.p.with_head or v.name[0] != "C" or v.name == "C7"]


def spine_ops(lay: Layout) -> list[Op]:
    verts = drawn_vertebrae(lay)
    s = lay.s
    ops: list[Op] = []
    top = verts[-1].z + 20 * s
    canal = Capsule(vec([0, verts[0].canal_y, 100 * s]), vec([0, verts[-1].canal_y, top]), 8.5 * s, 7.5 * s)
    ops.append(Fill(T.CANAL, canal))
    for lower, upper in itertools.pairwise(verts):
        z0, z1 = lower.z + lower.half_height, upper.z - upper.half_height
        c = vec([0, (lower.y + upper.y) / 2, (z0 + z1) / 2])
        ops.append(Fill(T.DISC, ZCylinder(c, lower.rx * 0.97, lower.ry * 0.97, (z1 - z0) / 2 + 0.6)))
    for v in verts:
        ops.append(Bone(vertebra_shape(v, s), cortex_mm=1.3))
    return ops


def vertebra_shape(v: Vertebra, s: float) -> Shape:
    """Body, pedicles, laminae, spinous and transverse processes of one vertebra."""
    lumbar, cervical = v.name[0] == "L", v.name[0] == "C"
    body = ZCylinder(vec([0, v.y, v.z]), v.rx, v.ry, v.half_height)
    cy = v.canal_y
    r_canal = 8.5 * s
    parts: list[Shape] = [body]
    lam_mid = vec([0, cy + r_canal + 3 * s, v.z])
    spin_len = (30 if lumbar else 14 if cervical else 24) * s
    spin_drop = (4 if lumbar else 16) * s
    tp = v.rx + (16 if lumbar else 10 if cervical else 14) * s
    for sg in (1, -1):
        ped_a = vec([sg * 0.55 * v.rx, v.y + 0.7 * v.ry, v.z])
        ped_b = vec([sg * (r_canal + 2.5 * s), cy, v.z])
        parts.append(Capsule(ped_a, ped_b, 3.6 * s))
        parts.append(Capsule(ped_b, lam_mid + vec([0, 0, -2 * s]), 3.2 * s))
        parts.append(Capsule(ped_b, vec([sg * tp, cy + 4 * s, v.z + (2 if lumbar else 0) * s]), 3.6 * s))
    parts.append(Capsule(lam_mid, lam_mid + vec([0, spin_len, -spin_drop]), 3.5 * s, 3.0 * s))
    return Union(tuple(parts), k=2 * s)


def sacrum_ops(lay: Layout) -> list[Op]:
    s, dp = lay.s, lay.p.depth
    centres = [(0, -88 * dp, 100), (0, -74 * dp, 76), (0, -60 * dp, 50), (0, -52 * dp, 28), (0, -50 * dp, 10)]
    radii = [(46, 17, 16), (42, 15, 16), (33, 12, 15), (22, 10, 12), (10, 7, 9)]
    parts = tuple(Ellipsoid(vec(c) * s, vec(r) * s) for c, r in zip(centres, radii, strict=True))
    return [Bone(Union(parts, k=8 * s), cortex_mm=1.5)]


# --- thorax ------------------------------------------------------------------------------


def sternum_y(lay: Layout, z: float) -> float:
    """AP position of the sternum at height z: just under the anterior fat."""
    zz = np.array(z)
    return float(-2 * lay.trunk_b(zz) + lay.skin_mm + lay.fat(zz) + 10 * lay.s)


# sternal attachment heights of the cartilages of ribs 1-7 (scale 1.0)
_STERNAL_Z = (535, 505, 485, 465, 445, 425, 408)
_JUNCTION_X = (40, 55, 65, 72, 80, 88, 95, 100, 105, 110, 0, 0)
_DROP = (40, 55, 65, 75, 85, 85, 85, 85, 85, 85, 80, 70)


def rib_paths(lay: Layout, sg: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(bony rib points, cartilage points) of ribs 1-12 on one side (cartilage may be empty)."""
    s = lay.s
    out: list[tuple[np.ndarray, np.ndarray]] = []
    prev_cart: np.ndarray | None = None
    for i in range(1, 13):
        v = lay.vertebra(f"T{i}")
        r = 5.5 * s
        start = vec([sg * (v.rx + 14 * s), v.canal_y + 4 * s, v.z])
        z_ref = np.array(v.z)
        A = float(lay.cavity_a(z_ref)) + r + 1
        B = float(lay.cavity_b(z_ref)) + r + 1
        C = float(lay.cavity_cy(z_ref))
        th0 = float(np.arcsin(min(0.95, (v.rx + 40 * s) / A)))
        if i <= 10:
            th_end = np.pi - float(np.arcsin(min(0.95, _JUNCTION_X[i - 1] * s / A)))
        else:
            th_end = (0.62 if i == 11 else 0.5) * np.pi
        th = np.linspace(th0, th_end, 14)
        t = (th - th0) / (th_end - th0)
        z = v.z + 4 * s * np.sin(np.pi * t) - _DROP[i - 1] * s * t**1.4
        bony = np.vstack([start, np.column_stack([sg * A * np.sin(th), C + B * np.cos(th), z])])
        cart = _cartilage(lay, sg, i, A, B, C, th_end, bony[-1], prev_cart)
        if len(cart):
            prev_cart = cart
        out.append((bony, cart))
    return out


def _cartilage(
    lay: Layout,
    sg: int,
    i: int,
    A: float,
    B: float,
    C: float,
    th_j: float,
    junction: np.ndarray,
    prev: np.ndarray | None,
) -> np.ndarray:
    """Costal cartilage from the rib's anterior end to the sternum (ribs 1-7), to the
    cartilage above (8-10), or a short tip (11-12)."""
    s = lay.s
    if i >= 11:
        return np.vstack([junction, junction + 12 * s * np.array([sg * 0.3, -0.95, -0.1])])
    if i <= 7:
        z_end = _STERNAL_Z[i - 1] * s
        end = vec([sg * 15 * s, sternum_y(lay, z_end), z_end])
    else:
        assert prev is not None
        end = prev[int(len(prev) * 0.55)]
    th_end = np.pi - float(np.arcsin(min(0.95, abs(end[0]) / A)))
    th = np.linspace(th_j, th_end, 8)
    t = np.linspace(0, 1, 8)
    pts = np.column_stack([sg * A * np.sin(th), C + B * np.cos(th), junction[2] + (end[2] - junction[2]) * t])
    pts[-1] = end
    return pts


def thorax_ops(lay: Layout) -> list[Op]:
    s = lay.s
    ops: list[Op] = []
    for sg in (1, -1):
        for n, (bony, cart) in enumerate(rib_paths(lay, sg), start=1):
            r = (4.8 if n in (1, 12) else 5.5) * s
            if len(cart):
                ops.append(Fill(T.CARTILAGE, chain(cart, 5.0 * s)))
            ops.append(Bone(chain(bony, r), cortex_mm=1.2))
    ops.append(Bone(sternum_shape(lay), cortex_mm=1.5))
    return ops


def sternum_shape(lay: Layout) -> Shape:
    s = lay.s
    top, xiph = lay.points["sternum_top"], lay.points["xiphoid"]
    zs = np.linspace(top[2] - 8 * s, xiph[2], 8)
    pts = [vec([0, sternum_y(lay, z), z]) for z in zs]
    manubrium = Ellipsoid(vec([0, sternum_y(lay, top[2] - 20 * s), top[2] - 20 * s]), vec([26, 8, 20]) * s)
    body = chain(pts, [8.0 * s] * 6 + [6.0 * s, 4.0 * s])
    return Union((manubrium, body), k=4 * s)


# --- shoulder girdle and arms -----------------------------------------------------------


def back_y(lay: Layout, x: float, z: float, depth: float) -> float:
    """AP position `depth` mm in front of the skin of the back at (x, z)."""
    zz = np.array(z)
    a, b, p = float(lay.trunk_a(zz)), float(lay.trunk_b(zz)), float(lay.trunk_p(zz))
    u = min(abs(x) / a, 0.999)
    return float(-b + b * (1 - u**p) ** (1 / p) - depth)


def shoulder_ops(lay: Layout, side: str) -> list[Op]:
    lb, s = lay.limbs[side], lay.s
    sg = lb.sg
    w = lay.p.width
    zb = 478 * s
    depth = lay.skin_mm + float(lay.fat(np.array(zb))) + 14 * s
    xb = 95 * w * s
    yb = back_y(lay, xb, zb, depth)
    slope = (back_y(lay, xb + 10, zb, depth) - back_y(lay, xb - 10, zb, depth)) / 20
    blade_c = vec([sg * xb, yb, zb])
    rot = frame(vec([sg, slope, 0.0]), vec([0, 0, 1.0]))
    blade = Ellipsoid(blade_c, vec([42, 64, 5]) * s, rot)
    x_sp = 55 * w * s
    spine = Capsule(
        vec([sg * x_sp, back_y(lay, x_sp, 528 * s, depth - 6 * s), 528 * s]),
        lb.acromion + vec([-sg * 16, 8, -6]) * s,
        5.5 * s,
    )
    acromion = Ellipsoid(lb.acromion, vec([19, 17, 5]) * s)
    glenoid = Ellipsoid(lb.glenoid, vec([6, 14, 18]) * s)
    neck = Capsule(lb.glenoid + vec([-sg * 4, 4, -4]) * s, blade_c + rot[:, 0] * 36 * s, 9 * s, 6 * s)
    coracoid = Capsule(
        lb.glenoid + vec([sg * 1, -12, 16]) * s, lb.glenoid + vec([sg * 14, -40, 10]) * s, 5.5 * s, 4.5 * s
    )
    scapula = Union((blade, spine, acromion, glenoid, neck, coracoid), k=4 * s)
    st = lay.points["sternum_top"]
    clav_pts = [
        vec([sg * 20 * s, sternum_y(lay, st[2]) + 3 * s, st[2] + 2 * s]),
        vec([sg * 70 * w * s, sternum_y(lay, st[2]) - 2 * s, st[2] + 8 * s]),
        vec([sg * 115 * w * s, -140 * s, st[2] + 16 * s]),
        lb.acromion + vec([-sg * 20, -12, 0]) * s,
    ]
    return [Bone(scapula, cortex_mm=1.2), Bone(chain(clav_pts, 6.5 * s), cortex_mm=1.5)]


def humerus_shapes(lb: Limb, s: float) -> tuple[Shape, Capsule]:
    sg = lb.sg
    head = Sphere(lb.humeral_head, lb.head_radius)
    gt = Ellipsoid(lb.greater_tuberosity, vec([11, 13, 15]) * s)
    lt = Ellipsoid(lb.humeral_head + vec([sg * 8, -20, -6]) * s, vec([7, 7, 10]) * s)
    neck_pt = lb.humeral_head + vec([sg * 8, 2, -30]) * s
    distal = lb.elbow + vec([0, 0, 14]) * s
    shaft = Capsule(neck_pt, distal + vec([0, 0, 20]) * s, 13 * s, 10.5 * s)
    condyles = Ellipsoid(distal, vec([27, 11, 12]) * s)
    whole = Union((head, gt, lt, Capsule(lb.humeral_head, neck_pt, 17 * s, 13 * s), shaft, condyles), k=5 * s)
    return whole, shaft


def arm_bone_ops(lb: Limb, s: float) -> list[Op]:
    sg = lb.sg
    whole, shaft = humerus_shapes(lb, s)
    mid_shaft = Capsule(
        shaft.a + (shaft.b - shaft.a) * 0.15, shaft.a + (shaft.b - shaft.a) * 0.85, 10.8 * s, 10.3 * s
    )
    ops: list[Op] = [
        Bone(whole, cortex_mm=1.5),
        Bone(mid_shaft, cortex_mm=3.5, cortex=T.CORTEX_DENSE, marrow=mid_shaft),
    ]
    e, w = lb.elbow, lb.wrist
    olecranon = Ellipsoid(e + vec([-sg * 9, 16, 12]) * s, vec([9, 10, 13]) * s)
    ulna = Union(
        (olecranon, Capsule(e + vec([-sg * 9, 4, -4]) * s, w + vec([sg * 11, 0, 10]) * s, 8 * s, 5 * s)),
        k=4 * s,
    )
    radius = Union(
        (
            Ellipsoid(e + vec([sg * 12, -4, -8]) * s, vec([10, 10, 6]) * s),
            Capsule(e + vec([sg * 12, -4, -12]) * s, w + vec([-sg * 10, 0, 10]) * s, 7 * s, 9.5 * s),
        ),
        k=3 * s,
    )
    ops += [Bone(ulna, cortex_mm=2.0), Bone(radius, cortex_mm=2.0)]
    ops += hand_bone_ops(lb, s)
    return ops


def hand_bone_ops(lb: Limb, s: float) -> list[Op]:
    sg = lb.sg
    h = lb.hand
    ops: list[Op] = []
    carpals = []
    # proximal row (scaphoid .. triquetrum, pisiform) and distal row (trapezium .. hamate),
    # thumb side first; (across, along, radius across, radius along)
    rows = (
        (31.0, ((-13, 1, 5.0, 6.5), (-3, 2, 5.0, 5.0), (7, 1, 4.5, 4.5), (14, -2, 3.2, 3.2))),
        (17.0, ((-16, 0, 4.5, 5.0), (-8, 0, 3.6, 4.5), (1, -1, 5.0, 7.0), (11, 0, 5.0, 6.0))),
    )
    for row_z, row in rows:
        for du, dz, ra, rz in row:
            carpals.append(Ellipsoid(h + vec([sg * du, -1, row_z + dz]) * s, vec([ra, 5.0, rz]) * s))
    ops += [Bone(c, cortex_mm=1.0) for c in carpals]
    for f in lb.fingers:
        joints = f.joints
        # metacarpal: the thumb's starts at the trapezium, the others at the distal carpal row
        base = joints[0] + (vec([sg * 9, 5, 26]) if f.number == 1 else vec([0, 0, 52])) * s
        segs = [(base, joints[0]), *list(itertools.pairwise(joints))]
        for n, (a, b) in enumerate(segs):
            d = (b - a) / np.linalg.norm(b - a)
            gap = 1.3 * s
            r = (4.2 if n == 0 else 3.6 if n == 1 else 3.0 if n == 2 else 2.6) * s
            tip_r = r * 0.8 if n < len(segs) - 1 else r * 0.7
            ops.append(Bone(Capsule(a + d * (gap + r), b - d * (gap + tip_r), r, tip_r), cortex_mm=1.0))
    return ops


# --- pelvis and femora ------------------------------------------------------------------


def pelvis_ops(lay: Layout, side: str) -> list[Op]:
    hip, s = lay.hips[side], lay.s
    sg, h, r = hip.sg, hip.head, hip.head_radius
    w, dp = lay.p.width, lay.p.depth
    n_open = vec([sg * 0.62, -0.35, -0.7])
    socket = Subtract(
        Intersect(Sphere(h, r + 12 * s), HalfSpace(h + n_open * 9 * s, n_open)),
        Sphere(h, r + 2.5 * s),
    )
    u = vec([sg * 0.56, -0.83, 0])
    wing = Ellipsoid(
        vec([sg * 88 * w, -112 * dp, 118]) * s, vec([66, 46, 6.5]) * s, frame(u, vec([0, 0, 1.0]))
    )
    column = Capsule(h + vec([sg * 4, 8, 24]) * s, vec([sg * 98 * w, -95 * dp, 102]) * s, 16 * s, 13 * s)
    posterior = Capsule(vec([sg * 62 * w, -64 * dp, 104]) * s, vec([sg * 86 * w, -92 * dp, 70]) * s, 12 * s)
    sym = lay.points["symphysis"]
    pubic_body = Ellipsoid(sym + vec([sg * 17, 0, -6]) * s, vec([12, 10, 18]) * s)
    sup_ramus = Capsule(h + vec([-sg * 16, -20, 6]) * s, sym + vec([sg * 18, 2, 0]) * s, 11 * s, 9 * s)
    tuber = h + vec([-sg * 24, 30, -46]) * s
    inf_ramus = Capsule(sym + vec([sg * 16, 4, -20]) * s, tuber, 7.5 * s, 8 * s)
    ischium = Capsule(h + vec([-sg * 2, 20, -14]) * s, tuber, 13 * s, 11 * s)
    tuberosity = Ellipsoid(tuber, vec([11, 13, 12]) * s)
    shape = Union(
        (socket, wing, column, posterior, pubic_body, sup_ramus, inf_ramus, ischium, tuberosity), k=5 * s
    )
    lay.points[f"acetabulum_{side}"] = h
    lay.points[f"ischial_tuberosity_{side}"] = tuber
    return [Bone(shape, cortex_mm=1.5)]


def femur_shapes(lay: Layout, side: str) -> tuple[Shape, Capsule]:
    hip, s = lay.hips[side], lay.s
    head = Sphere(hip.head, hip.head_radius)
    neck = Capsule(hip.head, hip.neck_base, 16 * s, 17 * s)
    gt = Ellipsoid(hip.greater_trochanter, hip.gt_radii)
    lt = Ellipsoid(hip.lesser_trochanter, vec([8, 9, 11]) * s)
    crest = Capsule(hip.greater_trochanter, hip.lesser_trochanter, 11 * s)
    shaft = Capsule(hip.shaft_top, hip.knee, 16 * s, 13 * s)
    return Union((head, neck, gt, lt, crest, shaft), k=6 * s), shaft


def femur_ops(lay: Layout, side: str) -> list[Op]:
    s = lay.s
    whole, shaft = femur_shapes(lay, side)
    start = shaft.a + (shaft.b - shaft.a) * 0.12
    diaphysis = Capsule(start, shaft.b, 15 * s, 13 * s)
    return [
        Bone(whole, cortex_mm=1.8),
        Bone(diaphysis, cortex_mm=5.0, cortex=T.CORTEX_DENSE, marrow=diaphysis),
    ]
