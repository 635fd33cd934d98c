"""The whole anatomy of one phantom: paint operations in order, plus its landmarks."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipeline.phantom import head, organs, skeleton, soft, tendons, vessels
from pipeline.phantom.layout import BodyParams, Layout, make_layout
from pipeline.phantom.scene import Op


@dataclass
class Anatomy:
    """Grid-independent description of a body: `ops` draw it, `landmarks` name its points
    (body frame, mm), `z_range` is the extent a CT must cover."""

    layout: Layout
    ops: list[Op]
    landmarks: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def z_range(self) -> tuple[float, float]:
        return self.layout.z_bottom, self.layout.z_top

    def half_width(self) -> float:
        return self.layout.half_width()


def build_anatomy(params: BodyParams, rng: np.random.Generator, extra: list[Op] | None = None) -> Anatomy:
    """Layout from the parameters, then every structure in painting order.

    `extra` ops (an implant) are painted last, over the bones.
    """
    lay = make_layout(params)
    ops: list[Op] = []
    ops += soft.table_ops(lay, lay.z_bottom - 50, lay.z_top + 50)
    ops += soft.soft_tissue_ops(lay)
    ops += organs.thorax_ops(lay)
    ops += organs.abdomen_ops(lay, rng)
    ops += organs.retroperitoneal_muscle_ops(lay)
    ops += vessels.vessel_ops(lay)
    ops += tendons.tendon_ops(lay)
    ops += head.head_ops(lay)
    ops += skeleton.skeleton_ops(lay)
    ops += extra or []
    return Anatomy(layout=lay, ops=ops, landmarks=landmarks(lay))


def landmarks(lay: Layout) -> dict[str, np.ndarray]:
    """Named anatomical points used to place deposits and to check where they went."""
    out: dict[str, np.ndarray] = dict(lay.points)
    for side, hip in lay.hips.items():
        out[f"femoral_head_{side}"] = hip.head
        out[f"greater_trochanter_{side}"] = hip.greater_trochanter
        out[f"lesser_trochanter_{side}"] = hip.lesser_trochanter
        out[f"gluteus_medius_insertion_{side}"] = tendons.gluteus_medius_insertion(lay, side)
    for side, lb in lay.limbs.items():
        out[f"humeral_head_{side}"] = lb.humeral_head
        out[f"greater_tuberosity_{side}"] = lb.greater_tuberosity
        out[f"supraspinatus_insertion_{side}"] = tendons.supraspinatus_insertion(lay, side)
        out[f"glenoid_{side}"] = lb.glenoid
        out[f"acromion_{side}"] = lb.acromion
        out[f"elbow_{side}"] = lb.elbow
        out[f"wrist_{side}"] = lb.wrist
        out[f"hand_{side}"] = lb.hand
        for f in lb.fingers:
            out[f"finger{f.number}_mcp_{side}"] = f.joints[0]
            out[f"finger{f.number}_tip_{side}"] = f.tip
    for v in lay.spine:
        out[f"vertebra_{v.name}"] = np.array([0.0, v.y, v.z])
    for side in ("left", "right"):
        out[f"diaphragm_{side}"] = organs.diaphragm(lay, side).apex
    if lay.p.with_head:
        out["brain"] = head.brain_shape(lay).center
        for side, c in head.eye_centres(lay).items():
            out[f"eye_{side}"] = np.asarray(c)
    return out
