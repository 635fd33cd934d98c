"""CT stacks into Hounsfield-unit volumes with exact LPS geometry.

The plan (made from headers by discovery) fixes slice order and grid; here each slice is
decoded, rescaled with its own slope and intercept, cleaned of padding and out-of-field
values, and put in place or interpolated. A slice that cannot be decoded is reported and the
volume is rebuilt from the rest instead of failing the whole series.
"""

from __future__ import annotations

import logging

import numpy as np

from pipeline.config import LoaderConfig
from pipeline.errors import LoadError
from pipeline.geometry import plan_stack, split_runs
from pipeline.load.pixel_checks import hounsfield_problem, stored_values_problem
from pipeline.load.pixels import DecodeProblem, decode_frames, padding_mask, read_dataset
from pipeline.models import CTVolume, SkippedFile, SliceRef, Stack, StackPlan

log = logging.getLogger(__name__)

_INT16 = np.iinfo(np.int16)


def load_ct(stack: Stack, cfg: LoaderConfig) -> CTVolume:
    if stack.plan is None:
        raise LoadError(f"{stack.label}: no geometry plan ({stack.reason or 'not a CT stack'})")
    plan, warnings = stack.plan, list(stack.warnings)
    decoder = _SliceDecoder(cfg)
    hu = _assemble(plan, decoder)
    if hu is None:  # some slices failed: rebuild from the others (they decode now)
        plan = _replan_without(plan, decoder.problems, cfg, warnings)
        hu = _assemble(plan, decoder)
        if hu is None:
            raise LoadError(f"{stack.label}: slices fail to decode inconsistently")
    first = plan.slices[0].instance
    return CTVolume(
        hu=hu,
        affine=plan.affine.copy(),
        study_uid=first.study_uid,
        series_uid=first.series_uid,
        stack_label=stack.label,
        frame_of_reference_uid=first.frame_of_reference_uid,
        kvp=first.kvp,
        body_part_examined=first.body_part_examined,
        contrast_agent=first.contrast_agent,
        slice_thickness=plan.slices[0].frame.slice_thickness,
        interpolated_slices=plan.interpolated,
        source_files=tuple(dict.fromkeys(s.instance.path for s in plan.slices)),
        tilt_deg=plan.tilt_deg,
        orientation_label=plan.orientation_label,
        warnings=warnings,
        file_problems=list(decoder.problems.values()),
    )


class _SliceFailed(Exception):
    pass


class _SliceDecoder:
    """Decodes slices to HU (int32 or float32, see `_rescale`), one file at a time;
    remembers what failed and why."""

    def __init__(self, cfg: LoaderConfig) -> None:
        self.cfg = cfg
        self.problems: dict[str, SkippedFile] = {}
        self._path: str | None = None
        self._frames: np.ndarray | None = None
        self._padding_ds = None

    def hu(self, s: SliceRef) -> np.ndarray:
        key = str(s.instance.path)
        if key in self.problems:
            raise _SliceFailed(key)
        if key != self._path:
            self._load_file(s)
        frames = self._frames
        if frames is None or s.frame.index >= len(frames):
            self._fail(s, f"frame {s.frame.index + 1} is missing from the pixel data")
        stored = frames[s.frame.index]  # type: ignore[index]
        if stored.shape != (s.instance.rows, s.instance.columns):
            self._fail(s, f"pixel data is {stored.shape}, header says {s.instance.rows}x{s.instance.columns}")
        problem = stored_values_problem(stored, self._padding_ds)
        values = _rescale(stored, s.frame.rescale_slope, s.frame.rescale_intercept)
        problem = problem or hounsfield_problem(values)
        if problem:
            self._fail(s, problem)
        pad = padding_mask(stored, self._padding_ds) if self._padding_ds is not None else None
        if pad is not None:
            values[pad] = self.cfg.air_hu
        values[values < self.cfg.out_of_fov_below_hu] = self.cfg.air_hu
        return values

    def _load_file(self, s: SliceRef) -> None:
        self._path, self._frames, self._padding_ds = str(s.instance.path), None, None
        try:
            ds = read_dataset(s.instance.path)
            self._frames, self._padding_ds = decode_frames(ds), ds
        except DecodeProblem as exc:
            self._fail(s, str(exc))

    def _fail(self, s: SliceRef, reason: str) -> None:
        key = str(s.instance.path)
        self.problems[key] = SkippedFile(s.instance.path, reason)
        log.warning("%s: %s", key, reason)
        raise _SliceFailed(key)


def _assemble(plan: StackPlan, decoder: _SliceDecoder) -> np.ndarray | None:
    """Fill the (z, y, x) volume slice by slice, interpolating where the plan says.

    Returns None when any slice failed to decode; every slice is still tried, so that
    `decoder.problems` names all broken files at once.
    """
    dtype = np.int16 if _integral_rescale(plan) else np.float32
    out = np.empty(plan.shape, dtype=dtype)
    cache: dict[int, np.ndarray] = {}
    failed = False
    for k, (sources, weights) in enumerate(zip(plan.sources, plan.weights, strict=True)):
        for stale in [i for i in cache if i < sources[0]]:
            del cache[stale]
        try:
            for i in sources:
                if i not in cache:
                    cache[i] = decoder.hu(plan.slices[i])
        except _SliceFailed:
            failed = True
            continue
        if failed:
            continue
        if len(sources) == 1:
            value = cache[sources[0]]
        else:
            value = sum(w * cache[i] for i, w in zip(sources, weights, strict=True))
        if dtype is np.int16:
            value = value if value.dtype.kind in "iu" else np.rint(value)
            np.clip(value, _INT16.min, _INT16.max, out=out[k], casting="unsafe")
        else:
            out[k] = value
    return None if failed else out


def _rescale(stored: np.ndarray, slope: float, intercept: float) -> np.ndarray:
    """Stored values to HU: exact int32 when slope and intercept are whole numbers (nearly
    every CT), float32 otherwise. The integer path is also the fast one."""
    if stored.dtype.kind in "iu" and float(slope).is_integer() and float(intercept).is_integer():
        values = stored.astype(np.int32)
        if slope != 1:
            values *= int(slope)
        values += int(intercept)
        return values
    return stored.astype(np.float32) * np.float32(slope) + np.float32(intercept)


def _integral_rescale(plan: StackPlan) -> bool:
    """int16 holds the volume exactly when every slope and intercept is a whole number."""
    return all(
        float(s.frame.rescale_slope).is_integer() and float(s.frame.rescale_intercept).is_integer()
        for s in plan.slices
    )


def _replan_without(
    plan: StackPlan, problems: dict[str, SkippedFile], cfg: LoaderConfig, warnings: list[str]
) -> StackPlan:
    """Drop undecodable slices; interpolate over short gaps, keep the longest run otherwise."""
    survivors = [s for s in plan.slices if str(s.instance.path) not in problems]
    if not survivors:
        first = next(iter(problems.values()))
        raise LoadError(
            f"no slice of the stack could be decoded ({len(problems)} files; "
            f"first {first.path.name}: {first.reason})"
        )
    runs, run_notes = split_runs(survivors, cfg)
    best = max(runs, key=len)
    dropped = len(plan.slices) - len(best)
    warnings.append(
        f"{len(problems)} file(s) could not be decoded; volume rebuilt from {len(best)} of "
        f"{len(plan.slices)} slices ({dropped} not used)"
    )
    warnings.extend(run_notes)
    new_plan = plan_stack(best, cfg)
    warnings.extend(w for w in new_plan.warnings if w not in warnings)
    return new_plan
