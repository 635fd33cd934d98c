"""`calcscan inspect PATH...`: what is in a folder, as a table or JSON, reading headers only."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipeline.config import load_config, parse_override
from pipeline.discover import discover
from pipeline.discover.summary import discovery_summary
from pipeline.models import Discovery, Stack, Study


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")
@click.option(
    "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), help="YAML config file."
)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key.")
def inspect(
    paths: tuple[Path, ...], as_json: bool, config_path: Path | None, overrides: tuple[str, ...]
) -> None:
    """List studies, series, their classification, geometry, warnings and skipped files.

    Reads headers only (no pixel data), so it is quick on large folders. Geometry is in
    DICOM patient coordinates (LPS, mm).
    """
    config = load_config(config_path, dict(parse_override(o) for o in overrides))
    found = discover(list(paths), config)
    if as_json:
        json.dump(discovery_summary(found), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    console = Console(highlight=False)
    if not console.is_terminal:  # piped to a file or pager: do not cut lines at 80 columns
        console = Console(highlight=False, width=200)
    _print_tables(found, console)


def _print_tables(found: Discovery, console: Console) -> None:
    n_stacks = sum(len(s.stacks) for s in found.studies)
    console.print(
        f"[bold]{found.n_files}[/] files: [bold]{len(found.studies)}[/] studies, "
        f"{n_stacks} series/stacks, {len(found.all_skipped)} files not used"
    )
    for study in found.studies:
        _print_study(study, console)
    if found.all_skipped:
        console.print(f"\n[bold]Files not used[/] ({len(found.all_skipped)})")
        for s in found.all_skipped:
            console.print(f"  {escape(_relative(s.path, found.roots))}: {escape(s.reason)}")
    for warning in found.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")


def _print_study(study: Study, console: Console) -> None:
    title = f"\n[bold]Study[/] {study.uid}  date {study.date or '?'}"
    if study.description:
        title += f"  {escape(study.description)}"
    console.print(title)
    table = Table(box=None, padding=(0, 2, 0, 0), pad_edge=False, show_edge=False)
    for name in ("  series", "mod", "kind", "images", "size x,y,z", "spacing mm", "description"):
        table.add_column(name, no_wrap=True, style="bold" if name == "kind" else None)
    for series in study.series:
        for stack in series.stacks:
            number = "?" if series.number is None else str(series.number)
            if len(series.stacks) > 1:
                number += f" #{stack.index + 1}"
            table.add_row(
                f"  {number}",
                stack.modality,
                stack.kind,
                str(len(stack.slices)),
                *_geometry_cells(stack),
                escape(_description(series.description, stack)),
            )
    console.print(table)
    for series in study.series:
        for stack in series.stacks:
            notes = _notes(stack)
            if notes:
                number = "?" if series.number is None else str(series.number)
                console.print(f"  series {number} #{stack.index + 1}:")
                for line in notes:
                    console.print(f"      {line}")


def _geometry_cells(stack: Stack) -> tuple[str, str]:
    if stack.plan is not None:
        nz, ny, nx = stack.plan.shape
        sx, sy, sz = stack.plan.spacing
        return f"{nx}x{ny}x{nz} {stack.plan.orientation_label}", f"{sx:.3g} x {sy:.3g} x {sz:.3g}"
    inst = stack.slices[0].instance
    if inst.rows and inst.columns:
        return f"{inst.columns}x{inst.rows}", ""
    return "", ""


def _description(text: str | None, stack: Stack) -> str:
    """Series description; for radiographs also body part, view and side from the header."""
    parts = [text or ""]
    if stack.kind == "radiograph":
        inst = stack.slices[0].instance
        parts += [f"[{p}]" for p in (inst.body_part_examined, inst.view_position, inst.laterality) if p]
    return " ".join(p for p in parts if p)


def _notes(stack: Stack) -> list[str]:
    lines = [f"[red]not analysed:[/] {escape(stack.reason)}"] if stack.reason else []
    lines += [f"[yellow]![/] {escape(w)}" for w in stack.warnings]
    return lines


def _relative(path: Path, roots: list[Path]) -> str:
    for root in roots:
        try:
            return str(path.relative_to(root)) or str(path)
        except ValueError:
            continue
    return str(path)
