"""Grouping headers into studies, series and stacks.

Patient -> study (StudyInstanceUID) -> series (SeriesInstanceUID) -> stack. A CT series
becomes several stacks when its images cannot form one volume: different orientation,
in-plane size, pixel spacing or frame of reference, repeated positions of several
acquisitions, or a gap too long to interpolate.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from pipeline.config import LoaderConfig
from pipeline.dicom.identity import derived_note
from pipeline.discover.classify import (
    ct_kind_problem,
    ct_problem,
    is_ct_image,
    is_radiograph_candidate,
    other_reason,
    radiograph_problem,
)
from pipeline.discover.overlap import one_volume_per_anatomy
from pipeline.file_accounting import top_reasons
from pipeline.geometry import plan_stack, split_runs, split_same_positions
from pipeline.models import InstanceHeader, Series, SkippedFile, SliceRef, Stack, Study

log = logging.getLogger(__name__)


def group_studies(instances: list[InstanceHeader], cfg: LoaderConfig) -> list[Study]:
    by_study: dict[str, list[InstanceHeader]] = defaultdict(list)
    for inst in instances:
        by_study[inst.study_uid].append(inst)
    studies = [study for members in by_study.values() for study in _by_patient(members, cfg)]
    return sorted(studies, key=lambda s: (s.patient_id or "", s.date or "", s.uid, s.output_suffix))


def _by_patient(members: list[InstanceHeader], cfg: LoaderConfig) -> list[Study]:
    """One study per patient: images of different patients under one StudyInstanceUID (a
    mislabelled export, a merge gone wrong) are never analysed as one patient's study.
    Images without PatientID or name join the largest part."""
    parts: dict[str, list[InstanceHeader]] = defaultdict(list)
    for inst in members:
        parts[inst.patient_key].append(inst)
    unknown = parts.pop("", [])
    if len(parts) < 2:
        return [_study(members, cfg)]
    ordered = sorted(parts.values(), key=lambda p: (-len(p), min(str(i.path) for i in p)))
    ordered[0].extend(unknown)
    studies = []
    for n, part in enumerate(ordered, start=1):
        study = _study(part, cfg)
        study.output_suffix = "" if n == 1 else f"-patient{n}"
        study.warnings.insert(
            0,
            f"this StudyInstanceUID holds images of {len(ordered)} different patients (PatientID or "
            f"PatientName differ): split by patient, each part analysed on its own; this is part "
            f"{n} of {len(ordered)} ({len(part)} files)",
        )
        studies.append(study)
    return studies


def _study(members: list[InstanceHeader], cfg: LoaderConfig) -> Study:
    first = min(members, key=lambda i: str(i.path))
    usable = [i for i in members if i.problem is None]
    rejected = [SkippedFile(i.path, i.problem) for i in members if i.problem is not None]
    by_series: dict[str, list[InstanceHeader]] = defaultdict(list)
    for inst in usable:
        by_series[inst.series_uid].append(inst)
    series = [_series(uid, group, cfg) for uid, group in by_series.items()]
    series.sort(key=lambda s: (s.number if s.number is not None else 1 << 30, s.uid))
    study = Study(
        uid=first.study_uid,
        patient_id=first.patient_id,
        date=first.study_date,
        accession_number=first.accession_number,
        description=first.study_description,
        series=series,
        patient_identifiers=frozenset(v for inst in members for v in inst.patient_identifiers),
        rejected=sorted(rejected, key=lambda r: str(r.path)),
    )
    one_volume_per_anatomy(study)
    _fail_unusable_images(study)
    _note_study(study, members)
    return study


def _fail_unusable_images(study: Study) -> None:
    """A study with images but none that can be analysed is failed, not skipped: the stacks
    that hold images (too few slices, no geometry) carry the reason."""
    stacks = study.stacks
    if any(st.kind in ("ct_volume", "radiograph") and st.failure is None for st in stacks):
        return
    for st in stacks:
        first = st.slices[0].instance
        if st.kind == "other" and st.failure is None and is_ct_image(first) and not ct_kind_problem(first):
            st.failure = st.reason


def _note_study(study: Study, members: list[InstanceHeader]) -> None:
    """Study-level warnings: derived identifiers, files that could not be used."""
    derived = sorted({name for inst in members for name in inst.derived_ids})
    if derived:
        n = sum(1 for inst in members if inst.derived_ids)
        study.derived_ids = tuple(derived)
        study.warnings.append(derived_note(tuple(derived), n))
    if study.rejected:
        reasons = top_reasons([r.reason for r in study.rejected])
        study.warnings.append(
            f"{len(study.rejected)} image file(s) of this study could not be used ({reasons}); "
            "each is listed with its reason in run.json"
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
    notes = list(dict.fromkeys(n for i in members for n in i.notes))
    for stack in stacks:
        stack.warnings[:0] = [n for n in notes if n not in stack.warnings]
    modality = first.modality or ("CT" if ct else "")
    return Series(uid, modality, first.series_number, first.series_description, stacks)


def _radiograph_stack(series_uid: str, inst: InstanceHeader) -> Stack:
    problem = radiograph_problem(inst)
    frame = inst.frames[0]
    return Stack(
        series_uid=series_uid,
        index=0,
        modality=inst.modality,
        kind="other" if problem else "radiograph",
        reason=problem,
        slices=[SliceRef(inst, frame)],
        failure=None if problem else frame.rescale_problem,
        warnings=list(frame.repairs),
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
    slices = [SliceRef(i, f) for i in members for f in i.frames]
    good = [s for s in slices if s.frame.problem is None]
    bad = [s for s in slices if s.frame.problem is not None]
    if not good:
        reasons = top_reasons([s.frame.problem for s in bad])  # type: ignore[misc]
        failure = f"none of the {len(bad)} CT images can be used: {reasons}"
        return [_ct_stack(series_uid, bad, "ct_volume", failure, None, [], failure=failure)]
    groups = _geometry_groups(good, cfg)
    split_note = _split_note(groups)
    stacks = []
    for group in groups:
        for stack in _planned_stacks(series_uid, group, cfg):
            if split_note:
                stack.warnings.insert(0, split_note)
            stacks.append(stack)
    _note_bad_slices(stacks[0], bad, good)
    for stack in stacks:
        repairs = [r for s in stack.slices for r in s.frame.repairs]
        stack.warnings.extend(_counted(repairs, len(stack.slices)))
    return stacks


def _note_bad_slices(stack: Stack, bad: list[SliceRef], good: list[SliceRef]) -> None:
    """Images of the series left out because their own values are unusable: a warning on
    the stack, and each file that has no usable frame listed with its reason."""
    if not bad:
        return
    used_files = {s.instance.path for s in good}
    for s in bad:
        if s.instance.path not in used_files and all(d.path != s.instance.path for d in stack.dropped):
            stack.dropped.append(SkippedFile(s.instance.path, f"image not used: {s.frame.problem}"))
    reasons = top_reasons([s.frame.problem for s in bad])  # type: ignore[misc]
    stack.warnings.append(
        f"{len(bad)} of {len(bad) + len(good)} images of the series not used ({reasons}); "
        "the volume is built from the others"
    )


def _counted(notes: list[str], n_slices: int) -> list[str]:
    counts: dict[str, int] = defaultdict(int)
    for note in notes:
        counts[note] += 1
    return [f"{note} (on {c} of {n_slices} images)" if c < n_slices else note for note, c in counts.items()]


def _planned_stacks(series_uid: str, group: _GeometryGroup, cfg: LoaderConfig) -> list[Stack]:
    """`_ct_group_stacks`, with any failure of the geometry planning kept to this group."""
    try:
        return _ct_group_stacks(series_uid, group, cfg)
    except Exception:
        log.debug("planning %s failed", series_uid, exc_info=True)
        failure = "the slice positions and orientations do not describe a volume calcscan can build"
        return [_ct_stack(series_uid, group.slices, "ct_volume", failure, None, [], failure=failure)]


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
    placed = {id(s) for part in parts for s in part}
    left_out = [s for s in group.slices if id(s) not in placed]
    stacks = []
    for part in parts:
        runs, run_notes = split_runs(part, cfg)
        for run in runs:
            plan = plan_stack(run, cfg)
            problem = ct_problem(run[0].instance, len(run), cfg.min_ct_slices)
            kind = "other" if problem else "ct_volume"
            warnings = part_notes + run_notes + plan.warnings
            stacks.append(_ct_stack(series_uid, run, kind, problem, plan, warnings))
    used = {s.instance.path for s in group.slices if id(s) in placed}
    stacks[0].dropped.extend(
        SkippedFile(p, "another image at the same slice position was used (duplicate position)")
        for p in dict.fromkeys(s.instance.path for s in left_out)
        if p not in used
    )
    return stacks


def _ct_stack(
    series_uid: str,
    slices: list[SliceRef],
    kind: str,
    reason: str | None,
    plan,
    warnings: list[str],
    failure: str | None = None,
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
        failure=failure,
    )
