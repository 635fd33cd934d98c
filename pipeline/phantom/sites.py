"""Where deposits go: the documented sites of each calcinosis type, as anchors on the
anatomy plus rules for the tissue a deposit may sit in and its distance to bone.

Each `Site` names the report-contract region and tissue that a deposit placed there has;
placement (placement.py) enforces the rules on the rendered label map, so the names are
true of the voxels, not just intended.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pipeline.phantom.anatomy import Anatomy
from pipeline.phantom.labels import T
from pipeline.phantom.sdf import vec
from pipeline.phantom.vessels import aorta_points

Anchor = Callable[[Anatomy, int, np.random.Generator], np.ndarray]

SOFT = frozenset({T.MUSCLE, T.FAT, T.TENDON})
SUBCUT = frozenset({T.FAT, T.SKIN})


@dataclass(frozen=True)
class Site:
    """A kind of place a deposit can be put, and the rules that make it that place."""

    name: str
    region: str
    tissue: str
    anchor: Anchor  # (anatomy, side sign, rng) -> body-frame point near which to place
    search_mm: float  # half-size of the cube round the anchor where the centre may go
    hosts: frozenset[int]  # labels the centre must lie in
    allowed: frozenset[int]  # labels the deposit may occupy (its mask is clipped to these)
    bone_gap: tuple[float, float] | None = None  # (min, max) mm from the deposit to bone
    host_depth: float = 0.0  # centre at least this many radii (plus 1 voxel) inside the host
    min_host_fraction: float = 0.5  # of the mask on host labels
    kind: str = "clump"  # "clump" | "tendon" | "plaque": how the shape is built
    sided: bool = True


def _s(an: Anatomy) -> float:
    return an.layout.s


def _side(sg: int) -> str:
    return "left" if sg > 0 else "right"


def _pick(rng: np.random.Generator, options: list[np.ndarray]) -> np.ndarray:
    return options[int(rng.integers(len(options)))]


def hip_anchor(an: Anatomy, sg: int, rng: np.random.Generator) -> np.ndarray:
    hip, s = an.layout.hips[_side(sg)], _s(an)
    return _pick(
        rng,
        [
            hip.greater_trochanter + vec([sg * 16, 4, 34]) * s,  # above the trochanter, gluteus medius
            hip.head + vec([sg * 22, 46, 4]) * s,  # behind the joint
            hip.head + vec([sg * 10, -42, 18]) * s,  # in front of the joint
        ],
    )


def shoulder_anchor(an: Anatomy, sg: int, rng: np.random.Generator) -> np.ndarray:
    lb, s = an.layout.limbs[_side(sg)], _s(an)
    return _pick(
        rng,
        [
            lb.humeral_head + vec([sg * 36, -6, -8]) * s,  # under the deltoid
            lb.humeral_head + vec([sg * 12, -40, -6]) * s,  # in front
            lb.humeral_head + vec([sg * 14, 34, -4]) * s,  # behind
        ],
    )


def elbow_anchor(an: Anatomy, sg: int, rng: np.random.Generator) -> np.ndarray:
    lb, s = an.layout.limbs[_side(sg)], _s(an)
    return _pick(
        rng,
        [
            lb.elbow + vec([sg * 28, -6, 6]) * s,
            lb.elbow + vec([-sg * 26, -8, 6]) * s,
            lb.elbow + vec([0, -26, 4]) * s,
        ],
    )


def hand_anchor(an: Anatomy, sg: int, rng: np.random.Generator) -> np.ndarray:
    lb, s = an.layout.limbs[_side(sg)], _s(an)
    f = lb.fingers[int(rng.integers(4))]
    joint = f.joints[int(rng.integers(2))]
    return joint + vec([0, -9, 0]) * s  # on the back of the hand / finger


def trunk_wall_point(an: Anatomy, sg: int, z: float, u: float, depth: float) -> np.ndarray:
    """A point `depth` mm under the anterior-lateral skin of the trunk at height z, at
    relative lateral position u (0 midline, 1 flank)."""
    lay = an.layout
    zz = np.array(z)
    a = float(lay.trunk_a(zz)) - depth
    b = float(lay.trunk_b(zz)) - depth
    p = float(lay.trunk_p(zz))
    cy = -float(lay.trunk_b(zz))
    return vec([sg * a * u, cy - b * (1 - u**p) ** (1 / p), z])


def chest_wall_anchor(an: Anatomy, sg: int, rng: np.random.Generator) -> np.ndarray:
    s, lay = _s(an), an.layout
    z = float(rng.uniform(405, 470)) * s
    depth = lay.skin_mm + float(lay.fat(np.array(z))) + 9 * s
    return trunk_wall_point(an, sg, z, float(rng.uniform(0.45, 0.7)), depth)


def subcut_anchor(z_range: tuple[float, float]) -> Anchor:
    def anchor(an: Anatomy, sg: int, rng: np.random.Generator) -> np.ndarray:
        lay, s = an.layout, _s(an)
        z = float(rng.uniform(*z_range)) * s
        depth = lay.skin_mm + 0.5 * float(lay.fat(np.array(z)))
        return trunk_wall_point(an, sg, z, float(rng.uniform(0.25, 0.75)), depth)

    return anchor


def thigh_subcut_anchor(an: Anatomy, sg: int, rng: np.random.Generator) -> np.ndarray:
    lay, s = an.layout, _s(an)
    hip = lay.hips[_side(sg)]
    z = float(rng.uniform(-150, -100)) * s
    t = (hip.thigh_top[2] - z) / (470 * s)
    centre = hip.thigh_top + t * vec([sg * 5, 10, -470]) * s
    r = hip.thigh_radius[0] + t * (hip.thigh_radius[1] - hip.thigh_radius[0])
    ang = float(rng.uniform(-0.3, 0.9))  # 0 = straight in front, 1.57 = lateral
    d = vec([sg * np.sin(ang), -np.cos(ang), 0])
    return centre + d * (r - lay.skin_mm - 0.4 * 0.8 * lay.p.fat_mm)


def organ_anchor(name: str, jitter_mm: float = 0.0) -> Anchor:
    def anchor(an: Anatomy, sg: int, rng: np.random.Generator) -> np.ndarray:
        key = name.replace("{side}", _side(sg))
        return an.landmarks[key] + rng.uniform(-jitter_mm, jitter_mm, 3) * _s(an)

    return anchor


def stomach_anchor(an: Anatomy, sg: int, rng: np.random.Generator) -> np.ndarray:
    """The lower stomach, well below the left hemidiaphragm."""
    return an.landmarks["stomach"] + vec([0, 0, -22]) * _s(an)


def lung_anchor(an: Anatomy, sg: int, rng: np.random.Generator) -> np.ndarray:
    s, p = _s(an), an.layout.p
    return vec([sg * 72 * p.width, -110 * p.depth, float(rng.uniform(400, 480))]) * s


def brain_anchor(an: Anatomy, sg: int, rng: np.random.Generator) -> np.ndarray:
    return an.landmarks["brain"] + vec([sg * 24, rng.uniform(-20, 20), rng.uniform(-12, 12)]) * _s(an)


def aorta_anchor(an: Anatomy, sg: int, rng: np.random.Generator) -> np.ndarray:
    """A point of the abdominal aortic wall, between the bifurcation and L1 (below the lung
    bases, so that the region is unambiguously the abdomen): a plaque's centre."""
    pts, radii = aorta_points(an.layout)
    lay = an.layout
    z = float(rng.uniform(lay.points["aortic_bifurcation"][2] + 20 * lay.s, lay.vertebra("L1").z - 5 * lay.s))
    zs = np.array([p[2] for p in pts])
    order = np.argsort(zs)
    c = np.array([np.interp(z, zs[order], np.array([p[i] for p in pts])[order]) for i in range(3)])
    r = float(np.interp(z, zs[order], np.array(radii)[order]))
    ang = float(rng.uniform(0, 2 * np.pi))
    return c + vec([np.cos(ang), np.sin(ang), 0]) * (r + 1.0)


def finger_pulp_anchor(an: Anatomy, sg: int, rng: np.random.Generator) -> np.ndarray:
    lb, s = an.layout.limbs[_side(sg)], _s(an)
    f = lb.fingers[int(rng.integers(len(lb.fingers)))]
    d = f.joints[-1] - f.joints[-2]
    d = d / np.linalg.norm(d)
    return f.tip - d * 5 * s + vec([0, 4.0, 0]) * s  # palm side of the fingertip


def forearm_anchor(an: Anatomy, sg: int, rng: np.random.Generator) -> np.ndarray:
    lay, s = an.layout, _s(an)
    lb = lay.limbs[_side(sg)]
    t = float(rng.uniform(0.25, 0.75))
    centre = lb.elbow + t * (lb.wrist - lb.elbow)
    r = lb.arm_radius[1] + t * (lb.arm_radius[2] + 4 * s - lb.arm_radius[1])
    d = _pick(rng, [vec([0, -1, 0]), vec([sg, -0.3, 0]), vec([-sg, -0.3, 0])])
    d = d / np.linalg.norm(d)
    return centre + d * (r - lay.skin_mm - 0.5 * 0.55 * lay.p.fat_mm)


def elbow_subcut_anchor(an: Anatomy, sg: int, rng: np.random.Generator) -> np.ndarray:
    lay = an.layout
    lb = lay.limbs[_side(sg)]
    d = _pick(rng, [vec([sg, 0, 0]), vec([0, -1, 0])])
    return lb.elbow + d * (lb.arm_radius[1] - lay.skin_mm - 0.5 * 0.55 * lay.p.fat_mm)


def hand_dorsum_anchor(an: Anatomy, sg: int, rng: np.random.Generator) -> np.ndarray:
    lb, s = an.layout.limbs[_side(sg)], _s(an)
    return lb.hand + vec([sg * rng.uniform(-20, 20), -12.5, rng.uniform(-20, 15)]) * s


def insertion_anchor(name: str) -> Anchor:
    def anchor(an: Anatomy, sg: int, rng: np.random.Generator) -> np.ndarray:
        return an.landmarks[f"{name}_{_side(sg)}"]

    return anchor


SITES: dict[str, Site] = {
    s.name: s
    for s in [
        # periarticular masses (tumoral calcinosis; metastatic calcification too)
        Site(
            "hip_periarticular",
            "hip",
            "periarticular",
            hip_anchor,
            10,
            SOFT,
            SOFT,
            bone_gap=(3, 14),
            min_host_fraction=0.9,
        ),
        Site(
            "shoulder_periarticular",
            "shoulder",
            "periarticular",
            shoulder_anchor,
            10,
            SOFT,
            SOFT,
            bone_gap=(3, 14),
            min_host_fraction=0.9,
        ),
        Site(
            "elbow_periarticular",
            "elbow",
            "periarticular",
            elbow_anchor,
            8,
            SOFT,
            SOFT,
            bone_gap=(3, 12),
            min_host_fraction=0.9,
        ),
        Site(
            "hand_periarticular",
            "hand",
            "periarticular",
            hand_anchor,
            5,
            SOFT,
            SOFT,
            bone_gap=(2, 8),
            min_host_fraction=0.9,
        ),
        Site(
            "chest_wall",
            "chest",
            "muscle",
            chest_wall_anchor,
            8,
            frozenset({T.MUSCLE}),
            SOFT,
            bone_gap=(3, 40),
            min_host_fraction=0.6,
        ),
        # metastatic calcification in organs and vessel walls
        Site(
            "kidney",
            "abdomen",
            "kidney",
            organ_anchor("kidney_{side}", 12),
            20,
            frozenset({T.KIDNEY_CORTEX, T.KIDNEY_MEDULLA}),
            frozenset({T.KIDNEY_CORTEX, T.KIDNEY_MEDULLA, T.RENAL_SINUS}),
            host_depth=0.9,
            min_host_fraction=0.8,
        ),
        Site(
            "stomach",
            "abdomen",
            "stomach",
            organ_anchor("stomach"),
            45,
            frozenset({T.STOMACH_WALL}),
            frozenset({T.STOMACH_WALL, T.STOMACH_FLUID, T.GAS}),
            min_host_fraction=0.4,
            sided=False,
        ),
        Site(
            "lung",
            "chest",
            "lung",
            lung_anchor,
            30,
            frozenset({T.LUNG}),
            frozenset({T.LUNG}),
            host_depth=1.3,
            min_host_fraction=0.95,
        ),
        Site(
            "brain",
            "head",
            "brain",
            brain_anchor,
            12,
            frozenset({T.BRAIN}),
            frozenset({T.BRAIN}),
            host_depth=1.3,
            min_host_fraction=0.95,
        ),
        Site(
            "eye",
            "head",
            "eye",
            organ_anchor("eye_{side}"),
            6,
            frozenset({T.EYE}),
            frozenset({T.EYE, T.LENS}),
            host_depth=0.6,
            min_host_fraction=0.8,
        ),
        Site(
            "aortic_wall",
            "abdomen",
            "arterial_wall",
            aorta_anchor,
            1.5,
            frozenset({T.ARTERY_WALL, T.ARTERY}),
            frozenset({T.ARTERY_WALL, T.ARTERY}),
            min_host_fraction=0.9,
            kind="plaque",
            sided=False,
        ),
        Site(
            "subcutaneous_abdomen",
            "abdomen",
            "skin_subcutaneous",
            subcut_anchor((195, 265)),
            6,
            frozenset({T.FAT}),
            SUBCUT,
            bone_gap=(5, np.inf),
            min_host_fraction=0.7,
        ),
        Site(
            "subcutaneous_thigh",
            "thigh",
            "skin_subcutaneous",
            thigh_subcut_anchor,
            6,
            frozenset({T.FAT}),
            SUBCUT,
            bone_gap=(5, np.inf),
            min_host_fraction=0.7,
        ),
        # dystrophic calcinosis cutis
        Site(
            "finger_pulp",
            "hand",
            "skin_subcutaneous",
            finger_pulp_anchor,
            2.5,
            SUBCUT,
            SUBCUT,
            bone_gap=(0.8, 8),
            min_host_fraction=0.9,
        ),
        Site(
            "forearm_subcutaneous",
            "forearm",
            "skin_subcutaneous",
            forearm_anchor,
            4,
            frozenset({T.FAT}),
            SUBCUT,
            bone_gap=(3, np.inf),
            min_host_fraction=0.8,
        ),
        Site(
            "elbow_subcutaneous",
            "elbow",
            "skin_subcutaneous",
            elbow_subcut_anchor,
            4,
            frozenset({T.FAT}),
            SUBCUT,
            bone_gap=(3, np.inf),
            min_host_fraction=0.8,
        ),
        Site(
            "hand_dorsum_subcutaneous",
            "hand",
            "skin_subcutaneous",
            hand_dorsum_anchor,
            3,
            SUBCUT,
            SUBCUT,
            bone_gap=(1.0, np.inf),
            min_host_fraction=0.8,
        ),
        # calcific tendinitis at the insertions
        Site(
            "supraspinatus_insertion",
            "shoulder",
            "tendon",
            insertion_anchor("supraspinatus_insertion"),
            7,
            frozenset({T.TENDON}),
            SOFT,
            bone_gap=(0, 2),
            min_host_fraction=0.3,
            kind="tendon",
        ),
        Site(
            "gluteus_medius_insertion",
            "hip",
            "tendon",
            insertion_anchor("gluteus_medius_insertion"),
            7,
            frozenset({T.TENDON}),
            SOFT,
            bone_gap=(0, 2),
            min_host_fraction=0.3,
            kind="tendon",
        ),
    ]
}
