"""Where everything is: seeded body parameters and the key positions derived from them.

All positions are in the body frame (see grid.py), in mm, for the supine patient with the
arms at the sides, palms down on the table (pronated), fingers towards the feet. Numbers
are for an adult of scale 1.0 and are multiplied by `scale`; a seed varies scale, habitus,
fat and the positions of the organs. Side `sg` is +1 for the patient's left (x > 0) and -1
for the right.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipeline.phantom.sdf import Profile, vec

SIDES = {"left": 1, "right": -1}
FINGERS = (2, 3, 4, 5)  # index .. little; the thumb (1) is drawn on its own


@dataclass(frozen=True)
class BodyParams:
    """What a seed decides about the body (all lengths scale with `scale`)."""

    scale: float
    width: float  # relative trunk width
    depth: float  # relative trunk depth
    fat_mm: float  # subcutaneous fat over the abdomen
    organ_shift: dict[str, np.ndarray]  # organ name -> offset (mm)
    with_head: bool
    arterial_hu: float

    @staticmethod
    def sample(rng: np.random.Generator, with_head: bool) -> BodyParams:
        names = ("liver", "stomach", "spleen", "kidney_left", "kidney_right", "heart", "bladder")
        shifts = {n: rng.uniform(-8, 8, 3) for n in names}
        return BodyParams(
            scale=float(rng.uniform(0.84, 0.96)),
            width=float(rng.uniform(0.95, 1.04)),
            depth=float(rng.uniform(0.93, 1.06)),
            fat_mm=float(rng.uniform(7, 24)),
            organ_shift=shifts,
            with_head=with_head,
            arterial_hu=float(rng.uniform(260, 400)),
        )


@dataclass(frozen=True)
class Vertebra:
    name: str  # "L3", "T12", "C2"
    z: float  # centre of the body
    half_height: float
    y: float  # centre of the body (AP)
    rx: float  # half-width of the body
    ry: float  # half-depth of the body

    @property
    def canal_y(self) -> float:
        return self.y + self.ry + 9.0 * self.rx / 20


@dataclass(frozen=True)
class Finger:
    """One finger of a hand: joint centres from the MCP joint to the tip."""

    number: int
    joints: tuple[np.ndarray, ...]  # MCP, PIP, DIP, tip (thumb: MCP, IP, tip)
    radius: float  # soft-tissue radius

    @property
    def tip(self) -> np.ndarray:
        return self.joints[-1]


@dataclass(frozen=True)
class Limb:
    """Key points of one arm (shoulder to fingertips)."""

    sg: int
    humeral_head: np.ndarray
    head_radius: float
    greater_tuberosity: np.ndarray
    glenoid: np.ndarray
    acromion: np.ndarray
    elbow: np.ndarray
    wrist: np.ndarray
    hand: np.ndarray  # centre of the palm
    fingers: tuple[Finger, ...]
    arm_radius: tuple[float, float, float]  # soft tissue at shoulder, elbow, wrist


@dataclass(frozen=True)
class Hip:
    sg: int
    head: np.ndarray  # femoral head centre = acetabulum centre
    head_radius: float
    neck_base: np.ndarray
    greater_trochanter: np.ndarray
    gt_radii: np.ndarray
    lesser_trochanter: np.ndarray
    shaft_top: np.ndarray
    knee: np.ndarray
    thigh_top: np.ndarray
    thigh_radius: tuple[float, float]


@dataclass
class Layout:
    """Every key position of one body, plus the outline profiles of the trunk."""

    p: BodyParams
    spine: list[Vertebra]
    hips: dict[str, Hip]
    limbs: dict[str, Limb]
    trunk_a: Profile
    trunk_b: Profile
    trunk_p: Profile
    fat: Profile
    z_bottom: float  # lowest point that must be in the scan
    z_top: float
    diaphragm: dict[str, float]  # dome apex z per side
    cavity_a: Profile  # body cavity (pleura / peritoneum): half-width,
    cavity_b: Profile  # half-depth
    cavity_cy: Profile  # and AP centre
    cavity_z: tuple[float, float]
    skin_mm: float
    points: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def s(self) -> float:
        return self.p.scale

    def vertebra(self, name: str) -> Vertebra:
        return next(v for v in self.spine if v.name == name)

    def trunk_cy(self) -> Profile:
        """The trunk's AP centre: its back lies on the table (y = 0)."""
        return Profile(self.trunk_b.z, -self.trunk_b.v)

    def half_width(self) -> float:
        """Half of the widest extent, hands included."""
        return float(max(abs(lb.hand[0]) + 40 * self.s for lb in self.limbs.values()))


def make_layout(p: BodyParams) -> Layout:
    s = p.scale
    spine = _spine(s, p.depth)
    hips = {name: _hip(sg, s, p.width, p.depth) for name, sg in SIDES.items()}
    limbs = {name: _limb(sg, s, p.width) for name, sg in SIDES.items()}
    zk = np.array([-75, -30, 10, 70, 130, 200, 280, 380, 470, 530, 575, 610, 650]) * s
    a = np.array([150, 178, 186, 180, 168, 150, 150, 150, 149, 146, 136, 100, 62]) * s * p.width
    b = np.array([92, 100, 106, 110, 110, 104, 108, 112, 110, 102, 92, 80, 62]) * s * p.depth
    pp = np.array([2.8, 2.8, 2.8, 2.6, 2.4, 2.3, 2.2, 2.2, 2.3, 2.4, 2.4, 2.2, 2.0])
    fat_rel = np.array([0.9, 1.0, 1.0, 1.0, 1.0, 1.0, 0.95, 0.6, 0.45, 0.45, 0.4, 0.35, 0.3])
    fingertip = min(f.tip[2] for lb in limbs.values() for f in lb.fingers)
    top = (900 if p.with_head else 612) * s
    skin = 2.0
    fat = Profile(zk, fat_rel * p.fat_mm)
    ca, cb, ccy = _cavity(zk, a, b, fat, skin, s)
    lay = Layout(
        p=p,
        spine=spine,
        hips=hips,
        limbs=limbs,
        trunk_a=Profile(zk, a),
        trunk_b=Profile(zk, b),
        trunk_p=Profile(zk, pp),
        fat=fat,
        z_bottom=float(fingertip - 10 * s),
        z_top=float(top),
        diaphragm={"right": 385 * s + p.organ_shift["liver"][2] * 0.5, "left": 368 * s},
        cavity_a=ca,
        cavity_b=cb,
        cavity_cy=ccy,
        cavity_z=(-20 * s, 600 * s),
        skin_mm=skin,
    )
    lay.points.update(_viscera_points(lay))
    return lay


def _cavity(
    zk: np.ndarray, a: np.ndarray, b: np.ndarray, fat: Profile, skin: float, s: float
) -> tuple[Profile, Profile, Profile]:
    """The pleural/peritoneal cavity: the trunk minus skin, fat and the muscular wall
    (thick round the pelvis and behind the spine, thin over the ribs)."""
    zc = np.array([-20, 20, 60, 100, 140, 200, 260, 320, 380, 450, 520, 570, 600]) * s
    lat = np.array([120, 110, 95, 45, 30, 18, 18, 16, 14, 14, 18, 30, 40]) * s
    ant = np.array([40, 25, 18, 15, 15, 15, 14, 14, 14, 18, 20, 25, 40]) * s
    post = np.array([60, 55, 45, 25, 20, 18, 18, 24, 36, 40, 40, 40, 40]) * s
    ta, tb = np.interp(zc, zk, a), np.interp(zc, zk, b)
    layer = fat(zc) + skin
    front = -2 * tb + layer + ant
    back = -(layer + post)
    return Profile(zc, ta - layer - lat), Profile(zc, (back - front) / 2), Profile(zc, (back + front) / 2)


def _spine(s: float, depth: float) -> list[Vertebra]:
    """Vertebrae from L5 up to C1 (C levels are used only when the head is drawn)."""
    y_of = Profile(
        np.array([100, 150, 230, 300, 350, 450, 540, 600, 700]) * s,
        np.array([-88, -96, -100, -92, -86, -76, -76, -84, -92]) * s * depth,
    )
    r_of = Profile(np.array([120, 330, 420, 560, 600, 720]) * s, np.array([24, 19, 16, 13, 10, 9]) * s)
    levels = [f"L{n}" for n in range(5, 0, -1)] + [f"T{n}" for n in range(12, 0, -1)]
    levels += [f"C{n}" for n in range(7, 0, -1)]
    units = [36.0] * 5 + list(np.linspace(28, 20, 12)) + [17.0] * 7
    out, z = [], 112.0 * s
    for name, unit in zip(levels, units, strict=True):
        disc = 0.25 * unit if name[0] == "L" else 0.2 * unit
        zc = z + disc * s + 0.5 * (unit - disc) * s
        r = float(r_of(np.array(zc)))
        out.append(Vertebra(name, float(zc), 0.5 * (unit - disc) * s, float(y_of(np.array(zc))), r, 0.8 * r))
        z += unit * s
    return out


def _hip(sg: int, s: float, w: float, d: float) -> Hip:
    h = vec([sg * 88 * w, -108 * d, 0]) * s
    return Hip(
        sg=sg,
        head=h,
        head_radius=24 * s,
        neck_base=h + vec([sg * 38, 3, -28]) * s,
        greater_trochanter=h + vec([sg * 55, 8, -12]) * s,
        gt_radii=vec([13, 20, 22]) * s,
        lesser_trochanter=h + vec([sg * 22, 16, -52]) * s,
        shaft_top=h + vec([sg * 48, 4, -30]) * s,
        knee=h + vec([sg * 18, 13, -420]) * s,
        thigh_top=vec([sg * 95 * w, -88, 20]) * s,
        thigh_radius=(88 * s, 72 * s),
    )


def _limb(sg: int, s: float, w: float) -> Limb:
    x0 = 148 * w  # lateral chest wall
    hh = vec([sg * (x0 + 27), -88, 545]) * s
    elbow = vec([sg * (x0 + 52), -42, 250]) * s
    wrist = vec([sg * (x0 + 62), -22, 15]) * s
    hand = vec([sg * (x0 + 66), -15, -38]) * s
    fingers = _fingers(sg, s, hand)
    return Limb(
        sg=sg,
        humeral_head=hh,
        head_radius=23 * s,
        greater_tuberosity=hh + vec([sg * 19, -10, 4]) * s,
        glenoid=hh + vec([-sg * 32, 2, 0]) * s,
        acromion=hh + vec([sg * 5, 4, 38]) * s,
        elbow=elbow,
        wrist=wrist,
        hand=hand,
        fingers=fingers,
        arm_radius=(46 * s, 38 * s, 24 * s),
    )


def _fingers(sg: int, s: float, hand: np.ndarray) -> tuple[Finger, ...]:
    """Fingers 2-5 from the thumb side (medial, towards the body) to the little finger,
    then the thumb; segment lengths of an adult hand."""
    lengths = {2: (40, 24, 17), 3: (44, 28, 19), 4: (41, 26, 18), 5: (32, 19, 16)}
    across = {2: -15, 3: -5, 4: 5, 5: 14}
    out = []
    for f in FINGERS:
        du = across[f]
        mcp = hand + vec([sg * du * 1.05, -1, -42 - (2 if f in (3, 4) else 0)]) * s
        pts, cur = [mcp], mcp
        for n, seg in enumerate(lengths[f]):
            spread = sg * du * 0.04 * (n + 1)
            cur = cur + vec([spread, -0.5, -(seg + 2)]) * s
            pts.append(cur)
        out.append(Finger(f, tuple(pts), 8.5 * s if f < 5 else 7.5 * s))
    cmc = hand + vec([-sg * 20, -5, 28]) * s
    mcp1 = cmc + vec([-sg * 13, -8, -36]) * s
    ip1 = mcp1 + vec([-sg * 5, -3, -30]) * s
    tip1 = ip1 + vec([-sg * 2, -1, -22]) * s
    out.append(Finger(1, (mcp1, ip1, tip1), 9.0 * s))
    return tuple(out)


def _viscera_points(lay: Layout) -> dict[str, np.ndarray]:
    """Centres of the organs (before the seeded shifts the organ builders add)."""
    s, sh = lay.s, lay.p.organ_shift
    k = np.array([lay.p.width, lay.p.depth, 1.0])
    pts = {
        "liver": vec([-55, -118, 330]) * s + sh["liver"],
        "stomach": vec([58, -135, 325]) * s + sh["stomach"],
        "spleen": vec([92, -60, 335]) * s + sh["spleen"],
        "kidney_left": vec([62, -72, 282]) * s + sh["kidney_left"],
        "kidney_right": vec([-60, -72, 266]) * s + sh["kidney_right"],
        "heart": vec([18, -135, 420]) * s + sh["heart"],
        "bladder": vec([0, -130, 45]) * s + sh["bladder"],
        "aortic_bifurcation": vec([8, -118, 180]) * s,
        "carina": vec([0, -100, 470]) * s,
        "sternum_top": vec([0, -192, 548]) * s,
        "xiphoid": vec([0, -215, 395]) * s,
        "symphysis": vec([0, -178, 5]) * s,
    }
    return {name: v * k if name not in sh else (v - sh[name]) * k + sh[name] for name, v in pts.items()}
