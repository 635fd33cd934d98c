"""Aorta and large arteries (with a wall, where arterial calcification sits) and large veins.

The arterial wall is its own label so that truth and tests can tell a deposit in the wall
from one next to it; with contrast the lumen is bright (300-400 HU) and the wall is not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.phantom.labels import T
from pipeline.phantom.layout import Layout
from pipeline.phantom.scene import Fill, Layers, Op
from pipeline.phantom.sdf import Shape, Union, chain, vec

WALL_MM = 2.0
NOT_BONE = frozenset(
    set(T) - {T.CORTEX, T.CORTEX_DENSE, T.CANCELLOUS, T.MARROW, T.AIR, T.SKIN, T.DISC, T.CANAL}
)


@dataclass(frozen=True)
class Vessel:
    name: str
    points: tuple[np.ndarray, ...]
    radii: tuple[float, ...]
    artery: bool

    def shape(self, grow: float = 0.0) -> Shape:
        return chain(self.points, [r + grow for r in self.radii])


def aorta_points(lay: Layout) -> tuple[list[np.ndarray], list[float]]:
    """Root, arch, then down the left front of the spine to the bifurcation."""
    s, pts = lay.s, lay.points
    h = pts["heart"]
    out = [
        h + vec([-12, -8, 28]) * s,
        h + vec([-14, -12, 68]) * s,
        pts["carina"] + vec([2, -20, 42]) * s,
        pts["carina"] + vec([20, 6, 30]) * s,
    ]
    radii = [14.0, 14.0, 13.0, 12.0]
    bif = pts["aortic_bifurcation"]
    for v in reversed(lay.spine):
        if bif[2] + 8 * s < v.z < out[-1][2] - 10 * s and v.name[0] in "TL":
            out.append(vec([18 * s, v.y - v.ry - 14 * s, v.z]))
            radii.append(12.0 if v.name[0] == "T" else 10.5)
    out.append(bif)
    radii.append(9.0)
    return out, [r * s for r in radii]


def vessel_list(lay: Layout) -> list[Vessel]:
    s, w, pts = lay.s, lay.p.width, lay.points
    ap, ar = aorta_points(lay)
    out = [Vessel("aorta", tuple(ap), tuple(ar), True)]
    bif = pts["aortic_bifurcation"]
    for side, sg in (("left", 1), ("right", -1)):
        hip = lay.hips[side]
        iliac = (
            bif,
            vec([sg * 38 * w, -112, 130]) * s,
            hip.head + vec([-sg * 18, -44, 55]) * s,
            hip.head + vec([-sg * 8, -44, 5]) * s,
            hip.head + vec([sg * 2, -30, -120]) * s,
            hip.knee + vec([-sg * 10, -25, 100]) * s,
        )
        out.append(
            Vessel(
                f"iliac_femoral_artery_{side}", iliac, tuple(np.array([7, 6.5, 5.5, 5, 4.5, 4.2]) * s), True
            )
        )
        vein = tuple(p + vec([-sg * 12, 8, 0]) * s for p in iliac[1:])
        out.append(
            Vessel(
                f"iliac_femoral_vein_{side}",
                (vec([-8, -100, 170]) * s, *vein),
                tuple(np.array([10, 8, 7, 6, 5.5, 5]) * s),
                False,
            )
        )
        k = pts[f"kidney_{side}"]
        z_ren = k[2] + 12 * s
        out.append(
            Vessel(
                f"renal_artery_{side}",
                (vec([18 * s, -105 * s, z_ren]), k + vec([-sg * 20, -8, 10]) * s),
                (3.2 * s, 3.0 * s),
                True,
            )
        )
        out.append(
            Vessel(
                f"renal_vein_{side}",
                (vec([-20 * s, -108 * s, z_ren - 4 * s]), k + vec([-sg * 20, -14, 4]) * s),
                (4.5 * s, 4.0 * s),
                False,
            )
        )
        lb = lay.limbs[side]
        arm = (
            ap[2] + vec([sg * 8, 6, 0]) * s,
            vec([sg * 60 * w, -128, 548]) * s,
            lb.humeral_head + vec([-sg * 28, -20, -20]) * s,
            lb.humeral_head + vec([-sg * 8, -10, -80]) * s,
            lb.elbow + vec([-sg * 14, -12, 10]) * s,
        )
        out.append(
            Vessel(f"subclavian_brachial_artery_{side}", arm, tuple(np.array([6, 5.5, 5, 4, 3.5]) * s), True)
        )
        if lay.p.with_head:
            car = (
                ap[2] + vec([sg * 12, 10, 6]) * s,
                vec([sg * 26, -110, 640]) * s,
                vec([sg * 30, -100, 720]) * s,
            )
            out.append(Vessel(f"carotid_{side}", car, (4.5 * s, 4 * s, 3.5 * s), True))
            jug = tuple(p + vec([sg * 16, 6, 0]) * s for p in car[1:])
            out.append(
                Vessel(f"jugular_{side}", (vec([sg * 20, -135, 530]) * s, *jug), (7 * s, 6 * s, 5 * s), False)
            )
    ivc = (
        vec([-22, -100, 175]) * s,
        vec([-26, -102, 300]) * s,
        pts["liver"] + vec([40, 10, 50]) * s,
        pts["heart"] + vec([-35, 5, -20]) * s,
    )
    out.append(Vessel("ivc", ivc, (11 * s, 11 * s, 12 * s, 12 * s), False))
    svc = (vec([-24, -140, 545]) * s, pts["heart"] + vec([-30, -5, 45]) * s)
    out.append(Vessel("svc", svc, (9 * s, 10 * s), False))
    pa = pts["heart"] + vec([-5, -25, 45]) * s
    for sg in (1, -1):
        out.append(
            Vessel(
                f"pulmonary_artery_{sg}",
                (pa, pts["carina"] + vec([sg * 45, -8, -15]) * s),
                (12 * s, 8 * s),
                True,
            )
        )
    return out


def vessel_ops(lay: Layout) -> list[Op]:
    """Veins, then arteries: lumen with a wall ring (except pulmonary arteries)."""
    ops: list[Op] = []
    vessels = vessel_list(lay)
    for v in vessels:
        if not v.artery:
            ops.append(Fill(T.VEIN, v.shape(), within=NOT_BONE))
    for v in vessels:
        if v.artery and not v.name.startswith("pulmonary"):
            ops.append(
                Layers(
                    v.shape(WALL_MM),
                    ((WALL_MM, T.ARTERY_WALL),),
                    core=T.ARTERY,
                    within=NOT_BONE,
                    floor_first=True,
                )
            )
        elif v.artery:
            ops.append(Fill(T.ARTERY, v.shape(), within=NOT_BONE))
    return ops


def aorta_shape(lay: Layout) -> Shape:
    ap, ar = aorta_points(lay)
    return Union((chain(ap, ar),))
