"""Landmarks read from the scan itself: trunk outline and midline, spine, lungs, skull,
limbs, and the ball-shaped joint heads (femoral and humeral).

Nothing here is tuned to one body: every landmark is a shape rule (the skull is bone that
closes a ring round brain-density tissue, a joint head is a ball of bone lateral to the
midline, an arm is a body part that is separate from the trunk), so the same rules hold
for a phantom and for a patient lying off-centre.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from pipeline.anatomy.space import Coarse

BALL_MIN_RADIUS_MM = 14.0  # femoral and humeral heads are 20-27 mm in radius
_PELVIS_MIN_CM2 = 250.0  # the section through the hips; a foot or a knee is far smaller
SIDES = {"left": 1, "right": -1}
IN_PLANE = np.array([np.zeros((3, 3)), ndimage.generate_binary_structure(2, 1), np.zeros((3, 3))], bool)


@dataclass(frozen=True)
class Ball:
    """A joint head: centre (LPS mm) and radius (mm)."""

    centre: np.ndarray
    radius: float


@dataclass
class Landmarks:
    grid: Coarse
    z: np.ndarray  # LPS z of each coarse slice
    x: np.ndarray  # LPS x of each column
    y: np.ndarray  # LPS y of each row
    central: np.ndarray  # trunk (or legs) cells, bool (z, y, x)
    arms: np.ndarray  # int labels of body parts separate from the trunk (arms, hands)
    midline: np.ndarray  # LPS x of the midline per slice
    spine_front: np.ndarray  # LPS y of the front of the vertebral body per slice (nan: none)
    lung_top: float | None
    lung_base: float | None  # lowest aerated lung
    diaphragm: float | None  # lowest slice with much lung: chest above, abdomen below
    brain: np.ndarray  # cells enclosed by the skull
    head_bottom: float | None
    femoral: dict[str, Ball] = field(default_factory=dict)
    humeral: dict[str, Ball] = field(default_factory=dict)

    def slice_of(self, z_mm: float) -> int:
        return int(np.argmin(np.abs(self.z - z_mm)))


def find_landmarks(grid: Coarse) -> Landmarks:
    sp = grid.space
    z, y, x = sp.axis_mm(0), sp.axis_mm(1), sp.axis_mm(2)
    central, arms = split_trunk(grid.body, sp.spacing)
    midline, spine_front = midline_and_spine(grid.bone, central, x, y)
    grid.lungs = true_lungs(grid.lungs, central, y)
    lung_top, lung_base, diaphragm = lung_levels(grid.lungs, z, sp.cell_area_cm2)
    brain = skull_interior(grid, central)
    ks = np.flatnonzero(brain.any(axis=(1, 2)))
    head_bottom = float(z[ks].min()) - 25.0 if len(ks) >= 3 else None
    lm = Landmarks(
        grid, z, x, y, central, arms, midline, spine_front, lung_top, lung_base, diaphragm, brain, head_bottom
    )
    find_joint_heads(lm)
    return lm


def split_trunk(body: np.ndarray, spacing: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Per slice, the trunk is the largest body part plus any other large part next to it
    (the other leg); smaller parts standing apart are limbs (arms, hands), labelled in 3D."""
    central = _trunk(body, spacing)
    if central is None:
        return np.zeros_like(body), np.zeros(body.shape, np.int32)
    return central, _limbs(body & ~central, spacing)


def _trunk(body: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray | None:
    """The trunk cells of each slice (None: no body at all)."""
    lab, n = ndimage.label(body, structure=IN_PLANE)
    if n == 0:
        return None
    areas = np.bincount(lab[body], minlength=n + 1)  # body cells only: 0 (outside) is not a part
    boxes = ndimage.find_objects(lab)
    by_slice: dict[int, list[int]] = {}
    for i, box in enumerate(boxes, start=1):
        by_slice.setdefault(box[0].start, []).append(i)
    gap_cells = 40.0 / spacing[2]
    keep = np.zeros(n + 1, bool)
    for ids in by_slice.values():
        big = max(ids, key=lambda i: areas[i])
        for i in ids:
            near = _x_gap(boxes[i - 1], boxes[big - 1]) <= gap_cells
            keep[i] = i == big or (areas[i] >= 0.35 * areas[big] and near)
    return keep[lab] & body


def _limbs(limbs: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
    """Body parts apart from the trunk, labelled in 3D; those under 20 mL (less than a hand)
    are dropped through a label lookup, not a full-size float64 array of part sizes."""
    arms, n = ndimage.label(limbs)
    if n:
        sizes = np.bincount(arms[limbs], minlength=n + 1) * np.prod(spacing)
        kept = np.where(sizes >= 20000.0, np.arange(n + 1), 0).astype(arms.dtype)
        arms = kept[arms]
    return arms


def _x_gap(a: tuple[slice, ...], b: tuple[slice, ...]) -> int:
    return max(a[1].start - b[1].stop, b[1].start - a[1].stop, 0)


def midline_and_spine(
    bone: np.ndarray, central: np.ndarray, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The midline per slice: the x of the spine where bone lies behind the trunk's centre
    (the body's own centre elsewhere), median-filtered along the body axis. The front of
    the vertebral body is kept for the rules that look in front of or beside the spine."""
    nz = bone.shape[0]
    mid = np.full(nz, np.nan)
    front = np.full(nz, np.nan)
    for k in np.flatnonzero(central.any(axis=(1, 2))):
        jj, ii = np.nonzero(central[k])
        cx, cy = x[ii].mean(), y[jj].mean()
        mid[k] = cx
        bj, bi = np.nonzero(bone[k] & central[k])
        sel = (np.abs(x[bi] - cx) < 40) & (y[bj] > cy - 10)
        if sel.sum() >= 5:
            sx = float(np.median(x[bi[sel]]))
            mid[k] = sx
            near = sel & (np.abs(x[bi] - sx) < 12)
            if near.any():
                front[k] = float(y[bj[near]].min())
    ok = ~np.isnan(mid)
    if ok.any():
        mid[ok] = ndimage.median_filter(mid[ok], size=min(9, int(ok.sum())), mode="nearest")
        mid = _fill_nan(mid)
    return mid, front


def _fill_nan(v: np.ndarray) -> np.ndarray:
    ok = ~np.isnan(v)
    if not ok.any():
        return v
    idx = np.arange(len(v))
    return np.interp(idx, idx[ok], v[ok])


def true_lungs(lungs: np.ndarray, central: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Aerated parts that reach the back half of the trunk: lungs lie against the posterior
    chest wall, while large pockets of bowel or stomach gas lie in front."""
    lab, n = ndimage.label(lungs)
    if n == 0:
        return lungs
    rows = central.any(axis=2)  # (z, y): rows of the trunk in each slice
    first = np.where(rows.any(axis=1), y[np.argmax(rows, axis=1)], np.nan)
    last = np.where(rows.any(axis=1), y[rows.shape[1] - 1 - np.argmax(rows[:, ::-1], axis=1)], np.nan)
    centre = (first + last) / 2
    back = lungs & (y[None, :, None] > np.nan_to_num(centre, nan=np.inf)[:, None, None])
    total = np.bincount(lab[lungs], minlength=n + 1)  # 0 (not aerated) is never kept
    behind = np.bincount(lab[back], minlength=n + 1)
    keep = behind >= 0.25 * total
    keep[0] = False
    return keep[lab]


def lung_levels(
    lungs: np.ndarray, z: np.ndarray, cell_cm2: float
) -> tuple[float | None, float | None, float | None]:
    """Top and lowest slice of aerated lung, and the diaphragm: the lowest slice where the
    lungs still fill much of the chest (the posterior recesses reach lower, beside the
    kidneys, which are abdominal organs)."""
    area = lungs.sum(axis=(1, 2)) * cell_cm2
    ks = np.flatnonzero(area > 3.0)
    if len(ks) < 3:
        return None, None, None
    big = np.flatnonzero(area >= max(40.0, 0.25 * area.max()))
    diaphragm = float(z[big].min()) if len(big) else float(z[ks].min())
    return float(z[ks].max()), float(z[ks].min()), diaphragm


def skull_interior(grid: Coarse, central: np.ndarray) -> np.ndarray:
    """Cells enclosed by a bony ring that fills most of the slice's outline and holds
    brain-density tissue: the cranial cavity (a pelvic ring holds far less of its slice)."""
    ring = grid.bone & central
    inner = fill_holes_in_plane(ring) & ~ring
    inner = ndimage.binary_erosion(inner, structure=IN_PLANE)
    n_inner = inner.sum(axis=(1, 2))
    n_ring = ring.sum(axis=(1, 2))
    n_body = central.sum(axis=(1, 2))
    hu_sum = np.where(inner, grid.hu, 0).sum(axis=(1, 2))
    mean = hu_sum / np.maximum(n_inner, 1)
    ok = (n_inner * grid.space.cell_area_cm2 >= 15.0) & (n_body <= 1.8 * (n_inner + n_ring))
    ok &= (mean >= -15.0) & (mean <= 80.0) & ~grid.lungs.any(axis=(1, 2))
    return inner & ok[:, None, None]


def fill_holes_in_plane(mask: np.ndarray) -> np.ndarray:
    """The same voxels as ndimage.binary_fill_holes(mask, structure=IN_PLANE), several times
    faster (that fills by dilating from the border until nothing changes): per slice, the
    background that is not 4-connected to the slice's edge is a hole."""
    background, n = ndimage.label(~mask, structure=IN_PLANE)
    edges = (background[:, 0], background[:, -1], background[:, :, 0], background[:, :, -1])
    outside = np.zeros(n + 1, bool)
    for edge in edges:
        outside[edge.ravel()] = True
    outside[0] = False  # label 0: the mask itself
    return ~outside[background]


def find_joint_heads(lm: Landmarks) -> None:
    """Balls of bone lateral to the midline: femoral heads low in the trunk (below the
    lungs), humeral heads beside the top of the lungs. A metal hip counts as a head."""
    g = lm.grid
    sp = g.space
    step = (max(1, round(5.0 / sp.spacing[0])), 2, 2)  # ~5-6 mm cells are enough for a ball
    solid = fill_holes_in_plane(g.bone[:: step[0]] | g.metal[:: step[0]])  # per slice: only those kept
    sub = solid[:, :: step[1], :: step[2]]
    dist = ndimage.distance_transform_edt(
        sub, sampling=[s * f for s, f in zip(sp.spacing, step, strict=True)]
    )
    peaks = (dist >= BALL_MIN_RADIUS_MM) & (dist == ndimage.maximum_filter(dist, size=3))
    for kji in np.argwhere(peaks):
        full = kji * np.array(step)
        centre = sp.cell_to_lps(full)[0]
        k = int(full[0])
        dx = centre[0] - lm.midline[k]
        side = "left" if dx > 0 else "right"
        ball = Ball(centre, float(dist[tuple(kji)]))
        if _is_humeral(lm, centre, abs(dx)):
            _keep_largest(lm.humeral, side, ball)
        elif _is_femoral(lm, centre, abs(dx), full):
            _keep_largest(lm.femoral, side, ball)


def _is_humeral(lm: Landmarks, centre: np.ndarray, adx: float) -> bool:
    return lm.diaphragm is not None and centre[2] > lm.diaphragm + 60 and adx >= 100


def _is_femoral(lm: Landmarks, centre: np.ndarray, adx: float, cell: np.ndarray) -> bool:
    if not 45 <= adx <= 160 or not lm.central[tuple(cell)]:
        return False
    if not _pelvis_like(lm.central[cell[0]], lm.grid.space.cell_area_cm2):
        return False  # a section of the feet or knees: a tarsal or a condyle is no femoral head
    return lm.diaphragm is None or centre[2] < lm.diaphragm - 150


def _pelvis_like(section: np.ndarray, cell_cm2: float) -> bool:
    """A section through the hips is one large part (the pelvis and both upper thighs);
    the feet, ankles or knees are two parts of about the same size, or small."""
    labels, n = ndimage.label(section)
    if n == 0:
        return False
    if two_parts(section):
        return False
    return np.bincount(labels.ravel())[1:].max() * cell_cm2 >= _PELVIS_MIN_CM2


def two_parts(section: np.ndarray) -> bool:
    """Whether a section holds two body parts of about the same size (legs, feet)."""
    labels, n = ndimage.label(section)
    if n < 2:
        return False
    sizes = np.sort(np.bincount(labels.ravel())[1:])[::-1]
    return bool(sizes[1] >= 0.5 * sizes[0])


def _keep_largest(heads: dict[str, Ball], side: str, ball: Ball) -> None:
    """The head is the largest ball of its region (a shaft or trochanter is thinner)."""
    old = heads.get(side)
    if old is None or ball.radius > old.radius:
        heads[side] = ball
