"""Both hands or both feet on a fine grid (`hands_feet`): the small bones and soft tissue
where calcinosis cutis and periarticular deposits of scleroderma and dermatomyositis sit.

Even seeds scan the hands, odd seeds the feet. Hands: supine, arms raised overhead, backs
of the hands on the table, palms up, fingers towards +z, thumbs towards the midline.
Feet: supine, toes up (towards -y), soles towards -z, heels on the table. Each hand or
foot is written in a local frame (u distal, v from the thumb / big-toe side across, w
palmar for the hand and dorsal-up for the foot) and placed for each side by a `Frame`.
Sizes are those of an adult (mm) times the seed's scale.
"""

from __future__ import annotations

import numpy as np

from pipeline.phantom.anatomy import Anatomy
from pipeline.phantom.bodypart import Frame, PartModel, table_op
from pipeline.phantom.labels import T, hu_table
from pipeline.phantom.placement import DepositPlan
from pipeline.phantom.scene import Bone, Fill, Layers, Op
from pipeline.phantom.sdf import Shape, Union, vec
from pipeline.phantom.sites import SOFT, SUBCUT, Site

SIDES = {"left": 1, "right": -1}
SKIN = 1.5
FAT_OR_MUSCLE = frozenset({T.FAT, T.MUSCLE})
PAD = {"hand": vec([0, -1, 0]), "foot": vec([0, 0, -1])}  # palmar / plantar side of the digits
Pt = tuple[float, float, float]


def _hand_frame(sg: int, s: float) -> Frame:
    # u -> +z (fingers), v -> lateral (thumb medial), w (palmar) -> -y (anterior)
    rot = np.column_stack([[0.0, 0.0, 1.0], [sg, 0.0, 0.0], [0.0, -1.0, 0.0]])
    return Frame(vec([sg * 88 * s, -19 * s, 0.0]), rot)


def _foot_frame(sg: int, s: float) -> Frame:
    # u -> -y (toes up), v -> lateral, w (dorsal, up the leg) -> +z
    rot = np.column_stack([[0.0, -1.0, 0.0], [sg, 0.0, 0.0], [0.0, 0.0, 1.0]])
    return Frame(vec([sg * 72 * s, -9 * s, 0.0]), rot)


def _digits_hand(s: float) -> list[list[Pt]]:
    """Joint centres of each ray (metacarpal base .. tip), thumb first."""
    rays: list[list[Pt]] = [[(24, -20, 6), (58, -33, 15), (86, -41, 19), (108, -45, 21)]]
    base_v, head_v = (-7, 0, 7, 14), (-13, -1, 10, 20)
    mc = (66, 63, 57, 52)
    phal = ((40, 24, 17), (44, 28, 19), (41, 26, 18), (32, 19, 16))
    for n in range(4):
        u0, u1 = 28.0, 28.0 + mc[n]
        ray: list[Pt] = [(u0, base_v[n], 0.0), (u1, head_v[n], 1.0)]
        dv = (head_v[n] - base_v[n]) / mc[n]
        u, v = u1, float(head_v[n])
        for length in phal[n]:
            u, v = u + length + 1.5, v + dv * (length + 1.5) * 0.6
            ray.append((u, v, 1.5))
        rays.append(ray)
    return [[(a * s, b * s, c * s) for a, b, c in ray] for ray in rays]


def _digits_foot(s: float) -> list[list[Pt]]:
    """Joint centres of each ray (metatarsal base .. tip), big toe first."""
    base = ((132, -18, 36), (130, -6, 40), (128, 5, 37), (124, 14, 33), (114, 24, 28))
    head = ((188, -24, 18), (200, -10, 18), (195, 2, 16), (186, 13, 14), (172, 26, 12))
    phal = ((30, 24), (25, 12, 9), (22, 10, 8), (20, 9, 8), (18, 8, 7))
    rays = []
    for b, h, lengths in zip(base, head, phal, strict=True):
        ray: list[Pt] = [b, h]
        d = np.array([1.0, (h[1] - b[1]) / (h[0] - b[0]) * 0.5, 0.05])
        d /= np.linalg.norm(d)
        p = np.array(h, dtype=float)
        for length in lengths:
            p = p + d * (length + 1.5)
            ray.append((float(p[0]), float(p[1]), float(p[2])))
        rays.append(ray)
    return [[(a * s, b * s, c * s) for a, b, c in ray] for ray in rays]


def _ray_bones(f: Frame, ray: list[Pt], radii: tuple[float, ...]) -> list[Op]:
    """Metacarpal / metatarsal and phalanges as capsules with a joint space between them."""
    ops: list[Op] = []
    for n in range(len(ray) - 1):
        a, b = np.array(ray[n]), np.array(ray[n + 1])
        d = (b - a) / np.linalg.norm(b - a)
        r = radii[min(n, len(radii) - 1)]
        tip = r * 0.75
        pa = a + d * (0.8 + r) if n > 0 else a
        pb = b - d * (0.8 + tip)
        ops.append(Bone(f.cap(tuple(pa), tuple(pb), r, tip), cortex_mm=0.9))
    return ops


def hand_ops(f: Frame, s: float) -> tuple[list[Op], dict[str, np.ndarray]]:
    rays = _digits_hand(s)
    skin_parts: list[Shape] = [
        f.box((-45 * s, 2 * s, 2 * s), (40 * s, 30 * s, 17 * s), 14 * s),  # distal forearm
        f.box((52 * s, 2 * s, 3 * s), (50 * s, 40 * s, 14 * s), 12 * s),  # palm
        f.ell((36 * s, -22 * s, 11 * s), (26 * s, 14 * s, 12 * s)),  # thenar eminence
    ]
    for n, ray in enumerate(rays):
        start = ray[1] if n else ray[0]
        r0 = (10.0 if n == 0 else 8.8 if n < 4 else 7.8) * s
        skin_parts.append(f.cap(start, ray[-1], r0, r0 * 0.82))
    outline = Union(tuple(skin_parts), k=6 * s)
    ops: list[Op] = [Layers(outline, ((SKIN, T.SKIN),), core=T.FAT)]
    muscles = [
        f.box((-45 * s, 2 * s, 2 * s), (40 * s, 24 * s, 11 * s), 9 * s),
        f.ell((36 * s, -20 * s, 9 * s), (20 * s, 9 * s, 7 * s)),
        f.ell((48 * s, 28 * s, 6 * s), (22 * s, 7 * s, 7 * s)),
        f.box((58 * s, 4 * s, 1 * s), (24 * s, 22 * s, 5 * s), 3 * s),  # interossei
    ]
    ops += [Fill(T.MUSCLE, m, within=frozenset({T.FAT})) for m in muscles]
    for ray in rays[1:]:  # flexor (palmar) and extensor (dorsal) tendons of fingers 2-5
        a, b = ray[0], ray[-2]
        ops.append(
            Fill(T.TENDON, f.cap((a[0] - 40 * s, a[1], 9 * s), (b[0], b[1], 5 * s), 2.2 * s), FAT_OR_MUSCLE)
        )
        ops.append(
            Fill(
                T.TENDON, f.cap((a[0] - 40 * s, a[1], -8 * s), (b[0], b[1], -4.5 * s), 1.6 * s), FAT_OR_MUSCLE
            )
        )
    ops.append(
        Bone(f.cap((-80 * s, -9 * s, 0), (-6 * s, -10 * s, 0), 9 * s, 11 * s), cortex_mm=1.3)
    )  # radius
    ops.append(Bone(f.cap((-80 * s, 13 * s, 0), (-9 * s, 14 * s, 0), 6.5 * s, 7 * s), cortex_mm=1.3))  # ulna
    carpals = (
        ((5, -11, 0), (7, 6, 6)),  # scaphoid
        ((4, 0, 0), (6, 5, 6)),  # lunate
        ((5, 10, 0), (5, 5, 5)),  # triquetrum
        ((6, 13, 8), (3.5, 3.5, 3.5)),  # pisiform (palmar)
        ((18, -15, 2), (5, 5, 6)),  # trapezium
        ((18, -6, 0), (5, 4, 5)),  # trapezoid
        ((18, 2, 0), (8, 5, 7)),  # capitate
        ((17, 11, 1), (7, 5, 6)),  # hamate
    )
    ops += [
        Bone(f.ell(tuple(np.multiply(c, s)), tuple(np.multiply(r, s))), cortex_mm=0.9) for c, r in carpals
    ]
    for n, ray in enumerate(rays):
        radii = (4.6, 4.2, 3.4) if n == 0 else (4.0, 3.6, 3.0, 2.6)
        ops += _ray_bones(f, ray, tuple(r * s for r in radii))
    mcp1 = np.array(rays[0][1])
    for dv in (-4.0, 4.0):  # sesamoids of the thumb's MCP joint, on its palmar side
        ops.append(
            Bone(f.ell((mcp1[0], mcp1[1] + dv * s, mcp1[2] + 6.5 * s), (2.6 * s, 2.2 * s, 2.2 * s)), 0.8)
        )
    marks = {"wrist": f.p(0, 0, 0), "palm": f.p(52 * s, 0, 0), "dorsum": f.p(50 * s, 3 * s, -8 * s)}
    for n, ray in enumerate(rays, start=1):
        names = ("cmc", "mcp", "ip", "tip") if n == 1 else ("cmc", "mcp", "pip", "dip", "tip")
        for name, p in zip(names, ray, strict=True):
            marks[f"digit{n}_{name}"] = f.p(*p)
    return ops, marks


def foot_ops(f: Frame, s: float) -> tuple[list[Op], dict[str, np.ndarray]]:
    rays = _digits_foot(s)
    parts: list[Shape] = [
        f.ell((38 * s, 6 * s, 30 * s), (42 * s, 32 * s, 32 * s)),  # heel
        f.box((108 * s, 4 * s, 32 * s), (55 * s, 40 * s, 31 * s), 14 * s),  # midfoot
        f.box((178 * s, 0, 17 * s), (26 * s, 46 * s, 17 * s), 12 * s),  # forefoot
        f.cap((52 * s, 2 * s, 60 * s), (50 * s, 2 * s, 180 * s), 36 * s, 42 * s),  # ankle and leg
    ]
    for n, ray in enumerate(rays):
        r0 = (11.0 if n == 0 else 8.0) * s
        parts.append(f.cap(ray[1], ray[-1], r0, r0 * 0.85))
    ops: list[Op] = [Layers(Union(tuple(parts), k=10 * s), ((SKIN, T.SKIN),), core=T.FAT)]
    ops.append(
        Fill(T.MUSCLE, f.box((118 * s, 2 * s, 15 * s), (52 * s, 28 * s, 7 * s), 5 * s), frozenset({T.FAT}))
    )
    ops.append(
        Fill(
            T.MUSCLE,
            f.cap((60 * s, 6 * s, 110 * s), (58 * s, 6 * s, 190 * s), 22 * s, 30 * s),
            frozenset({T.FAT}),
        )
    )
    ops.append(
        Fill(
            T.TENDON, f.cap((14 * s, 4 * s, 40 * s), (26 * s, 4 * s, 190 * s), 4.5 * s, 6 * s), FAT_OR_MUSCLE
        )
    )
    ops.append(
        Fill(T.TENDON, f.cap((75 * s, -16 * s, 72 * s), (190 * s, -22 * s, 30 * s), 2.0 * s), FAT_OR_MUSCLE)
    )
    tarsals = (
        ((38, 6, 30), (36, 17, 20)),  # calcaneus
        ((60, 0, 58), (25, 16, 15)),  # talus body
        ((88, -6, 55), (13, 12, 11)),  # talar head
        ((104, -12, 50), (7, 16, 12)),  # navicular
        ((100, 20, 32), (13, 11, 11)),  # cuboid
        ((122, -18, 42), (9, 6, 14)),  # medial cuneiform
        ((121, -6, 47), (8, 5, 10)),  # intermediate cuneiform
        ((118, 6, 42), (9, 6, 10)),  # lateral cuneiform
    )
    ops += [
        Bone(f.ell(tuple(np.multiply(c, s)), tuple(np.multiply(r, s))), cortex_mm=1.0) for c, r in tarsals
    ]
    ops.append(
        Bone(f.cap((58 * s, -4 * s, 76 * s), (54 * s, -4 * s, 190 * s), 15 * s, 12 * s), cortex_mm=1.6)
    )
    ops.append(
        Bone(f.ell((58 * s, -19 * s, 66 * s), (9 * s, 5 * s, 12 * s)), cortex_mm=1.2)
    )  # medial malleolus
    ops.append(
        Bone(f.cap((50 * s, 24 * s, 52 * s), (45 * s, 24 * s, 190 * s), 7 * s, 6 * s), cortex_mm=1.2)
    )  # fibula
    for n, ray in enumerate(rays):
        radii = (6.0, 5.0, 4.2) if n == 0 else (4.2, 3.2, 2.7, 2.4)
        ops += _ray_bones(f, ray, tuple(r * s for r in radii))
    mtp1 = np.array(rays[0][1])
    for dv in (-4.5, 4.5):  # sesamoids under the first metatarsal head
        ops.append(
            Bone(
                f.ell((mtp1[0] - 3 * s, mtp1[1] + dv * s, mtp1[2] - 8.5 * s), (4 * s, 3.2 * s, 3.2 * s)), 0.9
            )
        )
    marks = {
        "ankle": f.p(60 * s, 0, 70 * s),
        "heel": f.p(30 * s, 6 * s, 15 * s),
        "dorsum": f.p(135 * s, 0, 58 * s),
        "sole": f.p(110 * s, 5 * s, 4.5 * s),
    }
    for n, ray in enumerate(rays, start=1):
        names = ("tmt", "mtp", "ip", "tip") if n == 1 else ("tmt", "mtp", "pip", "dip", "tip")
        for name, p in zip(names, ray, strict=True):
            marks[f"digit{n}_{name}"] = f.p(*p)
    return ops, marks


# --- deposit sites -----------------------------------------------------------------------


def _sd(sg: int) -> str:
    return "left" if sg > 0 else "right"


def _pulp_anchor(part: str):
    def anchor(an: Anatomy, sg: int, rng: np.random.Generator) -> np.ndarray:
        lm = an.landmarks
        n = int(rng.integers(1, 6))
        tip, dip = lm[f"digit{n}_tip_{_sd(sg)}"], lm[f"digit{n}_{'ip' if n == 1 else 'dip'}_{_sd(sg)}"]
        d = (tip - dip) / np.linalg.norm(tip - dip)
        return tip - d * 4.0 + PAD[part] * 4.0

    return anchor


def _joint_anchor(part: str):
    def anchor(an: Anatomy, sg: int, rng: np.random.Generator) -> np.ndarray:
        lm = an.landmarks
        if part == "hand":
            n = int(rng.integers(2, 6))
            joint = lm[f"digit{n}_{rng.choice(['mcp', 'pip'])!s}_{_sd(sg)}"]
        else:
            n = 1 if rng.random() < 0.6 else int(rng.integers(2, 6))
            joint = lm[f"digit{n}_mtp_{_sd(sg)}"]
        side = PAD[part] * (-1 if rng.random() < 0.5 else 1)
        return joint + side * 6.5

    return anchor


def _subcut_anchor(part: str):
    def anchor(an: Anatomy, sg: int, rng: np.random.Generator) -> np.ndarray:
        lm = an.landmarks
        name = "dorsum" if (part == "hand" or rng.random() < 0.5) else "sole"
        return lm[f"{name}_{_sd(sg)}"] + rng.uniform(-10, 10, 3) * (1 - np.abs(PAD[part]))

    return anchor


def _sites(part: str) -> dict[str, Site]:
    return {
        s.name: s
        for s in [
            Site(
                f"{part}_digit_pulp",
                part,
                "skin_subcutaneous",
                _pulp_anchor(part),
                2.5,
                SUBCUT,
                SUBCUT,
                bone_gap=(0.6, 8),
                min_host_fraction=0.9,
            ),
            Site(
                f"{part}_subcutaneous",
                part,
                "skin_subcutaneous",
                _subcut_anchor(part),
                6,
                frozenset({T.FAT}),
                SUBCUT,
                bone_gap=(1.0, np.inf),
                min_host_fraction=0.8,
            ),
            Site(
                f"{part}_periarticular",
                part,
                "periarticular",
                _joint_anchor(part),
                3,
                SOFT,
                SOFT,
                bone_gap=(0.0, 0.5),
                min_host_fraction=0.9,
            ),
        ]
    }


def build_hands_feet(seed: int, body_rng: np.random.Generator, dep_rng: np.random.Generator) -> PartModel:
    """Both hands (even seeds) or both feet (odd seeds) with their deposits."""
    part = "hand" if seed % 2 == 0 else "foot"
    s = float(body_rng.uniform(0.9, 1.05))
    ops: list[Op] = []
    landmarks: dict[str, np.ndarray] = {}
    for side, sg in SIDES.items():
        f = _hand_frame(sg, s) if part == "hand" else _foot_frame(sg, s)
        side_ops, marks = hand_ops(f, s) if part == "hand" else foot_ops(f, s)
        ops += side_ops
        landmarks.update({f"{k}_{side}": v for k, v in marks.items()})
    pts = np.array(list(landmarks.values()))
    lo = pts.min(axis=0) - vec([25, 25, 20]) * s
    hi = pts.max(axis=0) + vec([25, 25, 20]) * s
    if part == "foot":
        hi[2] = 125 * s  # the distal leg: the scan stops a hand's breadth above the ankle
        lo[2] = -6 * s
    lo[1], hi[1] = min(lo[1], -60.0), max(hi[1], 30.0)  # the table under the body
    anatomy = Anatomy(
        layout=None,
        ops=table_op(float(hi[0] + 20), float(lo[2]), float(hi[2])) + ops,  # type: ignore[arg-type]
        landmarks=landmarks,
    )
    plans = _plans(part, dep_rng)
    return PartModel(
        anatomy=anatomy,
        lo=lo,
        hi=hi,
        body_part=part.upper(),
        sites=_sites(part),
        plans=plans,
        table=hu_table(False),
        fine=True,
        extra={"extremity": part},
    )


def _plans(part: str, rng: np.random.Generator) -> list[DepositPlan]:
    dens = (300.0, 900.0)
    main = 1 if rng.random() < 0.5 else -1
    plans = [
        DepositPlan(f"{part}_digit_pulp", main, (10, 80), (1, 3), dens)
        for _ in range(int(rng.integers(2, 4)))
    ]
    plans.append(DepositPlan(f"{part}_digit_pulp", -main, (10, 60), (1, 2), dens))
    plans.append(DepositPlan(f"{part}_subcutaneous", int(rng.choice([1, -1])), (20, 200), (1, 3), dens))
    plans.append(DepositPlan(f"{part}_periarticular", main, (20, 200), (1, 3), dens))
    plans.append(DepositPlan(f"{part}_periarticular", -main, (15, 120), (1, 2), dens))
    return plans
