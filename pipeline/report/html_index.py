"""index.html: the run's overview page, one row per study linking its report.html.

Built from run.json's content only (already de-identified under --deidentify), so the page
can never show more than run.json does. The per-study fields beyond run.json's original
ones (report_html, modalities, top pattern, volume, regions) are optional: a run written
before they existed still gets a page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.report.html_parts import (
    attr,
    bullet_list,
    cell,
    disclaimer,
    esc,
    href,
    key_values,
    page,
    raw_cell,
    table,
    uid,
)
from pipeline.report.json_report import DISCLAIMER
from pipeline.report.outputs import write_text_atomic

_HEADERS = ["Study", "Status", "Reason", "Deposits", "Total volume (mm³)", "Top pattern", "Modalities",
            "Regions", "Seconds", "Files"]  # fmt: skip


def write_index_html(out: Path, run: dict[str, Any]) -> None:
    """writes out/index.html from run.json's content"""
    studies = run.get("studies") or []
    body = "\n".join(
        [
            "<header><h1>calcscan run</h1></header>",
            disclaimer(DISCLAIMER),
            f'<section id="run"><h2>Run</h2>{key_values(_run_pairs(run, studies))}</section>',
            f'<section id="studies"><h2>Studies</h2>{table(_HEADERS, [_row(out, s) for s in studies])}'
            "</section>",
            _warnings(run),
        ]
    )
    write_text_atomic(out / "index.html", page("calcscan run", body))


def _run_pairs(run: dict[str, Any], studies: list[dict[str, Any]]) -> list[tuple[str, str]]:
    tool = run.get("tool") or {}
    counts: dict[str, int] = {}
    for s in studies:
        counts[str(s.get("status"))] = counts.get(str(s.get("status")), 0) + 1
    status = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no studies found"
    return [
        ("Tool", esc(f"{tool.get('name', 'calcscan')} {tool.get('version', '')}".strip())),
        ("Python", esc(tool.get("python"))),
        ("Started", esc(run.get("started"))),
        ("Finished", esc(run.get("finished"))),
        ("Seconds", esc(run.get("seconds"))),
        ("Exit code", esc(run.get("exit_code"))),
        ("Files read", esc(run.get("n_files"))),
        ("Files not used", esc(len(run.get("skipped_files") or []))),
        ("Studies", esc(status)),
    ]


def _row(out: Path, s: dict[str, Any]) -> list[str]:
    key = str(s.get("key") or "")
    html_path = s.get("report_html") or f"studies/{key}/report.html"
    name = uid(s.get("study_instance_uid") or key)
    study = f'<a href="{href(html_path)}">{name}</a>' if (out / html_path).is_file() else name
    top = s.get("top_pattern")
    verdict = s.get("top_verdict")
    pattern = (
        f'{esc(top)} <span class="verdict-{attr(verdict)}">({esc(verdict)})</span>' if top else esc(None)
    )
    files = f'<a href="{href(s["report"])}">report.json</a>' if s.get("report") else esc(None)
    return [
        raw_cell(study),
        cell(s.get("status"), f"status-{s.get('status')}"),
        cell(s.get("reason")),
        cell(s.get("n_deposits")),
        cell(s.get("total_volume_mm3")),
        raw_cell(pattern),
        cell(_joined(s.get("modalities"))),
        cell(_joined(s.get("regions"))),
        cell(s.get("seconds")),
        raw_cell(files),
    ]


def _joined(value: Any) -> str | None:
    """A list or an already joined string ("CT/DX") as text."""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or None
    return value


def _warnings(run: dict[str, Any]) -> str:
    warnings = run.get("warnings") or []
    listed = bullet_list(warnings) if warnings else "<p>None.</p>"
    return f'<section id="warnings"><h2>Run warnings</h2>{listed}</section>'
