"""Plain-data summaries of discovered stacks: what `inspect --json` prints and reports reuse.

Coordinates are DICOM LPS millimetres; directions are the unit vectors of the volume's
i (column), j (row) and k (slice) axes, each given in LPS.
"""

from __future__ import annotations

from typing import Any

from pipeline import __version__
from pipeline.models import Discovery, Stack, Study


def discovery_summary(discovery: Discovery) -> dict[str, Any]:
    return {
        "calcscan_version": __version__,
        "inputs": [str(p) for p in discovery.roots],
        "n_files": discovery.n_files,
        "studies": [study_summary(s) for s in discovery.studies],
        "skipped": [{"path": str(s.path), "reason": s.reason} for s in discovery.all_skipped],
        "warnings": list(discovery.warnings),
    }


def study_summary(study: Study) -> dict[str, Any]:
    return {
        "study_instance_uid": study.uid,
        "study_date": study.date,
        "accession_number": study.accession_number,
        "patient_id": study.patient_id,
        "description": study.description,
        "series": [stack_summary(st, se.number, se.description) for se in study.series for st in se.stacks],
    }


def stack_summary(
    stack: Stack, series_number: int | None = None, description: str | None = None
) -> dict[str, Any]:
    first = stack.slices[0].instance
    return {
        "series_instance_uid": stack.series_uid,
        "stack": stack.index + 1,
        "series_number": series_number,
        "description": description,
        "modality": stack.modality,
        "kind": stack.kind,
        "reason": stack.reason,
        "n_instances": stack.n_instances,
        "n_images": len(stack.slices),
        "transfer_syntaxes": sorted({i.transfer_syntax_uid or "unknown" for i in stack.instances}),
        "body_part_examined": first.body_part_examined,
        "geometry": geometry_summary(stack),
        "radiograph": _radiograph_summary(stack) if stack.kind == "radiograph" else None,
        "warnings": list(stack.warnings),
        "files": [str(i.path) for i in stack.instances],
    }


def geometry_summary(stack: Stack) -> dict[str, Any] | None:
    plan = stack.plan
    if plan is None:
        return None
    nz, ny, nx = plan.shape
    low, high = plan.extent_lps
    return {
        "frame": "DICOM patient coordinates (LPS), mm",
        "size_xyz": [nx, ny, nz],
        "spacing_mm": [round(v, 6) for v in plan.spacing],
        "origin_lps_mm": [round(v, 4) for v in plan.origin],
        "direction_lps": [[round(float(v), 6) for v in col] for col in plan.direction.T],
        "orientation": plan.orientation_label,
        "tilt_deg": round(plan.tilt_deg, 3),
        "interpolated_slices": len(plan.interpolated),
        "extent_lps_mm": {
            "min": [round(float(v), 2) for v in low],
            "max": [round(float(v), 2) for v in high],
        },
    }


def _radiograph_summary(stack: Stack) -> dict[str, Any]:
    inst = stack.slices[0].instance
    return {
        "rows": inst.rows,
        "columns": inst.columns,
        "view_position": inst.view_position,
        "laterality": inst.laterality,
    }
