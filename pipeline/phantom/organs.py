"""Thoracic, abdominal and pelvic organs, drawn inside the body cavity.

Most organs are painted only over visceral fat (`within`), so they stay inside the cavity
and never cover lungs or each other in the wrong order. Gas in the stomach and colon sits
anteriorly, where it rises in a supine patient.
"""

from __future__ import annotations

import numpy as np

from pipeline.phantom.grid import Window
from pipeline.phantom.labels import T
from pipeline.phantom.layout import Layout
from pipeline.phantom.scene import Fill, Layers, Op
from pipeline.phantom.sdf import (
    Ellipsoid,
    HalfSpace,
    Intersect,
    Offset,
    Profile,
    Shape,
    Sphere,
    SuperEllipseZ,
    Union,
    chain,
    rotation,
    vec,
)
from pipeline.phantom.soft import cavity

IN_CAVITY = frozenset({T.VISCERAL_FAT})


class Dome(Shape):
    """Region above one hemidiaphragm: z > apex - c * r^2 (not a distance, a threshold)."""

    def __init__(self, apex: np.ndarray, curvature: float, floor: float) -> None:
        self.apex, self.c, self.floor = apex, curvature, floor

    def sdf(self, win: Window) -> np.ndarray:
        r2 = (win.x - np.float32(self.apex[0])) ** 2 + (win.y - np.float32(self.apex[1])) ** 2
        surface = np.maximum(np.float32(self.apex[2]) - np.float32(self.c) * r2, np.float32(self.floor))
        return np.broadcast_to(surface - win.z, win.shape).astype(np.float32)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.array([-1e4, -1e4, self.floor]), np.array([1e4, 1e4, 1e4])


def diaphragm(lay: Layout, side: str) -> Dome:
    s = lay.s
    sg = 1 if side == "left" else -1
    apex = vec([sg * 70 * lay.p.width * s, -120 * lay.p.depth * s, lay.diaphragm[side]])
    return Dome(apex, 0.0055 / s, lay.vertebra("L1").z + 10 * s)


def lungs(lay: Layout, side: str) -> Shape:
    sg = 1 if side == "left" else -1
    cav = cavity(lay)
    half = HalfSpace(vec([0, 0, 0]), vec([-sg, 0, 0]))
    return Intersect(Intersect(cav, half), diaphragm(lay, side))


def thorax_ops(lay: Layout) -> list[Op]:
    s, pts = lay.s, lay.points
    ops: list[Op] = [Fill(T.LUNG, lungs(lay, side), within=IN_CAVITY) for side in ("left", "right")]
    zk = np.array([360, 420, 480, 540, 610]) * s
    med = SuperEllipseZ(
        a=Profile(zk, np.array([30, 30, 26, 22, 20]) * s),
        b=Profile(zk, np.array([72, 72, 66, 60, 50]) * s * lay.p.depth),
        cy=Profile(zk, np.array([-128, -128, -122, -112, -100]) * s * lay.p.depth),
        p=Profile(zk, np.full(5, 4.0)),
        z0=float(zk[0]),
        z1=float(zk[-1]),
        cx=6 * s,
    )
    ops.append(Fill(T.VISCERAL_FAT, med, within=frozenset({T.LUNG})))
    heart = Ellipsoid(pts["heart"], vec([60, 50, 54]) * s, rotation(-35, 20, 0))
    ops.append(
        Layers(heart, ((9 * s, T.HEART),), core=T.CARDIAC_BLOOD, within=frozenset({T.LUNG, T.VISCERAL_FAT}))
    )
    carina = pts["carina"]
    top = carina + vec([0, -22, 200]) * s
    ops.append(Fill(T.MUSCLE, chain([top, carina], 11 * s)))
    ops.append(Fill(T.AIRWAY, chain([top, carina], 8.5 * s)))
    for sg in (1, -1):
        end = carina + vec([sg * 48, 4, -28]) * s
        ops.append(Fill(T.MUSCLE, chain([carina, end], 7.5 * s)))
        ops.append(Fill(T.AIRWAY, chain([carina, end], 5.5 * s)))
    eso = chain(
        [
            carina + vec([6, 16, 150]) * s,
            carina + vec([10, 18, -60]) * s,
            pts["stomach"] + vec([-20, 10, 40]) * s,
        ],
        8 * s,
    )
    ops.append(Fill(T.MUSCLE, eso, within=frozenset({T.VISCERAL_FAT, T.LUNG})))
    return ops


def abdomen_ops(lay: Layout, rng: np.random.Generator) -> list[Op]:
    s, pts = lay.s, lay.points
    ops: list[Op] = []
    liver = Union(
        (
            Ellipsoid(pts["liver"], vec([98, 84, 86]) * s),
            Ellipsoid(pts["liver"] + vec([72, -38, 18]) * s, vec([52, 30, 38]) * s),
        ),
        k=12 * s,
    )
    ops.append(Fill(T.LIVER, liver, within=IN_CAVITY))
    ops.append(
        Fill(T.SPLEEN, Ellipsoid(pts["spleen"], vec([30, 24, 50]) * s, rotation(30, 0, 0)), within=IN_CAVITY)
    )
    stomach = Ellipsoid(pts["stomach"], vec([40, 36, 60]) * s, rotation(20, -15, 0))
    ops.append(Layers(stomach, ((4.5 * s, T.STOMACH_WALL),), core=T.STOMACH_FLUID, within=IN_CAVITY))
    gas_level = pts["stomach"][1] - 14 * s
    gas = Intersect(Offset(stomach, -4.5 * s), HalfSpace(vec([0, gas_level, 0]), vec([0, 1, 0])))
    ops.append(Fill(T.GAS, gas, within=frozenset({T.STOMACH_FLUID})))
    pancreas = chain(
        [
            vec([-38, -128, 300]) * s,
            vec([0, -124, 304]) * s,
            vec([40, -110, 312]) * s,
            pts["spleen"] + vec([-22, -20, -18]) * s,
        ],
        [11 * s, 10 * s, 9 * s, 7 * s],
    )
    ops.append(Fill(T.PANCREAS, pancreas, within=IN_CAVITY))
    for side, sg in (("left", 1), ("right", -1)):
        c = pts[f"kidney_{side}"]
        kid = Ellipsoid(c, vec([27, 23, 54]) * s, rotation(sg * 25, 0, 0) @ rotation(0, sg * 12, 0))
        ops.append(
            Layers(
                kid,
                ((7 * s, T.KIDNEY_CORTEX),),
                core=T.KIDNEY_MEDULLA,
                within=frozenset({T.VISCERAL_FAT, T.MUSCLE}),
            )
        )
        sinus = Ellipsoid(c + vec([-sg * 13, -7, 0]) * s, vec([9, 8, 24]) * s)
        ops.append(Fill(T.RENAL_SINUS, sinus, within=frozenset({T.KIDNEY_MEDULLA})))
    ops += bowel_ops(lay, rng)
    ops.append(
        Layers(
            Ellipsoid(pts["bladder"], vec([42, 34, 32]) * s),
            ((3 * s, T.BOWEL_WALL),),
            core=T.BLADDER,
            within=frozenset({T.VISCERAL_FAT, T.BOWEL_CONTENT, T.BOWEL_WALL}),
        )
    )
    return ops


def bowel_ops(lay: Layout, rng: np.random.Generator) -> list[Op]:
    """Colon round the edge of the abdomen with gas bubbles, small-bowel loops inside."""
    s, w, d = lay.s, lay.p.width, lay.p.depth
    colon_pts = [
        (-82, -132, 120),
        (-95, -112, 250),
        (-80, -160, 285),
        (0, -190, 268),
        (85, -150, 300),
        (100, -95, 240),
        (98, -95, 160),
        (70, -150, 110),
        (25, -135, 80),
        (0, -70, 70),
        (0, -62, 15),
    ]
    colon_pts_mm = [vec([x * w, y * d, z]) * s for x, y, z in colon_pts]
    colon = chain(colon_pts_mm, 19 * s)
    ops: list[Op] = [Layers(colon, ((2.5 * s, T.BOWEL_WALL),), core=T.BOWEL_CONTENT, within=IN_CAVITY)]
    for n in range(7):
        a, b = colon_pts_mm[n + 1], colon_pts_mm[n + 2]
        c = a + (b - a) * rng.uniform(0.2, 0.8) + vec([0, -8, 0]) * s
        ops.append(Fill(T.GAS, Sphere(c, float(rng.uniform(6, 11)) * s), within=frozenset({T.BOWEL_CONTENT})))
    centre = vec([0, -150 * d, 190]) * s
    for _ in range(9):
        p = centre + rng.uniform(-1, 1, 3) * vec([60 * w, 30 * d, 70]) * s
        pts = [p]
        for _ in range(5):
            step = rng.normal(0, 1, 3)
            step = step / np.linalg.norm(step) * 30 * s
            p = p + step
            p = centre + np.clip(p - centre, -vec([75 * w, 40 * d, 85]) * s, vec([75 * w, 40 * d, 85]) * s)
            pts.append(p)
        loop = chain(pts, float(rng.uniform(10, 13)) * s)
        ops.append(Layers(loop, ((2.0 * s, T.BOWEL_WALL),), core=T.BOWEL_CONTENT, within=IN_CAVITY))
    return ops


def retroperitoneal_muscle_ops(lay: Layout) -> list[Op]:
    """Psoas and the paraspinal muscles (painted after the viscera, before the bones)."""
    s, w, d = lay.s, lay.p.width, lay.p.depth
    ops: list[Op] = []
    for sg in (1, -1):
        lt = lay.hips["left" if sg > 0 else "right"].lesser_trochanter
        psoas = chain(
            [
                vec([sg * 26 * w, -95 * d, 300]) * s,
                vec([sg * 42 * w, -108 * d, 200]) * s,
                vec([sg * 58 * w, -118 * d, 120]) * s,
                vec([sg * 70 * w, -132 * d, 40]) * s,
                lt + vec([-sg * 16, -18, 20]) * s,
            ],
            [8 * s, 19 * s, 22 * s, 17 * s, 11 * s],
        )
        ops.append(
            Fill(T.MUSCLE, psoas, within=frozenset({T.VISCERAL_FAT, T.BOWEL_CONTENT, T.BOWEL_WALL, T.GAS}))
        )
        zs = np.linspace(lay.vertebra("L5").z, lay.vertebra("T1").z, 9)
        pts, radii = [], []
        for z in zs:
            v = min(lay.spine, key=lambda v, z=z: abs(v.z - z))
            pts.append(vec([sg * 34 * w * s, v.canal_y + 24 * s, z]))
            radii.append((26 if v.name[0] == "L" else 17) * s)
        ops.append(Fill(T.MUSCLE, chain(pts, radii), within=frozenset({T.VISCERAL_FAT, T.LUNG})))
    return ops
