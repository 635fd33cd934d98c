"""One study through the stages: load -> segment (CT) or find opacities (radiograph) -> map
sites -> compare radiographs with CT -> patterns.

A stack that fails (a file that cannot be decoded, a stage that raises) is recorded as
failed with its reason and the study goes on with its other stacks; the caller decides
what a failed study means for the run.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from pipeline.anatomy import AnatomyLabels, LabelMapError, label_map_from_seg, load_label_map, map_sites
from pipeline.anatomy.radiograph import map_radiograph_sites
from pipeline.batch import failpoints
from pipeline.clinical import ClinicalContext
from pipeline.config import Config
from pipeline.errors import CalcscanError, LoadError, must_propagate, plain_message
from pipeline.file_accounting import account_files
from pipeline.load import load_stack
from pipeline.load.canonical import canonical
from pipeline.load.radiograph import calibration_of
from pipeline.models import (
    CTVolume,
    Deposit,
    Incidental,
    RadiographFindings,
    Segmentation,
    Series,
    SeriesOutcome,
    Stack,
    Study,
    StudyResult,
)
from pipeline.report.patterns import evaluate_patterns
from pipeline.segment import segment_ct
from pipeline.timing import stage
from pipeline.xray import find_opacities
from pipeline.xray_ct import compare_with_ct

log = logging.getLogger(__name__)


def analyse_study(
    study: Study,
    config: Config,
    label_map: Path | None = None,
    clinical: ClinicalContext | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> StudyResult:
    """`label_map`: the user's anatomy labels for this study (NIfTI or DICOM SEG; else the
    heuristics alone); `clinical`: its clinical context for the pattern ranking;
    `progress(done, total, what)`: told before each stack, for the batch engine's progress bars."""
    started = time.perf_counter()
    stacks = [(series, stack) for series in study.series for stack in series.stacks]
    outcomes: list[SeriesOutcome] = []
    segmentations: list[Segmentation] = []
    findings: list[RadiographFindings] = []
    for done, (series, stack) in enumerate(stacks):
        if progress is not None:
            progress(done, len(stacks), stack.label)
        outcome, found = _analyse_stack(series, stack, config)
        outcomes.append(outcome)
        if isinstance(found, RadiographFindings):
            findings.append(found)
        elif found is not None:
            _map_sites(found, config, label_map)
            segmentations.append(found)
    deposits = number_deposits([d for s in segmentations for d in s.deposits])
    number_radiograph_deposits(findings, first=len(deposits) + 1)
    warnings = list(study.warnings)
    warnings += [w for s in segmentations for w in s.warnings] + [w for f in findings for w in f.warnings]
    if clinical is not None:
        warnings.append(f"clinical context used for the pattern ranking ({clinical.source})")
    result = StudyResult(
        study, outcomes, deposits, segmentations, radiograph_findings=findings, warnings=warnings
    )
    result.incidental = number_incidental([i for s in segmentations for i in s.incidental])
    result.comparisons = compare_with_ct(result)
    result.patterns = evaluate_patterns(result, config, clinical) if result.analysed else []
    result.used_files, result.unused_files = account_files(result)
    result.seconds = time.perf_counter() - started
    return result


def _map_sites(seg: Segmentation, config: Config, label_map: Path | None) -> None:
    """Region, side and tissue of each deposit; the heuristics place every deposit even
    when no label map can be used."""
    try:
        with stage("site_mapping"):
            labels = _anatomy_labels(seg, label_map)
            seg.warnings.extend(map_sites(seg, config.anatomy, labels))
    except Exception as exc:  # a site-mapping bug must not lose the measured deposits
        log.debug("site mapping failed:\n%s", traceback.format_exc())
        seg.warnings.append(f"site mapping failed (internal error: {plain_message(exc)}); sites left unknown")


def _anatomy_labels(seg: Segmentation, label_map: Path | None) -> AnatomyLabels | None:
    """The user's label map (a NIfTI, or a DICOM SEG of organ labels), else None.

    SEG objects that arrive inside a study are never used on their own: another tool's SEG
    may hold a lesion, not organs, and a malformed one must not change the analysis; they
    are listed as not analysed like any other non-image object."""
    if label_map is None:
        return None
    try:
        if label_map.name.lower().endswith((".nii", ".nii.gz")):
            return load_label_map(label_map, seg.volume)
        return label_map_from_seg(label_map, seg.volume)
    except LabelMapError as exc:
        seg.warnings.append(f"anatomy labels {label_map} not used: {exc}")
    return None


def number_deposits(deposits: list[Deposit]) -> list[Deposit]:
    """Ids D1, D2... from head to foot (then patient's right to left), stable across runs."""
    ordered = sorted(
        deposits, key=lambda d: (-round(d.centroid_lps_mm[2], 1), round(d.centroid_lps_mm[0], 1))
    )
    for n, d in enumerate(ordered, start=1):
        d.id = f"D{n}"
    return ordered


def number_incidental(found: list[Incidental]) -> list[Incidental]:
    """Ids I1, I2... from head to foot (then patient's right to left), as deposits are."""
    ordered = sorted(found, key=lambda i: (-round(i.centroid_lps_mm[2], 1), round(i.centroid_lps_mm[0], 1)))
    for n, item in enumerate(ordered, start=1):
        item.id = f"I{n}"
    return ordered


def number_radiograph_deposits(findings: list[RadiographFindings], first: int) -> None:
    """Ids after the CT deposits' (D<n+1>...), image by image, top to bottom then left to
    right, so that the ids of one study never collide and are stable across runs."""
    n = first
    for found in findings:
        for d in sorted(found.deposits, key=lambda d: (round(d.centroid_px[0]), round(d.centroid_px[1]))):
            d.id = f"D{n}"
            n += 1


def _analyse_stack(
    series: Series, stack: Stack, config: Config
) -> tuple[SeriesOutcome, Segmentation | RadiographFindings | None]:
    """A CT stack's segmentation, or a radiograph's opacities."""
    outcome = SeriesOutcome(
        stack=stack,
        series_number=series.number,
        description=series.description,
        status="skipped",
        reason=stack.reason,
        warnings=list(stack.warnings),
    )
    started = time.perf_counter()
    if stack.failure:
        outcome.input_problem = True
        return _failed(outcome, stack.failure, started), None
    if stack.kind == "other":
        return outcome, None
    try:
        failpoints.trigger(stack.series_uid, ("raise",))
        with stage("load"):
            image = load_stack(stack, config)
        if isinstance(image, CTVolume):
            outcome.warnings = list(image.warnings)
            outcome.warnings.extend(f"{p.path.name}: {p.reason}" for p in image.file_problems)
            found: Segmentation | RadiographFindings = segment_ct(canonical(image), config)
            _note_stored_indices(found)
        else:
            outcome.calibration = calibration_of(image)
            outcome.warnings.extend(w for w in image.warnings if w not in outcome.warnings)
            with stage("radiograph"):
                found = find_opacities(image, config.radiograph)
                map_radiograph_sites(found)
    except CalcscanError as exc:
        outcome.input_problem = isinstance(exc, LoadError)
        return _failed(outcome, str(exc), started), None
    except BaseException as exc:  # a bug in a stage must not take the study down
        if must_propagate(exc):
            raise
        log.debug("stack %s failed:\n%s", stack.label, traceback.format_exc())
        reason = f"internal error while analysing this series: {plain_message(exc)}"
        return _failed(outcome, reason, started), None
    outcome.status, outcome.reason = "analyzed", None
    outcome.seconds = time.perf_counter() - started
    return outcome, found


def _note_stored_indices(seg: Segmentation) -> None:
    """Deposits found in a volume whose axes were put in patient order also get their
    voxel indices in the series as stored (what a viewer of that series shows)."""
    amap = seg.volume.axis_map
    if amap is None:
        return
    for d in seg.deposits:
        d.stored_centroid_ijk = amap.to_stored(d.centroid_ijk)
        d.stored_bbox_ijk = amap.box_to_stored(d.bbox_ijk)


def _failed(outcome: SeriesOutcome, reason: str, started: float) -> SeriesOutcome:
    log.warning("%s: failed: %s", outcome.stack.label, reason)
    outcome.status, outcome.reason = "failed", reason
    outcome.seconds = time.perf_counter() - started
    return outcome
