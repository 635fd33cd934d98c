"""Head and neck CT (`head_neck`), vertex to the lower neck, with the dense structures
that make head CT hard for a calcinosis detector.

The body (neck, shoulders, cervical spine, lung apices) is the whole-body anatomy of the
seed; the head is drawn in more detail than head.py: a vault whose thickness varies as
in life (temporal squama ~2.5 mm, frontal and occipital ~7 mm, with diploe), a skull base
with petrous ridges and clivus, facial bones, mandible and teeth (enamel ~2800 HU,
dentine ~1750 HU), hyoid, laryngeal cartilages and airway. Physiologic calcifications
(pineal gland, choroid plexus of both atria, a falx plaque, thyroid and cricoid cartilage)
are listed in truth.json under `incidental`, apart from the deposits.
"""

from __future__ import annotations

import numpy as np

from pipeline.phantom import organs, skeleton, soft, tendons, vessels
from pipeline.phantom.anatomy import Anatomy, landmarks
from pipeline.phantom.bodypart import IncidentalPlan, PartModel, blob
from pipeline.phantom.labels import T, hu_table
from pipeline.phantom.layout import BodyParams, Layout, make_layout
from pipeline.phantom.placement import DepositPlan
from pipeline.phantom.scene import Bone, Fill, Layers, Op
from pipeline.phantom.sdf import (
    Capsule,
    Ellipsoid,
    HalfSpace,
    Intersect,
    Offset,
    Sphere,
    Subtract,
    Union,
    chain,
    vec,
)
from pipeline.phantom.sites import SOFT, SUBCUT, Site

INTRACRANIAL = frozenset({T.BRAIN, T.CSF})
SCALP_MM = 6.5  # skin and fat over the vault
VAULT_MM = (2.5, 7.0, 6.5)  # inner table inset along x (temporal), y (frontal/occipital), z (vertex)


def _head(lay: Layout) -> tuple[np.ndarray, np.ndarray]:
    h = soft.head_outline(lay)
    return h.center, h.radii


def _base_plane(lay: Layout) -> HalfSpace:
    """The cranial floor: high in front (orbital roofs), low behind (posterior fossa)."""
    c, _ = _head(lay)
    n = vec([0, -0.36, -1.0])
    return HalfSpace(c + vec([0, 0, -52]) * lay.s, n / np.linalg.norm(n))


def cranial_cavity(lay: Layout) -> Intersect:
    c, r = _head(lay)
    inner = Ellipsoid(c, r - SCALP_MM - vec(VAULT_MM))
    return Intersect(inner, _base_plane(lay))


def skull_ops(lay: Layout) -> list[Op]:
    s = lay.s
    c, r = _head(lay)
    outer = Offset(soft.head_outline(lay), -SCALP_MM)
    base = _base_plane(lay)
    below = HalfSpace(base.point + base.normal * 9 * s, base.normal)  # floor ~9 mm thick
    cavity = cranial_cavity(lay)
    eyes = {sg: c + vec([sg * 31, -71, -48]) * s for sg in (1, -1)}
    orbit_cut = Union(tuple(Sphere(e, 16 * s) for e in eyes.values()))
    foramen = Capsule(c + vec([0, 22, -95]) * s, c + vec([0, 22, -20]) * s, 15 * s)
    skull = Subtract(Subtract(Subtract(Intersect(outer, below), cavity), orbit_cut), foramen)
    petrous = Union(
        tuple(
            Capsule(c + vec([sg * 56, 22, -50]) * s, c + vec([sg * 16, -4, -48]) * s, 8 * s, 6 * s)
            for sg in (1, -1)
        )
    )
    clivus = Capsule(c + vec([0, -16, -40]) * s, c + vec([0, 8, -64]) * s, 8 * s)
    mastoid = Union(tuple(Ellipsoid(c + vec([sg * 58, 20, -62]) * s, vec([9, 11, 14]) * s) for sg in (1, -1)))
    brain = Intersect(Offset(cavity, -2.5 * s), Ellipsoid(c, r))
    ops: list[Op] = [
        Fill(T.CSF, cavity),
        Fill(T.BRAIN, brain),
        Fill(T.BRAIN, Capsule(c + vec([0, 14, -52]) * s, c + vec([0, 20, -92]) * s, 11 * s)),  # brainstem
    ]
    for sg in (1, -1):  # lateral ventricles, their atria, the third ventricle
        ops.append(Fill(T.CSF, Ellipsoid(c + vec([sg * 10, 2, 12]) * s, vec([6, 24, 10]) * s)))
        ops.append(Fill(T.CSF, Ellipsoid(c + vec([sg * 17, 20, 6]) * s, vec([7, 10, 9]) * s)))
    ops.append(Fill(T.CSF, Ellipsoid(c + vec([0, 0, 0]) * s, vec([2.5, 13, 9]) * s)))
    ops += [Bone(skull, cortex_mm=1.6), Bone(Union((petrous, clivus, mastoid)), cortex_mm=2.0)]
    for e in eyes.values():
        ops.append(
            Fill(T.VISCERAL_FAT, Sphere(e + vec([0, 6, 0]) * s, 16 * s), within=frozenset({T.MUSCLE, T.FAT}))
        )
        ops.append(Fill(T.EYE, Sphere(e, 12 * s)))
        ops.append(Fill(T.LENS, Ellipsoid(e + vec([0, -9, 0]) * s, vec([4.5, 2, 4.5]) * s)))
    return ops


def _arch(theta: float, s: float) -> tuple[float, float]:
    """Dental arch: x, y of the tooth row at angle theta (0 = the midline incisors)."""
    return 27 * s * np.sin(theta), (-150 - 31 * np.cos(theta)) * s


def face_ops(lay: Layout) -> list[Op]:
    s = lay.s
    ops: list[Op] = []
    thetas = np.radians(np.linspace(-82, 82, 14))
    upper = [vec([*_arch(t, s), 708 * s]) for t in np.radians(np.linspace(-95, 95, 11))]
    lower = [vec([*_arch(t, s), 676 * s]) for t in np.radians(np.linspace(-95, 95, 11))]
    maxilla = Union((Ellipsoid(vec([0, -160, 720]) * s, vec([32, 22, 16]) * s), chain(upper, 8 * s)), k=4 * s)
    rami = [
        chain(
            [lower[0 if sg < 0 else -1], vec([sg * 46, -114, 700]) * s, vec([sg * 52, -104, 734]) * s],
            6.5 * s,
        )
        for sg in (1, -1)
    ]
    mandible = Union(
        (chain(lower, 8.5 * s), chain([p + vec([0, 0, -9]) * s for p in lower], 7 * s), *rami), k=3 * s
    )
    zygoma = Union(
        tuple(
            Capsule(vec([sg * 46, -160, 738]) * s, vec([sg * 62, -114, 736]) * s, 4.5 * s) for sg in (1, -1)
        )
    )
    nasal = Union(
        tuple(Capsule(vec([sg * 4, -183, 770]) * s, vec([sg * 8, -194, 748]) * s, 2.2 * s) for sg in (1, -1))
    )
    ops += [Bone(maxilla, 1.5), Bone(mandible, 2.2), Bone(zygoma, 1.5), Bone(nasal, 1.0)]
    for sg in (1, -1):  # maxillary sinuses
        ops.append(
            Fill(
                T.AIRWAY,
                Ellipsoid(vec([sg * 17, -158, 724]) * s, vec([10, 12, 11]) * s),
                within=frozenset({T.CANCELLOUS}),
            )
        )
    ops.append(Fill(T.AIRWAY, Ellipsoid(vec([0, -176, 738]) * s, vec([8, 16, 16]) * s)))  # nasal cavity
    for t in thetas:  # teeth: enamel crowns, dentine roots
        x, y = _arch(float(t), s)
        molar = abs(t) > np.radians(45)
        cr = (4.8, 4.8, 3.6) if molar else (3.6, 2.8, 4.6)
        for z_crown, z_root in ((701.5 * s, 713 * s), (690.5 * s, 679 * s)):
            ops.append(Fill(T.DENTINE, Capsule(vec([x, y, z_crown]), vec([x, y, z_root]), 2.4, 1.4)))
            ops.append(Layers(Ellipsoid(vec([x, y, z_crown]), vec(cr)), ((1.3, T.ENAMEL),), core=T.DENTINE))
    return ops


def neck_ops(lay: Layout) -> list[Op]:
    """Hyoid (bone), thyroid and cricoid cartilage round the larynx, the laryngeal airway."""
    s = lay.s
    hy = (
        [vec([sg * 20, -124, 655]) * s for sg in (-1,)]
        + [vec([0, -140, 657]) * s]
        + [vec([20, -124, 655]) * s]
    )
    hyoid = chain([hy[0], vec([-11, -137, 657]) * s, hy[1], vec([11, -137, 657]) * s, hy[2]], 2.6 * s)
    lar = larynx_centre(lay)
    thyroid = Intersect(
        Subtract(Ellipsoid(lar, vec([20, 17, 13]) * s), Ellipsoid(lar, vec([17.5, 14.5, 16]) * s)),
        HalfSpace(lar + vec([0, 2, 0]) * s, vec([0, 1, 0])),
    )
    cric = lar + vec([0, 5, -20]) * s
    cricoid = Subtract(Ellipsoid(cric, vec([13, 13, 5]) * s), Ellipsoid(cric, vec([10.5, 10.5, 8]) * s))
    soft_neck = frozenset({T.MUSCLE, T.FAT, T.VISCERAL_FAT})
    return [
        Fill(T.AIRWAY, Capsule(lar + vec([0, 2, 18]) * s, cric, 8 * s)),
        Fill(T.CARTILAGE, thyroid, within=soft_neck),
        Fill(T.CARTILAGE, cricoid, within=soft_neck),
        Bone(hyoid, cortex_mm=1.0),
        Bone(Ellipsoid(vec([0, -93, 712]) * s, vec([18, 10, 5]) * s), cortex_mm=1.5),  # atlas
        Bone(Capsule(vec([0, -96, 690]) * s, vec([0, -96, 716]) * s, 5 * s), cortex_mm=1.2),  # dens
    ]


def larynx_centre(lay: Layout) -> np.ndarray:
    return vec([0, -128, 645]) * lay.s


def incidental_plans(lay: Layout, rng: np.random.Generator) -> list[IncidentalPlan]:
    s = lay.s
    c, _ = _head(lay)
    u = rng.uniform
    out = [
        IncidentalPlan(
            "intracranial_physiologic",
            "pineal_gland",
            "head",
            blob(c + vec([0, 17, 2]) * s, (2.6, 3.0, 2.5)),
            INTRACRANIAL,
            float(u(500, 1000)),
        ),
    ]
    for sg, side in ((1, "left"), (-1, "right")):
        out.append(
            IncidentalPlan(
                "intracranial_physiologic",
                f"choroid_plexus_{side}",
                "head",
                blob(c + vec([sg * 17, 21, 6]) * s, (3.0, 3.6, 2.6)),
                INTRACRANIAL,
                float(u(350, 800)),
            )
        )
    falx = c + vec([0, float(u(-30, 20)), 58]) * s
    out.append(
        IncidentalPlan(
            "intracranial_physiologic",
            "falx",
            "head",
            blob(falx, (1.3, 7.0, 4.5)),
            INTRACRANIAL,
            float(u(700, 1200)),
        )
    )
    lar = larynx_centre(lay)
    for sg, side in ((1, "left"), (-1, "right")):
        p = lar + vec([sg * 15.5, -4, float(u(-6, 6))]) * s
        out.append(
            IncidentalPlan(
                "laryngotracheal_cartilage",
                f"thyroid_cartilage_{side}",
                "neck",
                blob(p, (3.5, 4.0, 4.0)),
                frozenset({T.CARTILAGE}),
                float(u(350, 800)),
            )
        )
    out.append(
        IncidentalPlan(
            "laryngotracheal_cartilage",
            "cricoid_cartilage",
            "neck",
            blob(lar + vec([0, 17, -20]) * s, (4.0, 3.5, 4.0)),
            frozenset({T.CARTILAGE}),
            float(u(350, 800)),
        )
    )
    return out


# --- deposit sites -----------------------------------------------------------------------


def _scalp_anchor(an: Anatomy, sg: int, rng: np.random.Generator) -> np.ndarray:
    """Under the scalp's skin over the vault, where the scalp is steep to the axial plane."""
    lay = an.layout
    c, r = _head(lay)
    az = sg * float(rng.uniform(0.35, np.pi - 0.35))  # on the deposit's side
    el = float(rng.uniform(np.radians(5), np.radians(40)))
    d = vec([np.cos(el) * np.sin(az), -np.cos(el) * np.cos(az), np.sin(el)])
    surface = c + d / np.sqrt(((d / r) ** 2).sum())
    return surface - d * (lay.skin_mm + 2.5)


def _neck_axis(lay: Layout, z: float) -> tuple[np.ndarray, float]:
    s = lay.s
    t = (z / s - 600) / 110
    return vec([0, -88 - 10 * t, z / s]) * s * vec([1, 1, 1]), (58 - 4 * t) * s


def _neck_anchor(depth: float):
    def anchor(an: Anatomy, sg: int, rng: np.random.Generator) -> np.ndarray:
        lay = an.layout
        z = float(rng.uniform(612, 665)) * lay.s
        centre, radius = _neck_axis(lay, z)
        ang = float(rng.uniform(np.radians(20), np.radians(160))) * sg
        d = vec([np.sin(ang), -np.cos(ang), 0])
        return centre + d * (radius - lay.skin_mm - depth)

    return anchor


SITES: dict[str, Site] = {
    s.name: s
    for s in [
        Site(
            "scalp_subcutaneous",
            "head",
            "skin_subcutaneous",
            _scalp_anchor,
            4,
            frozenset({T.FAT}),
            SUBCUT,
            bone_gap=(0.5, np.inf),
            min_host_fraction=0.6,
        ),
        Site(
            "neck_subcutaneous",
            "neck",
            "skin_subcutaneous",
            _neck_anchor(3.0),
            5,
            frozenset({T.FAT}),
            SUBCUT,
            bone_gap=(3, np.inf),
            min_host_fraction=0.6,
        ),
        Site(
            "neck_muscle",
            "neck",
            "muscle",
            _neck_anchor(16.0),
            6,
            frozenset({T.MUSCLE}),
            SOFT,
            bone_gap=(3, np.inf),
            host_depth=0.8,
            min_host_fraction=0.8,
        ),
    ]
}


def _plans(rng: np.random.Generator) -> list[DepositPlan]:
    d = (300.0, 900.0)
    side = 1 if rng.random() < 0.5 else -1
    plans = [DepositPlan("scalp_subcutaneous", sg, (10, 60), (1, 2), d) for sg in (side, -side)]
    plans.append(DepositPlan("neck_subcutaneous", -side, (10, 150), (1, 3), d))
    plans += [DepositPlan("neck_muscle", sg, (30, 300), (1, 3), d) for sg in (side, -side)][
        : int(rng.integers(1, 3))
    ]
    return plans


def build_head_neck(seed: int, body_rng: np.random.Generator, dep_rng: np.random.Generator) -> PartModel:
    params = BodyParams.sample(body_rng, with_head=True)
    lay = make_layout(params)
    ops: list[Op] = []
    ops += soft.table_ops(lay, 560 * lay.s, lay.z_top + 50)
    ops += soft.soft_tissue_ops(lay)
    ops += organs.thorax_ops(lay)
    ops += vessels.vessel_ops(lay)
    ops += tendons.tendon_ops(lay)
    ops += skull_ops(lay) + face_ops(lay) + neck_ops(lay)
    ops += skeleton.skeleton_ops(lay)
    marks = landmarks(lay)
    marks["pineal"] = _head(lay)[0] + vec([0, 17, 2]) * lay.s
    marks["larynx"] = larynx_centre(lay)
    anatomy = Anatomy(layout=lay, ops=ops, landmarks=marks)
    c, r = _head(lay)
    half = max(float(r[0]), 100 * lay.s)
    lo = vec([-half, c[1] - r[1], 600 * lay.s])
    hi = vec([half, 25.0, c[2] + r[2] + 2])
    return PartModel(
        anatomy=anatomy,
        lo=lo,
        hi=hi,
        body_part="HEADNECK",
        sites=SITES,
        plans=_plans(dep_rng),
        table=hu_table(False),
        incidental=incidental_plans(lay, dep_rng),
    )
