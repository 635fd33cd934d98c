"""Chest CT in the arterial phase without a contrast tag (`arterial_chest`).

The series header has no ContrastBolusAgent, as happens when a CT angiogram is exported
or anonymised, yet the aorta and left heart are at 350-480 HU and the right heart and
pulmonary arteries some 40-70 HU less: a detector that trusts the tag sees blood at the
density of calcinosis. Added to the seed's whole-body anatomy: coronary arteries in
epicardial fat, a split between left and right heart blood, sternal wires (metal, with
streaks) after a sternotomy, and calcified costal cartilage (incidental). Deposits:
coronary and thoracic aortic wall calcification (tissue arterial_wall), chest wall muscle
and subcutaneous fat, and one in the muscle against a rib.
"""

from __future__ import annotations

import itertools

import numpy as np

from pipeline.phantom.anatomy import Anatomy, build_anatomy
from pipeline.phantom.bodypart import IncidentalPlan, MetalPart, PartModel, axis_rotation, blob
from pipeline.phantom.labels import T, arterial_hu_table
from pipeline.phantom.layout import BodyParams, Layout
from pipeline.phantom.placement import DepositPlan
from pipeline.phantom.scene import Fill, Layers, Op
from pipeline.phantom.sdf import Ellipsoid, HalfSpace, Intersect, chain, rotation, vec
from pipeline.phantom.sites import SOFT, SUBCUT, Site, trunk_wall_point
from pipeline.phantom.skeleton import rib_paths, sternum_y
from pipeline.phantom.vessels import aorta_points, vessel_list

PERICARDIAL = frozenset({T.LUNG, T.VISCERAL_FAT, T.HEART})
# coronary paths as directions from the heart's centre (body frame), joined by great arcs
CORONARIES = {
    "lad": ((-0.1, -0.5, 0.85), (0.2, -0.8, 0.3), (0.6, -0.6, -0.5)),
    "lcx": ((0.2, -0.2, 0.95), (0.85, 0.3, 0.2), (0.4, 0.8, -0.1)),
    "rca": ((-0.4, -0.4, 0.8), (-0.95, -0.2, 0.1), (-0.5, 0.4, -0.7)),
}


def heart_shape(lay: Layout) -> Ellipsoid:
    return Ellipsoid(lay.points["heart"], vec([60, 50, 54]) * lay.s, rotation(-35, 20, 0))


def coronary_points(lay: Layout, name: str) -> list[np.ndarray]:
    """Points 1.5 mm outside the heart's surface along the coronary's grooves."""
    heart = heart_shape(lay)
    dirs = [vec(d) / np.linalg.norm(d) for d in CORONARIES[name]]
    out = []
    for a, b in itertools.pairwise(dirs):
        for t in np.linspace(0, 1, 6)[(0 if not out else 1) :]:
            d = (1 - t) * a + t * b
            d /= np.linalg.norm(d)
            local = heart.rot.T @ d
            r = 1 / np.sqrt(((local / heart.radii) ** 2).sum())
            out.append(heart.center + d * (r + 1.5))
    return out


def heart_ops(lay: Layout) -> list[Op]:
    """Right heart blood apart from the left (a septum between), pulmonary arteries with it,
    coronary arteries (lumen and wall) in a sleeve of epicardial fat."""
    s = lay.s
    heart = heart_shape(lay)
    septum_n = vec([1, 0.7, 0.2])
    septum_n /= np.linalg.norm(septum_n)
    c = heart.center
    ops: list[Op] = [
        Fill(T.BLOOD_RIGHT, Intersect(heart, HalfSpace(c, septum_n)), within=frozenset({T.CARDIAC_BLOOD})),
        Fill(
            T.HEART,
            Intersect(
                Intersect(heart, HalfSpace(c + septum_n * 4 * s, septum_n)),
                HalfSpace(c - septum_n * 4 * s, -septum_n),
            ),
            within=frozenset({T.CARDIAC_BLOOD, T.BLOOD_RIGHT}),
        ),
    ]
    for v in vessel_list(lay):
        if v.name.startswith("pulmonary"):
            ops.append(Fill(T.BLOOD_RIGHT, v.shape(), within=frozenset({T.ARTERY})))
    for name in CORONARIES:
        pts = coronary_points(lay, name)
        ops.append(Fill(T.VISCERAL_FAT, chain(pts, 4.5 * s), within=PERICARDIAL))
        ops.append(
            Layers(
                chain(pts, 2.6 * s),
                ((0.8, T.ARTERY_WALL),),
                core=T.ARTERY,
                within=PERICARDIAL,
                floor_first=True,
            )
        )
    return ops


def sternal_wires(lay: Layout, rng: np.random.Generator) -> list[MetalPart]:
    """Five or six steel loops round the sternal body after a median sternotomy."""
    s = lay.s
    top, xiph = lay.points["sternum_top"], lay.points["xiphoid"]
    n = int(rng.integers(5, 7))
    out = []
    for k, z in enumerate(np.linspace(xiph[2] + 18 * s, top[2] - 28 * s, n)):
        y = sternum_y(lay, float(z))
        ang = np.linspace(0, 2 * np.pi, 17)
        pts = tuple(vec([11 * s * np.sin(a), y + 10.5 * s * np.cos(a), z]) for a in ang)
        out.append(MetalPart("sternal_wire", f"sternal_wire_{k + 1}", pts, 0.6))
    return out


def cartilage_plans(lay: Layout, rng: np.random.Generator) -> list[IncidentalPlan]:
    """Calcified costal cartilage (ribs 1-7): central bars along the cartilage."""
    out = []
    chosen = rng.choice(14, size=int(rng.integers(4, 7)), replace=False)
    for idx in sorted(int(i) for i in chosen):
        sg, rib = (1, "left") if idx < 7 else (-1, "right")
        _, cart = rib_paths(lay, sg)[idx % 7]
        k = int(rng.integers(1, len(cart) - 2))
        a, b = cart[k], cart[k + 1]
        centre = a + (b - a) * float(rng.uniform(0.2, 0.8))
        rot = axis_rotation(b - a)
        half = float(rng.uniform(5, 9))
        out.append(
            IncidentalPlan(
                "costal_cartilage",
                f"costal_cartilage_{idx % 7 + 1}_{rib}",
                "chest",
                blob(centre, (half, 2.6, 2.6), rot),
                frozenset({T.CARTILAGE}),
                float(rng.uniform(350, 800)),
            )
        )
    return out


# --- deposit sites -----------------------------------------------------------------------


def _coronary_anchor(an: Anatomy, sg: int, rng: np.random.Generator) -> np.ndarray:
    pts = coronary_points(an.layout, str(rng.choice(list(CORONARIES))))
    return pts[int(rng.integers(1, int(len(pts) * 0.7)))]


def _thoracic_aorta_anchor(an: Anatomy, sg: int, rng: np.random.Generator) -> np.ndarray:
    """A point of the descending thoracic aortic wall (below the arch, above the diaphragm)."""
    lay = an.layout
    pts, radii = aorta_points(lay)
    desc = [(p, r) for p, r in zip(pts[3:], radii[3:], strict=True) if p[2] < lay.points["carina"][2]]
    zs = np.array([p[2] for p, _ in desc])
    z = float(rng.uniform(max(zs.min(), 385 * lay.s), zs.max() - 5 * lay.s))
    order = np.argsort(zs)
    c = np.array([np.interp(z, zs[order], np.array([p[i] for p, _ in desc])[order]) for i in range(3)])
    r = float(np.interp(z, zs[order], np.array([r for _, r in desc])[order]))
    ang = float(rng.uniform(0, 2 * np.pi))
    return c + vec([np.cos(ang), np.sin(ang), 0]) * (r + 1.0)


def _wall_anchor(depth_fat: float, extra: float):
    def anchor(an: Anatomy, sg: int, rng: np.random.Generator) -> np.ndarray:
        lay = an.layout
        z = float(rng.uniform(430, 520)) * lay.s
        depth = lay.skin_mm + depth_fat * float(lay.fat(np.array(z))) + extra * lay.s
        return trunk_wall_point(an, sg, z, float(rng.uniform(0.3, 0.65)), depth)

    return anchor


def _rib_anchor(an: Anatomy, sg: int, rng: np.random.Generator) -> np.ndarray:
    """Just outside a rib's outer surface on its lateral arc (in the chest wall muscle)."""
    lay = an.layout
    bony, _ = rib_paths(lay, sg)[int(rng.integers(3, 8))]
    p = bony[int(rng.integers(5, 9))]
    cy = float(lay.cavity_cy(np.array(p[2])))
    out = vec([p[0], p[1] - cy, 0])
    return p + out / np.linalg.norm(out) * 8.5 * lay.s


SITES: dict[str, Site] = {
    s.name: s
    for s in [
        Site(
            "coronary_artery",
            "chest",
            "arterial_wall",
            _coronary_anchor,
            3,
            frozenset({T.ARTERY_WALL, T.ARTERY}),
            frozenset({T.ARTERY_WALL, T.ARTERY, T.VISCERAL_FAT}),
            min_host_fraction=0.3,
            sided=False,
        ),
        Site(
            "thoracic_aortic_wall",
            "chest",
            "arterial_wall",
            _thoracic_aorta_anchor,
            1.5,
            frozenset({T.ARTERY_WALL, T.ARTERY}),
            frozenset({T.ARTERY_WALL, T.ARTERY}),
            min_host_fraction=0.9,
            kind="plaque",
            sided=False,
        ),
        Site(
            "chest_wall_muscle",
            "chest",
            "muscle",
            _wall_anchor(1.0, 9.0),
            8,
            frozenset({T.MUSCLE}),
            SOFT,
            bone_gap=(3, np.inf),
            host_depth=0.8,
            min_host_fraction=0.8,
        ),
        Site(
            "chest_subcutaneous",
            "chest",
            "skin_subcutaneous",
            _wall_anchor(0.5, 0.0),
            6,
            frozenset({T.FAT}),
            SUBCUT,
            bone_gap=(3, np.inf),
            min_host_fraction=0.6,
        ),
        Site(
            "chest_wall_against_rib",
            "chest",
            "muscle",
            _rib_anchor,
            5,
            SOFT,
            SOFT,
            bone_gap=(0.0, 0.5),
            min_host_fraction=0.8,
        ),
    ]
}


def _plans(rng: np.random.Generator) -> list[DepositPlan]:
    side = 1 if rng.random() < 0.5 else -1
    plans = [
        DepositPlan("coronary_artery", 1, (10, 80), (1, 2), (500, 1000))
        for _ in range(int(rng.integers(2, 4)))
    ]
    plans += [DepositPlan("thoracic_aortic_wall", 1, (20, 150), (1, 3), (600, 1200)) for _ in range(2)]
    plans.append(DepositPlan("chest_wall_muscle", side, (30, 400), (1, 3), (300, 900)))
    plans.append(DepositPlan("chest_subcutaneous", -side, (15, 150), (1, 2), (300, 900)))
    plans.append(
        DepositPlan("chest_wall_against_rib", int(rng.choice([1, -1])), (30, 250), (1, 3), (300, 900))
    )
    return plans


def build_arterial_chest(seed: int, body_rng: np.random.Generator, dep_rng: np.random.Generator) -> PartModel:
    params = BodyParams.sample(body_rng, with_head=False)
    anatomy = build_anatomy(params, body_rng)
    lay = anatomy.layout
    anatomy.ops.extend(heart_ops(lay))
    wires = sternal_wires(lay, dep_rng)
    left = round(float(dep_rng.uniform(360, 470)), 1)
    right = round(left - float(dep_rng.uniform(40, 70)), 1)
    half = lay.half_width()
    lo = vec([-half, -2 * float(lay.trunk_b.v.max()) - 10, min(lay.diaphragm.values()) - 45 * lay.s])
    hi = vec([half, 30.0, 615 * lay.s])
    return PartModel(
        anatomy=anatomy,
        lo=lo,
        hi=hi,
        body_part="CHEST",
        sites=SITES,
        plans=_plans(dep_rng),
        table=arterial_hu_table(left, right),
        incidental=cartilage_plans(lay, dep_rng),
        metal=wires,
        streak_hu=float(dep_rng.uniform(120, 200)),
        extra={
            "contrast_phase": "arterial",
            "contrast_tag": False,
            "blood_pool_hu": {
                "aorta": left,
                "left_heart": round(left - 10, 1),
                "right_heart": right,
                "pulmonary_arteries": right,
                "coronary_arteries": left,
            },
        },
    )
