"""report.json: the per-study report of the output contract (../shared/spec/report-contract.md).

The same input, configuration and version give the same report.json byte for byte (run
times are in run.json, DICOM UIDs are derived from the findings), so reruns, resumed runs
and runs on a cluster can be compared with `diff`.

The contract's names are fixed; extra fields are added, never renamed. Every coordinate says
its frame: `centroid_lps_mm` is DICOM patient coordinates (LPS, mm), `centroid_ijk` and
`bbox_ijk` are voxel indices (column, row, slice) of the deposit's series stack.
"""

from __future__ import annotations

from typing import Any

from pipeline import __version__
from pipeline.discover.summary import geometry_summary
from pipeline.models import (
    Deposit,
    Incidental,
    PatternResult,
    RadiographComparison,
    RadiographDeposit,
    SeriesOutcome,
    StudyResult,
)

SCHEMA_VERSION = "1.1"
FRAME = "DICOM patient coordinates (LPS: +x patient left, +y posterior, +z head), mm"
DISCLAIMER = (
    "Decision support for a reader, not a diagnosis: calcscan maps dense deposits to the "
    "documented sites of each calcinosis type; the clinical assessment is the reader's."
)


def study_report(result: StudyResult, *, patient_id: str | None) -> dict[str, Any]:
    """The contract's report.json for one study (`patient_id` may be a pseudonym or None)."""
    study = result.study
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "calcscan", "version": __version__},
        "coordinate_frame": FRAME,
        "disclaimer": DISCLAIMER,
        "study": {
            "study_instance_uid": study.uid,
            "study_date": study.date,
            "accession_number": study.accession_number,
            "patient_id": patient_id,
            "description": study.description,
            # identifiers missing from the files and derived by calcscan (pipeline.dicom.identity)
            "derived_identifiers": list(study.derived_ids),
        },
        "series": [_series_entry(s) for s in result.series],
        "deposits": [_deposit_entry(d) for d in result.deposits]
        + [_radiograph_entry(d, modality_of(result, d.series_uid)) for d in result.radiograph_deposits],
        "patterns": [_pattern_entry(p) for p in result.patterns],
        "radiograph_vs_ct": [_comparison_entry(c) for c in result.comparisons],
        "coverage": {uid: coverage.to_json() for uid, coverage in result.coverage.items()},
        "incidental": [_incidental_entry(i) for i in result.incidental],
        "summary": summary_of(result),
        "warnings": _unique(result.warnings),
    }


def summary_of(result: StudyResult) -> dict[str, Any]:
    """Totals over the CT deposits (volumes, scores); counts and regions over every deposit.

    A deposit seen on both CT and a radiograph is two entries, one per image, so the counts
    per modality are given as well as the total."""
    deposits = result.deposits
    on_film = result.radiograph_deposits
    return {
        "n_deposits": len(deposits) + len(on_film),
        "n_ct_deposits": len(deposits),
        "n_radiograph_deposits": len(on_film),
        "total_volume_mm3": _r(sum(d.volume_mm3 for d in deposits), 2),
        "total_agatston": _r(sum(d.agatston for d in deposits), 2),
        "total_mass_mg": _r(sum(d.mass_mg for d in deposits), 2)
        if deposits and all(d.mass_mg is not None for d in deposits)
        else None,
        "regions": sorted({d.region for d in [*deposits, *on_film]}),
    }


def _series_entry(outcome: SeriesOutcome) -> dict[str, Any]:
    stack = outcome.stack
    return {
        "series_instance_uid": stack.series_uid,
        "stack": stack.index + 1,
        "series_number": outcome.series_number,
        "description": outcome.description,
        "modality": stack.modality,
        "kind": stack.kind,
        "status": outcome.status,
        "reason": outcome.reason,
        "n_instances": stack.n_instances,
        "geometry": geometry_summary(stack),
        "warnings": _unique(outcome.warnings),
    } | _calibration_entry(outcome)


def _calibration_entry(outcome: SeriesOutcome) -> dict[str, Any]:
    """A film's pixel spacing and why it was chosen, so every mm on it can be traced."""
    calibration = getattr(outcome, "calibration", None)
    if calibration is None:
        return {}
    spacing = calibration.get("pixel_spacing_mm")
    return {
        "calibration": {
            "pixel_spacing_mm": None if spacing is None else [_r(v, 6) for v in spacing],
            "source": calibration.get("source"),
            "why": calibration.get("why"),
        }
    }


def _deposit_entry(d: Deposit) -> dict[str, Any]:
    return {
        "id": d.id,
        "series_instance_uid": d.series_uid,
        "stack": d.stack_label,
        "modality": "CT",
        "centroid_lps_mm": [_r(v, 2) for v in d.centroid_lps_mm],
        "centroid_ijk": [_r(v, 2) for v in (d.stored_centroid_ijk or d.centroid_ijk)],
        "bbox_ijk": [list(box[0]), list(box[1])] if (box := d.stored_bbox_ijk or d.bbox_ijk) else None,
        "volume_mm3": _r(d.volume_mm3, 2),
        "area_mm2": _r(d.largest_axial_area_mm2, 2),
        "n_voxels": d.n_voxels,
        "max_hu": _r(d.max_hu, 1),
        "mean_hu": _r(d.mean_hu, 1),
        "agatston": _r(d.agatston, 2),
        "mass_mg": _r(d.mass_mg, 3),
        "equivalent_diameter_mm": _r(d.equivalent_diameter_mm, 2),
        "lobes": d.lobes,
        "region": d.region,
        "laterality": d.laterality,
        "tissue": d.tissue,
        "touches_bone": d.touches_bone,
        "site_evidence": list(d.site_evidence),
    }


def _incidental_entry(i: Incidental) -> dict[str, Any]:
    """A calcification a reader expects that is not calcinosis (contract 1.1)."""
    return {
        "id": i.id,
        "kind": i.kind,
        "series_instance_uid": i.series_uid,
        "centroid_lps_mm": [_r(v, 2) for v in i.centroid_lps_mm],
        "volume_mm3": _r(i.volume_mm3, 2),
        "max_hu": _r(i.max_hu, 1),
        "reason": i.reason,
    }


def modality_of(result: StudyResult, series_uid: str) -> str:
    return next((s.stack.modality for s in result.series if s.stack.series_uid == series_uid), "DX")


def _radiograph_entry(d: RadiographDeposit, modality: str) -> dict[str, Any]:
    """A radiograph deposit: pixel coordinates of the stored image, (row, column)."""
    return {
        "id": d.id,
        "series_instance_uid": d.series_uid,
        "sop_instance_uid": d.sop_instance_uid,
        "stack": d.stack_label,
        "modality": modality if modality in ("CR", "DX") else "DX",
        "centroid_px": [_r(v, 2) for v in d.centroid_px],
        "bbox_px": [list(d.bbox_px[0]), list(d.bbox_px[1])],
        "area_mm2": _r(d.area_mm2, 2),
        "area_px": d.area_px,
        "equivalent_diameter_mm": _r(d.equivalent_diameter_mm, 2),
        "equivalent_diameter_px": _r(d.equivalent_diameter_px, 2),
        "size_unit": "mm" if d.area_mm2 is not None else "px (pixel spacing unknown)",
        "contrast_to_noise": _r(d.contrast, 2),
        "region": d.region,
        "laterality": d.laterality,
        "tissue": d.tissue,
        "site_evidence": list(d.site_evidence),
    }


def _comparison_entry(c: RadiographComparison) -> dict[str, Any]:
    return {
        "sop_instance_uid": c.sop_instance_uid,
        "series_instance_uid": c.series_uid,
        "method": c.method,
        "matched": dict(c.matched),
        "not_shown_on_radiograph": list(c.not_shown),
        "outside_radiograph_field": list(c.outside_field),
        "radiograph_only": list(c.unmatched_on_film),
        "statement": c.statement,
    }


def _pattern_entry(p: PatternResult) -> dict[str, Any]:
    return {
        "type": p.type,
        "verdict": p.verdict,
        "score": _r(p.score, 3),
        "evidence": list(p.evidence),
        "reasons": list(p.reasons),
    }


def _r(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
