"""report.html: the per-study report a reader opens, with its key images in images/.

Every text on the page comes from the report dict (report.json's content, de-identified
under --deidentify before it reaches here), never from `result.study`; `result` only gives
the pixels. The page is self-contained apart from images/: inline CSS, no scripts, no
external URLs. The run's overview page is html_index.py (re-exported here).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.models import StudyResult
from pipeline.report.html_index import write_index_html
from pipeline.report.html_parts import (
    attr,
    bullet_list,
    cell,
    dicom_date,
    disclaimer,
    esc,
    fmt,
    href,
    key_values,
    page,
    raw_cell,
    table,
    uid,
)
from pipeline.report.json_report import DISCLAIMER
from pipeline.report.key_image_files import Figure, KeyImages, write_key_images
from pipeline.report.outputs import write_text_atomic

__all__ = ["write_html_report", "write_index_html"]

# segmentation settings quoted on the page besides every *_hu threshold
_QUOTED_SETTINGS = ("kvp_aware", "min_volume_mm3", "min_voxels", "significance_sigma")


def write_html_report(
    folder: Path, result: StudyResult, report: dict[str, Any], settings: dict[str, Any]
) -> list[str]:
    """writes folder/report.html and folder/images/*.png; returns the image paths relative to folder"""
    images = write_key_images(folder, result, report)
    uid_text = report.get("study", {}).get("study_instance_uid") or "unknown study"
    body = "\n".join(
        [
            f"<header><h1>calcscan study report</h1><p>Study {uid(uid_text)}</p></header>",
            disclaimer(report.get("disclaimer") or DISCLAIMER),
            _study_section(report),
            _patterns_section(report),
            _deposits_section(report, images),
            _comparison_section(report),
            _images_section(images),
            _incidental_section(report),
            _coverage_section(report),
            _series_section(report),
            _warnings_section(report, images),
            _settings_section(settings),
            _footer(report),
        ]
    )
    write_text_atomic(folder / "report.html", page(f"calcscan report {uid_text}", body))
    return images.paths


def _study_section(report: dict[str, Any]) -> str:
    study = report.get("study", {})
    summary = report.get("summary", {})
    pairs = [
        ("Study instance UID", uid(study.get("study_instance_uid"))),
        ("Study date", esc(dicom_date(study.get("study_date")))),
        ("Accession number", esc(study.get("accession_number"))),
        ("Patient ID", esc(study.get("patient_id"))),
        ("Description", esc(study.get("description"))),
        ("Deposits", esc(summary.get("n_deposits"))),
        ("Total volume (mm³)", esc(summary.get("total_volume_mm3"))),
        ("Total Agatston score", esc(summary.get("total_agatston"))),
        ("Total mass (mg)", esc(summary.get("total_mass_mg"))),
        ("Regions", esc(", ".join(summary.get("regions") or []))),
    ]
    deidentification = study.get("deidentification")
    if deidentification:  # --deidentify: say what was applied, so a reader knows why fields are empty
        applied = ", ".join([deidentification.get("profile", ""), *deidentification.get("options", [])])
        pairs.insert(4, ("De-identification", esc(applied)))
    return f'<section id="study"><h2>Study</h2>{key_values(pairs)}</section>'


def _patterns_section(report: dict[str, Any]) -> str:
    patterns = report.get("patterns") or []
    if not patterns:
        none = "<p>No pattern ranking (no series analysed).</p>"
        return f'<section id="patterns"><h2>Pattern ranking</h2>{none}</section>'
    rows = [
        [
            cell(rank),
            cell(p.get("type")),
            cell(p.get("verdict"), f"verdict-{p.get('verdict')}"),
            cell(p.get("score")),
            raw_cell(
                ", ".join(f'<a href="#dep-{attr(e)}">{esc(e)}</a>' for e in p.get("evidence") or [])
                or "&mdash;"
            ),
            raw_cell(bullet_list(p.get("reasons") or [])),
        ]
        for rank, p in enumerate(patterns, start=1)
    ]
    headers = ["#", "Calcinosis type", "Verdict", "Score (0-1)", "Evidence", "Reasons"]
    note = "<p>How well the deposits' sites match the documented pattern of each type, best first.</p>"
    return f'<section id="patterns"><h2>Pattern ranking</h2>{note}{table(headers, rows)}</section>'


def _deposits_section(report: dict[str, Any], images: KeyImages) -> str:
    deposits = report.get("deposits") or []
    if not deposits:
        return '<section id="deposits"><h2>Deposits</h2><p>No calcific deposits found.</p></section>'
    headers = ["ID", "Modality", "Region", "Side", "Tissue", "Volume (mm³)", "Area (mm²)", "Max HU",
               "Agatston", "Lobes", "Centroid (CT: LPS mm; radiograph: row, col px)", "Image"]  # fmt: skip
    rows = []
    for d in deposits:
        figure = images.deposits.get(str(d.get("id"))) or images.on_films.get(str(d.get("id")))
        link = f'<a href="#{attr(figure.anchor)}">view</a>' if figure else "not shown"
        centroid = d.get("centroid_lps_mm")
        pixel = d.get("centroid_px")
        position = ", ".join(f"{v:.1f}" for v in centroid or pixel or [])
        rows.append(
            f'<tr id="dep-{attr(d.get("id"))}">'
            + "".join(
                [
                    raw_cell(
                        f'<a href="#{attr(figure.anchor)}">{esc(d.get("id"))}</a>'
                        if figure
                        else esc(d.get("id"))
                    ),
                    cell(d.get("modality")),
                    cell(d.get("region")),
                    cell(d.get("laterality")),
                    cell(d.get("tissue")),
                    cell(d.get("volume_mm3")),
                    cell(d.get("area_mm2")),
                    cell(d.get("max_hu")),
                    cell(d.get("agatston")),
                    cell(d.get("lobes")),
                    cell(position),
                    raw_cell(link),
                ]
            )
            + "</tr>"
        )
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    frame = (
        f"<p>Centroids in {esc(report.get('coordinate_frame') or 'DICOM patient coordinates (LPS), mm')}.</p>"
    )
    return (
        f'<section id="deposits"><h2>Deposits</h2>{frame}<table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


def _comparison_section(report: dict[str, Any]) -> str:
    """What each radiograph shows of the CT deposits (only in studies with both)."""
    comparisons = report.get("radiograph_vs_ct") or []
    if not comparisons:
        return ""
    items = [
        f"{c.get('statement')}. Method: {c.get('method')}."
        + (
            f" Outside the film's field: {', '.join(c['outside_radiograph_field'])}."
            if c.get("outside_radiograph_field")
            else ""
        )
        for c in comparisons
    ]
    return f'<section id="radiograph-vs-ct"><h2>Radiograph and CT</h2>{bullet_list(items)}</section>'


def _figure(figure: Figure) -> str:
    return (
        f'<figure id="{attr(figure.anchor)}"><img src="{href(figure.path)}" width="{figure.width}" '
        f'height="{figure.height}" alt="{attr(figure.alt)}">'
        f"<figcaption>{esc(figure.caption)}</figcaption></figure>"
    )


def _images_section(images: KeyImages) -> str:
    parts = ['<section id="images"><h2>Key images</h2>']
    parts.append(
        "<p>Radiological convention: the patient's right is on the viewer's left; letters at the "
        "edges give the patient's directions (R/L, A/P, S/I; H/F head/feet on radiographs).</p>"
    )
    parts.extend(f'<p class="note">{esc(n)}</p>' for n in images.notes)
    if images.overviews:
        parts.append("<h3>Overview</h3>" + "".join(_figure(f) for f in images.overviews))
    if images.deposits:
        parts.append("<h3>Deposits</h3>" + "".join(_figure(f) for f in images.deposits.values()))
    if images.not_shown:
        parts.append(f"<p>{images.not_shown} more deposit(s) not shown (see the table above).</p>")
    if images.radiographs:
        parts.append("<h3>Radiographs</h3>" + "".join(_figure(f) for f in images.radiographs))
    if not (images.overviews or images.deposits or images.radiographs):
        parts.append("<p>No images: no CT volume or radiograph could be loaded.</p>")
    return "".join(parts) + "</section>"


def _incidental_section(report: dict[str, Any]) -> str:
    """Calcifications a reader expects that are not calcinosis (contract 1.1): listed so
    that nothing found is hidden, apart from the deposits and the ranking."""
    found = report.get("incidental") or []
    if not found:
        return '<section id="incidental"><h2>Incidental calcifications</h2><p>None.</p></section>'
    headers = ["ID", "Kind", "Centroid (LPS mm)", "Volume (mm3)", "Max HU", "Why not calcinosis"]
    rows = [
        [
            cell(i.get("id")),
            cell(str(i.get("kind", "")).replace("_", " ")),
            cell(", ".join(fmt(v) for v in i.get("centroid_lps_mm") or i.get("centroid_px") or [])),
            cell(i.get("volume_mm3")),
            cell(i.get("max_hu")),
            cell(i.get("reason")),
        ]
        for i in found
    ]
    return (
        '<section id="incidental"><h2>Incidental calcifications</h2>'
        "<p>Not deposits and not evidence for any pattern.</p>"
        f"{table(headers, rows)}</section>"
    )


def _coverage_section(report: dict[str, Any]) -> str:
    """Per analysed series: the body parts its images show, contrast as measured, and what
    was left out of the search."""
    coverage = report.get("coverage") or {}
    if not coverage:
        return ""
    headers = ["Series instance UID", "Body parts", "Contrast", "Not searched"]
    rows = []
    for series_uid, c in coverage.items():
        contrast = c.get("contrast") or {}
        said = (
            "not measured"
            if not contrast
            else (
                f"{'present' if contrast.get('present') else 'none'}, phase {contrast.get('phase')}, "
                f"blood pool {fmt(contrast.get('blood_pool_hu'))} HU (from the {contrast.get('source')})"
            )
        )
        excluded = [f"{e.get('what')}: {e.get('reason')}" for e in c.get("excluded") or []]
        rows.append(
            [
                raw_cell(uid(series_uid)),
                cell(", ".join(c.get("body_parts") or []) or "not told"),
                cell(said),
                raw_cell(bullet_list(excluded) if excluded else "nothing"),
            ]
        )
    return f'<section id="coverage"><h2>Coverage</h2>{table(headers, rows)}</section>'


def _series_section(report: dict[str, Any]) -> str:
    headers = ["Series instance UID", "Stack", "Number", "Description", "Modality", "Kind", "Status",
               "Reason", "Instances", "Warnings"]  # fmt: skip
    rows = [
        [
            raw_cell(uid(s.get("series_instance_uid"))),
            cell(s.get("stack")),
            cell(s.get("series_number")),
            cell(s.get("description")),
            cell(s.get("modality")),
            cell(s.get("kind")),
            cell(s.get("status"), f"status-{s.get('status')}"),
            cell(s.get("reason")),
            cell(s.get("n_instances")),
            raw_cell(bullet_list(s.get("warnings") or [])),
        ]
        for s in report.get("series") or []
    ]
    return f'<section id="series"><h2>Series</h2>{table(headers, rows)}</section>'


def _warnings_section(report: dict[str, Any], images: KeyImages) -> str:
    warnings = list(report.get("warnings") or []) + images.notes
    listed = bullet_list(warnings) if warnings else "<p>None.</p>"
    return f'<section id="warnings"><h2>Warnings</h2>{listed}</section>'


def _settings_section(settings: dict[str, Any]) -> str:
    """The thresholds a reader most needs in a table; the whole resolved config folded."""
    segmentation = settings.get("segmentation") or {}
    rows = [
        [cell(f"segmentation.{k}"), cell(v)]
        for k, v in segmentation.items()
        if k.endswith("_hu") or k in _QUOTED_SETTINGS
    ]
    rows += [[cell(f"anatomy.{k}"), cell(v)] for k, v in (settings.get("anatomy") or {}).items()]
    full = esc(json.dumps(settings, indent=2, ensure_ascii=False, default=str))
    return (
        '<section id="settings"><h2>Settings used</h2>'
        f"{table(['Setting', 'Value'], rows)}"
        f"<details><summary>Full resolved configuration (JSON)</summary><pre>{full}</pre></details></section>"
    )


def _footer(report: dict[str, Any]) -> str:
    tool = report.get("tool") or {}
    return (
        f"<footer>{esc(tool.get('name') or 'calcscan')} {esc(tool.get('version'))}; report schema "
        f"{esc(report.get('schema_version'))}. "
        f"{esc(report.get('disclaimer') or DISCLAIMER)}</footer>"
    )
