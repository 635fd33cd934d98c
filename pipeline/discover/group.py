"""Grouping headers into studies, series and stacks.

Patient -> study (StudyInstanceUID) -> series (SeriesInstanceUID) -> stack. A CT series
becomes several stacks when its images cannot form one volume: different orientation,
in-plane size, pixel spacing or frame of reference, repeated positions of several
acquisitions, or a gap too long to interpolate.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from pipeline.config import LoaderConfig
from pipeline.discover.classify import (
    ct_problem,
    is_ct_image,
    is_radiograph_candidate,
    other_reason,
    radiograph_problem,
)
from pipeline.geometry import plan_stack, split_runs, split_same_positions
from pipeline.models import InstanceHeader, Series, SliceRef, Stack, Study


def group_studies(instances: list[InstanceHeader], cfg: LoaderConfig) -> list[Study]:
    by_study: dict[str, list[InstanceHeader]] = defaultdict(list)
    for inst in instances:
        by_study[inst.study_uid].append(inst)
    studies = [_study(members, cfg) for members in by_study.values()]
    return sorted(studies, key=lambda s: (s.patient_id or "", s.date or "", s.uid))


def _study(members: list[InstanceHeader], cfg: LoaderConfig) -> Study:
    first = min(members, key=lambda i: str(i.path))
    by_series: dict[str, list[InstanceHeader]] = defaultdict(list)
    for inst in members:
        by_series[inst.series_uid].append(inst)
    series = [_series(uid, group, cfg) for uid, group in by_series.items()]
    series.sort(key=lambda s: (s.number if s.number is not None else 1 << 30, s.uid))
    return Study(
        uid=first.study_uid,
        patient_id=first.patient_id,
        date=first.study_date,
        accession_number=first.accession_number,
        description=first.study_description,
        series=series,
        patient_identifiers=frozenset(v for inst in members for v in inst.patient_identifiers),
    )


def _series(uid: str, members: list[InstanceHeader], cfg: LoaderConfig) -> Series:
    members = sorted(members, key=lambda i: (i.instance_number or 0, str(i.path)))
    first = members[0]
    ct = [i for i in members if is_ct_image(i)]
    xr = [i for i in members if not is_ct_image(i) and is_radiograph_candidate(i)]
    rest = [i for i in members if not is_ct_image(i) and not is_radiograph_candidate(i)]
    stacks: list[Stack] = []
    stacks += _ct_stacks(uid, ct, cfg)
    stacks += [_radiograph_stack(uid, inst) for inst in xr]
    if rest:
        stacks.append(_other_stack(uid, rest))
    for index, stack in enumerate(stacks):
        stack.index = index
    return Series(uid, first.modality, first.series_number, first.series_description, stacks)


def _radiograph_stack(series_uid: str, inst: InstanceHeader) -> Stack:
    problem = radiograph_problem(inst)
    return Stack(
        series_uid=series_uid,
        index=0,
        modality=inst.modality,
        kind="other" if problem else "radiograph",
        reason=problem,
        slices=[SliceRef(inst, inst.frames[0])],
    )


def _other_stack(series_uid: str, members: list[InstanceHeader]) -> Stack:
    return Stack(
        series_uid=series_uid,
        index=0,
        modality=members[0].modality,
        kind="other",
        reason=other_reason(members[0]),
        slices=[SliceRef(i, i.frames[0]) for i in members],
    )


# --- CT ----------------------------------------------------------------------------------


@dataclass
class _GeometryGroup:
    """Frames that share orientation, in-plane size, pixel spacing and frame of reference."""

    orientation: np.ndarray | None
    key: tuple
    slices: list[SliceRef]


def _ct_stacks(series_uid: str, members: list[InstanceHeader], cfg: LoaderConfig) -> list[Stack]:
    if not members:
        return []
    groups = _geometry_groups([SliceRef(i, f) for i in members for f in i.frames], cfg)
    split_note = _split_note(groups)
    stacks = []
    for group in groups:
        for stack in _ct_group_stacks(series_uid, group, cfg):
            if split_note:
                stack.warnings.insert(0, split_note)
            stacks.append(stack)
    return stacks


def _geometry_groups(slices: list[SliceRef], cfg: LoaderConfig) -> list[_GeometryGroup]:
    groups: list[_GeometryGroup] = []
    for s in slices:
        inst, frame = s.instance, s.frame
        spacing = tuple(round(v, 4) for v in frame.pixel_spacing) if frame.pixel_spacing else None
        key = (inst.frame_of_reference_uid, inst.rows, inst.columns, spacing, inst.image_type[:2])
        orient = np.asarray(frame.orientation, float) if frame.orientation else None
        for g in groups:
            if g.key == key and _same_orientation(g.orientation, orient, cfg.orientation_tolerance):
                g.slices.append(s)
                break
        else:
            groups.append(_GeometryGroup(orient, key, [s]))
    return groups


def _same_orientation(a: np.ndarray | None, b: np.ndarray | None, tol: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(np.max(np.abs(a - b)) <= tol)


def _split_note(groups: list[_GeometryGroup]) -> str | None:
    if len(groups) < 2:
        return None
    ref = max(groups, key=lambda g: len(g.slices))
    differ = set()
    for g in groups:
        if g is ref:
            continue
        names = ("frame of reference", "rows", "columns", "pixel spacing", "image type")
        differ |= {n for n, a, b in zip(names, g.key, ref.key, strict=True) if a != b}
        if not _same_orientation(g.orientation, ref.orientation, 1e-9):
            differ.add("orientation")
    what = ", ".join(sorted(differ)) or "geometry"
    return f"series split into {len(groups)} geometry groups: images differ in {what}"


def _ct_group_stacks(series_uid: str, group: _GeometryGroup, cfg: LoaderConfig) -> list[Stack]:
    first = group.slices[0]
    geometry_missing = [
        name
        for name, value in (
            ("ImagePositionPatient", first.frame.position),
            ("ImageOrientationPatient", first.frame.orientation),
            ("PixelSpacing", first.frame.pixel_spacing),
        )
        if value is None
    ]
    if geometry_missing or any(s.frame.position is None for s in group.slices):
        reason = (
            f"no {', '.join(geometry_missing or ['ImagePositionPatient'])} on some images: "
            f"the slices cannot be placed in patient space"
        )
        return [_ct_stack(series_uid, group.slices, "other", reason, None, [])]
    parts, part_notes = split_same_positions(group.slices, cfg)
    stacks = []
    for part in parts:
        runs, run_notes = split_runs(part, cfg)
        for run in runs:
            plan = plan_stack(run, cfg)
            problem = ct_problem(run[0].instance, len(run), cfg.min_ct_slices)
            kind = "other" if problem else "ct_volume"
            warnings = part_notes + run_notes + plan.warnings
            stacks.append(_ct_stack(series_uid, run, kind, problem, plan, warnings))
    return stacks


def _ct_stack(
    series_uid: str, slices: list[SliceRef], kind: str, reason: str | None, plan, warnings: list[str]
) -> Stack:
    return Stack(
        series_uid=series_uid,
        index=0,
        modality=slices[0].instance.modality or "CT",
        kind=kind,  # type: ignore[arg-type]
        reason=reason,
        slices=slices,
        plan=plan,
        warnings=list(warnings),
    )
