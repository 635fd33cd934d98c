"""Slice geometry of CT stacks: order, spacing, gaps, duplicates, tilt.

Everything here works on headers (positions, orientations), never pixels, so discovery can
plan a volume that loading then fills. Slices are ordered by their position projected on
the slice normal (row cosine x column cosine), never by file name or InstanceNumber.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Hashable

import numpy as np

from pipeline.config import LoaderConfig
from pipeline.models import SliceRef, StackPlan

_AXIS_LABELS = ("sagittal", "coronal", "axial")  # normal along x, y, z
_AXIS_COS = float(np.cos(np.deg2rad(1.0)))
GRID_DECIMALS = 9  # voxel steps in mm are kept to a nanometre (see plan_stack)


def in_plane_axes(orientation: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Row and column cosines as an orthonormal pair.

    Files often store cosines rounded to a few decimals (0.9272, -0.3746): taken as they
    are, the error grows with the column index. Like ITK, normalise them, and make the
    column cosine orthogonal to the row cosine (Gram-Schmidt).
    """
    row = np.asarray(orientation[:3], float)
    col = np.asarray(orientation[3:], float)
    row = row / np.linalg.norm(row)
    col = col - (col @ row) * row
    return row, col / np.linalg.norm(col)


def slice_normal(orientation: tuple[float, ...]) -> np.ndarray:
    """Unit normal of the slice plane: row cosine x column cosine (right-handed with them)."""
    row, col = in_plane_axes(orientation)
    return np.cross(row, col)


def normal_offsets(slices: list[SliceRef]) -> np.ndarray:
    """Signed distance (mm) of every slice along the stack's normal."""
    normal = slice_normal(slices[0].frame.orientation)  # type: ignore[arg-type]
    return np.array([np.dot(s.frame.position, normal) for s in slices])  # type: ignore[arg-type]


def sort_along_normal(slices: list[SliceRef]) -> list[SliceRef]:
    offsets = normal_offsets(slices)
    order = np.argsort(offsets, kind="stable")
    return [slices[i] for i in order]


# --- several images at one position --------------------------------------------------------

_DISCRIMINATORS: tuple[tuple[str, Callable[[SliceRef], Hashable]], ...] = (
    ("AcquisitionNumber", lambda s: s.instance.acquisition_number),
    ("temporal position", lambda s: s.frame.temporal_index),
    ("StackID", lambda s: s.frame.stack_id),
    ("ImageType", lambda s: (s.instance.image_type, s.frame.frame_type)),
)


def split_same_positions(slices: list[SliceRef], cfg: LoaderConfig) -> tuple[list[list[SliceRef]], list[str]]:
    """Resolve positions that hold more than one image.

    A series that repeats its positions usually holds several acquisitions (phases, time
    points): split it by the first attribute that tells them apart. Failing that, keep one
    image per position, the first by InstanceNumber, and say which were dropped.
    """
    ordered = sort_along_normal(slices)
    clusters = _position_clusters(ordered, cfg.duplicate_tolerance_mm)
    if all(len(c) == 1 for c in clusters):
        return [ordered], []
    for name, key in _DISCRIMINATORS:
        groups: dict[Hashable, list[SliceRef]] = defaultdict(list)
        for s in ordered:
            groups[key(s)].append(s)
        if len(groups) > 1 and all(_unique_positions(g, cfg) for g in groups.values()):
            parts = sorted(groups.values(), key=lambda g: _first_instance(g))
            return parts, [
                f"{len(parts)} images at each of the same slice positions: "
                f"split into {len(parts)} stacks by {name}"
            ]
    kept, dropped = [], []
    for cluster in clusters:
        cluster = sorted(cluster, key=_instance_order)
        kept.append(cluster[0])
        dropped.extend(cluster[1:])
    names = ", ".join(sorted({s.instance.path.name for s in dropped})[:5])
    more = "" if len(dropped) <= 5 else f" and {len(dropped) - 5} more"
    return [kept], [
        f"{len(dropped)} duplicate slice position(s) with different images and nothing to "
        f"tell them apart: kept the first by InstanceNumber, ignored {names}{more}"
    ]


def _position_clusters(ordered: list[SliceRef], tol: float) -> list[list[SliceRef]]:
    offsets = normal_offsets(ordered)
    clusters: list[list[SliceRef]] = [[ordered[0]]]
    for prev, cur, s in zip(offsets[:-1], offsets[1:], ordered[1:], strict=True):
        if cur - prev <= tol:
            clusters[-1].append(s)
        else:
            clusters.append([s])
    return clusters


def _unique_positions(slices: list[SliceRef], cfg: LoaderConfig) -> bool:
    ordered = sort_along_normal(slices)
    return all(len(c) == 1 for c in _position_clusters(ordered, cfg.duplicate_tolerance_mm))


def _instance_order(s: SliceRef) -> tuple[int, int, str]:
    number = s.instance.instance_number
    return (number if number is not None else 1 << 30, s.frame.index, str(s.instance.path))


def _first_instance(group: list[SliceRef]) -> tuple[int, int, str]:
    return min(_instance_order(s) for s in group)


# --- gaps and uneven spacing ----------------------------------------------------------------


def split_runs(ordered: list[SliceRef], cfg: LoaderConfig) -> tuple[list[list[SliceRef]], list[str]]:
    """Cut a sorted stack where it cannot be made one volume.

    Gaps longer than `max_missing_slices` missing slices always cut (two scanned regions in
    one series are two volumes). In "split" mode every change of slice step cuts too.
    """
    if len(ordered) < 2:
        return [ordered], []
    steps = np.diff(normal_offsets(ordered))
    nominal = float(np.median(steps))
    limit = (cfg.max_missing_slices + 1 + cfg.slice_position_tolerance) * nominal
    cuts = {i + 1 for i, step in enumerate(steps) if step > limit}
    warnings = [
        f"gap of {steps[i - 1]:.2f} mm between slices (nominal step {nominal:.3g} mm) is too "
        f"long to interpolate: stack split there"
        for i in sorted(cuts)
    ]
    if cfg.uneven_spacing == "split":
        new_cuts = _constant_step_cuts(steps, cfg.slice_position_tolerance) - cuts
        cuts |= new_cuts
        if new_cuts:
            warnings.append(
                f"uneven slice spacing (steps {steps.min():.3g} to {steps.max():.3g} mm): split "
                f"into runs of constant spacing (loader.uneven_spacing = split)"
            )
    bounds = [0, *sorted(cuts), len(ordered)]
    return [ordered[a:b] for a, b in itertools.pairwise(bounds)], warnings


def _constant_step_cuts(steps: np.ndarray, tol: float) -> set[int]:
    """Slice indices that start a new run when runs must keep one step (greedy).

    `steps[i]` joins slice i to i+1. A step that differs from the run's step is the
    transition: slice i+1 starts the next run, whose step is `steps[i + 1]`.
    """
    cuts: set[int] = set()
    run_step, i = steps[0], 1
    while i < len(steps):
        if abs(steps[i] - run_step) > tol * run_step:
            cuts.add(i + 1)
            if i + 1 < len(steps):
                run_step = steps[i + 1]
            i += 2
        else:
            i += 1
    return cuts


# --- the plan --------------------------------------------------------------------------------


def plan_stack(ordered: list[SliceRef], cfg: LoaderConfig) -> StackPlan:
    """Grid, affine and resampling recipe for slices sorted along their normal.

    Slices on a uniform grid are used as they are. Missing slices on that grid are filled by
    linear interpolation between their neighbours; off-grid (uneven) spacing is resampled to
    the median step. The affine keeps the true geometry: its third column is the actual
    step between slice positions, which is oblique to the normal under gantry tilt.
    """
    first = ordered[0]
    row_cos, col_cos = in_plane_axes(first.frame.orientation)  # type: ignore[arg-type]
    normal = np.cross(row_cos, col_cos)
    row_step, col_step = first.frame.pixel_spacing  # type: ignore[misc]
    positions = np.array([s.frame.position for s in ordered], float)
    offsets = positions @ normal
    warnings: list[str] = []

    if len(ordered) == 1:
        thickness = first.frame.slice_thickness or 1.0
        step_vec = normal * thickness
        sources, weights, interpolated = [(0,)], [(1.0,)], ()
    else:
        sources, weights, interpolated, step_len = _resampling(offsets, cfg, warnings)
        step_vec = _step_vector(positions, offsets, step_len, normal)
        _check_collinear(positions, offsets, step_vec, normal, step_len, cfg, warnings)

    tilt = _angle_deg(step_vec, normal)
    if tilt > cfg.tilt_tolerance_deg:
        warnings.append(
            f"gantry tilt / sheared stack: slices step {tilt:.2f} deg off their normal; the true "
            f"geometry is kept as a non-orthogonal direction matrix (voxels are not rectangular)"
        )
    label = _orientation_label(normal)
    if label == "oblique":
        warnings.append(
            "oblique slices (normal "
            + ", ".join(f"{v:+.3f}" for v in normal)
            + " in LPS): kept in their own frame; every LPS coordinate is exact"
        )
    affine = np.eye(4)
    affine[:3, 0] = row_cos * col_step
    affine[:3, 1] = col_cos * row_step
    affine[:3, 2] = step_vec
    # a nanometre is far below any scanner's precision, but the float noise of the fit
    # (5.000000000000025 mm or 4.999999999999991 mm for one stack stored two ways) would
    # make every "margin / spacing" rounding depend on how the study was stored
    affine[:3, :3] = np.round(affine[:3, :3], GRID_DECIMALS)
    affine[:3, 3] = positions[0]
    return StackPlan(
        slices=ordered,
        rows=int(first.instance.rows or 0),
        columns=int(first.instance.columns or 0),
        affine=affine,
        n_output=len(sources),
        sources=sources,
        weights=weights,
        interpolated=interpolated,
        orientation_label=label,
        tilt_deg=tilt,
        warnings=warnings,
    )


def _resampling(
    offsets: np.ndarray, cfg: LoaderConfig, warnings: list[str]
) -> tuple[list[tuple[int, ...]], list[tuple[float, ...]], tuple[int, ...], float]:
    """Output slices as (sources, weights) over the input slices, and the output step."""
    steps = np.diff(offsets)
    nominal = float(np.median(steps))
    tol = cfg.slice_position_tolerance * nominal
    grid = np.rint((offsets - offsets[0]) / nominal).astype(int)
    step = _fit_step(offsets, grid)
    residual = np.abs(offsets - (offsets[0] + grid * step))
    on_grid = bool(residual.max() <= tol) and len(np.unique(grid)) == len(grid)
    n = len(offsets)

    if on_grid and grid[-1] == n - 1:
        return [(i,) for i in range(n)], [(1.0,)] * n, (), step
    if on_grid:
        targets = offsets[0] + np.arange(grid[-1] + 1) * step
        sources, weights, made = _interpolate_at(offsets, targets, tol)
        gaps = [f"{offsets[i]:.2f}..{offsets[i + 1]:.2f}" for i in np.flatnonzero(np.diff(grid) > 1)]
        shown = ", ".join(gaps[:5]) + (f" and {len(gaps) - 5} more" if len(gaps) > 5 else "")
        warnings.append(
            f"{len(made)} missing slice(s) on a {step:.4g} mm grid (steps {steps.min():.4g} to "
            f"{steps.max():.4g} mm; gaps along the normal at {shown} mm): filled by linear "
            f"interpolation between neighbours"
        )
        return sources, weights, made, step
    n_out = round((offsets[-1] - offsets[0]) / nominal) + 1
    step = float((offsets[-1] - offsets[0]) / (n_out - 1))
    targets = offsets[0] + np.arange(n_out) * step
    sources, weights, made = _interpolate_at(offsets, targets, tol)
    warnings.append(
        f"uneven slice spacing (steps {steps.min():.4g} to {steps.max():.4g} mm): resampled to a "
        f"uniform {step:.4g} mm grid by linear interpolation along the slice axis "
        f"({len(made)} of {n_out} output slices interpolated)"
    )
    return sources, weights, made, step


def _fit_step(offsets: np.ndarray, grid: np.ndarray) -> float:
    """Least-squares slice step from positions and their grid indices."""
    if grid[-1] == 0:
        return float(offsets[-1] - offsets[0]) or 1.0
    return float(np.polyfit(grid, offsets, 1)[0])


def _interpolate_at(
    offsets: np.ndarray, targets: np.ndarray, tol: float
) -> tuple[list[tuple[int, ...]], list[tuple[float, ...]], tuple[int, ...]]:
    sources: list[tuple[int, ...]] = []
    weights: list[tuple[float, ...]] = []
    made: list[int] = []
    for m, t in enumerate(targets):
        nearest = int(np.argmin(np.abs(offsets - t)))
        if abs(offsets[nearest] - t) <= tol:
            sources.append((nearest,))
            weights.append((1.0,))
            continue
        hi = int(np.searchsorted(offsets, t))
        lo = hi - 1
        w_hi = float((t - offsets[lo]) / (offsets[hi] - offsets[lo]))
        sources.append((lo, hi))
        weights.append((1.0 - w_hi, w_hi))
        made.append(m)
    return sources, weights, tuple(made)


def _step_vector(
    positions: np.ndarray, offsets: np.ndarray, step_len: float, normal: np.ndarray
) -> np.ndarray:
    """Mean 3D displacement per output slice (parallel to the normal unless tilted)."""
    along = (offsets - offsets[0]) / step_len  # slice index of every input slice
    if along[-1] == 0:
        return normal * step_len
    centred = along - along.mean()
    return (centred @ (positions - positions.mean(axis=0))) / (centred @ centred)


def _check_collinear(
    positions: np.ndarray,
    offsets: np.ndarray,
    step_vec: np.ndarray,
    normal: np.ndarray,
    step_len: float,
    cfg: LoaderConfig,
    warnings: list[str],
) -> None:
    along = (offsets - offsets[0]) / (step_vec @ normal)
    expected = positions[0] + along[:, None] * step_vec
    deviation = float(np.linalg.norm(positions - expected, axis=1).max())
    if deviation > cfg.slice_position_tolerance * step_len:
        warnings.append(
            f"slice positions are not on one straight line (up to {deviation:.2f} mm off): "
            f"the volume's geometry is a best fit"
        )


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    """Angle between two lines (sign-free), stable near 0 where arccos is not."""
    return float(np.degrees(np.arctan2(np.linalg.norm(np.cross(a, b)), abs(float(a @ b)))))


def _orientation_label(normal: np.ndarray) -> str:
    axis = int(np.argmax(np.abs(normal)))
    return _AXIS_LABELS[axis] if abs(normal[axis]) >= _AXIS_COS else "oblique"
