"""Tendons where calcific tendinitis occurs: the supraspinatus (inserting on the greater
tuberosity of the humerus) and the gluteus medius (on the greater trochanter).

The tendon is painted before the bones, so the bone cuts it exactly at its insertion and
what stays labelled TENDON lies against the bone surface.
"""

from __future__ import annotations

import numpy as np

from pipeline.phantom.labels import T
from pipeline.phantom.layout import Layout
from pipeline.phantom.scene import Fill, Op
from pipeline.phantom.sdf import Capsule, Shape, chain, vec


def supraspinatus(lay: Layout, side: str) -> Shape:
    lb, s = lay.limbs[side], lay.s
    sg = lb.sg
    hh = lb.humeral_head
    pts = [
        hh + vec([-sg * 14, 2, 28]) * s,
        hh + vec([sg * 4, -2, 29]) * s,
        hh + vec([sg * 16, -6, 25]) * s,
        lb.greater_tuberosity + vec([sg * 3, 0, 15]) * s,
    ]
    return chain(pts, [4.5 * s, 4.2 * s, 4.0 * s, 4.0 * s])


def supraspinatus_insertion(lay: Layout, side: str) -> np.ndarray:
    """Where the supraspinatus tendon meets the greater tuberosity (its superior facet)."""
    lb = lay.limbs[side]
    return lb.greater_tuberosity + vec([lb.sg * 2, 0, 13]) * lay.s


def gluteus_medius_tendon(lay: Layout, side: str) -> Shape:
    hip, s = lay.hips[side], lay.s
    gt = hip.greater_trochanter
    return Capsule(gt + vec([hip.sg * 6, 2, 34]) * s, gt + vec([hip.sg * 13, 2, 0]) * s, 6.5 * s, 5.5 * s)


def gluteus_medius_insertion(lay: Layout, side: str) -> np.ndarray:
    """The lateral facet of the greater trochanter."""
    hip = lay.hips[side]
    return hip.greater_trochanter + vec([hip.sg * hip.gt_radii[0], 2, 4]) * lay.s


def tendon_ops(lay: Layout) -> list[Op]:
    s = lay.s
    ops: list[Op] = []
    soft = frozenset({T.MUSCLE, T.FAT, T.VISCERAL_FAT})
    for side in ("left", "right"):
        lb = lay.limbs[side]
        sg = lb.sg
        belly = Capsule(
            vec([sg * 70 * lay.p.width, -40, 548]) * s,
            lb.humeral_head + vec([-sg * 16, 0, 30]) * s,
            12 * s,
            7 * s,
        )
        ops.append(Fill(T.MUSCLE, belly, within=soft))
        ops.append(Fill(T.TENDON, supraspinatus(lay, side), within=soft))
        ops.append(Fill(T.TENDON, gluteus_medius_tendon(lay, side), within=soft))
    return ops
