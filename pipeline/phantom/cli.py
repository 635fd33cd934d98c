"""`calcscan phantom`: write a synthetic study (DICOM + truth.json) for tests and demos."""

from __future__ import annotations

import time
from pathlib import Path

import click

from pipeline.errors import UsageError
from pipeline.output_path import check_output_folder
from pipeline.phantom.generate import TRANSFER_SYNTAXES, make_phantom, write
from pipeline.phantom.scenarios import SCENARIOS
from pipeline.phantom.sizes import SIZES


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("scenario", required=False)
@click.option(
    "-o", "--output", "output", type=click.Path(path_type=Path), help="Folder to write the study to."
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed: the same seed writes the same bytes."
)
@click.option(
    "--size",
    type=click.Choice(sorted(SIZES)),
    default="default",
    show_default=True,
    help="small (fast tests), sample (sample_data, 5 mm slices), default, clinical (512x512, ~1.3 mm).",
)
@click.option(
    "--compression",
    type=click.Choice(sorted(TRANSFER_SYNTAXES)),
    default="rle",
    show_default=True,
    help="Transfer syntax of the DICOM files.",
)
@click.option("--force", is_flag=True, help="Write into a folder that is not empty.")
@click.option("--list", "list_", is_flag=True, help="List the scenarios and exit.")
def phantom(
    scenario: str | None,
    output: Path | None,
    seed: int,
    size: str,
    compression: str,
    force: bool,
    list_: bool,
) -> None:
    """Write a synthetic CT study (and radiograph) with known calcinosis deposits.

    SCENARIO is one of: tumoral, metastatic, dystrophic, calcific_tendinitis, healthy,
    contrast, metal, head_neck, arterial_chest, hands_feet. The folder gets
    CT/CT0001.dcm..., DX/DX0001.dcm for scenarios with a
    radiograph, truth.json and truth_labels.nii.gz (the deposit mask on the CT grid); the
    body-part scenarios also truth_incidental.nii.gz (physiologic calcifications).
    """
    if list_:
        for sc in SCENARIOS.values():
            click.echo(f"{sc.name:20s} {sc.pattern or '-':20s} {sc.description}")
        return
    if scenario is None:
        raise UsageError("give a SCENARIO (see --list)")
    if scenario not in SCENARIOS:
        raise UsageError(f"unknown scenario {scenario!r}; choose one of: {', '.join(SCENARIOS)}")
    if output is None:
        raise UsageError("give the output folder with -o/--output")
    if seed < 0:
        raise UsageError(f"--seed must be 0 or more, got {seed}")
    check_output_folder(output)
    if output.is_dir() and any(output.iterdir()) and not force:
        raise UsageError(f"{output} is not empty (use --force to write into it anyway)")
    if force:
        _remove_previous(output)
    start = time.perf_counter()
    ph = make_phantom(scenario, seed, size)
    written = write(ph, output, compression)
    elapsed = time.perf_counter() - start
    g = ph.grid
    click.echo(f"wrote {scenario} (seed {seed}, {size}) to {output}")
    click.echo(
        f"  CT: {len(written.ct_files)} slices of {g.shape[2]}x{g.shape[1]}, "
        f"{g.spacing[0]:.3f} mm pixels, {g.spacing[2]:g} mm slices -> {output / 'CT'}"
    )
    for path in written.radiograph_files:
        click.echo(f"  radiograph: {path}")
    total = sum(d.dm.n_voxels for d in ph.deposits) * g.voxel_volume
    click.echo(
        f"  deposits: {len(ph.deposits)} (total {total:.0f} mm3), pattern: {ph.scenario.pattern or 'none'}"
    )
    click.echo(f"  truth: {written.truth}, {written.label_mask}")
    click.echo(f"  took {elapsed:.1f} s")


def _remove_previous(folder: Path) -> None:
    """Delete what an earlier `calcscan phantom` wrote there (and nothing else), so that
    no stale slice or radiograph survives a rewrite with --force."""
    for sub in ("CT", "DX"):
        target = folder / sub
        if target.is_dir():
            for path in target.glob("*.dcm"):
                path.unlink()
    for name in ("truth.json", "truth_labels.nii.gz", "truth_incidental.nii.gz"):
        (folder / name).unlink(missing_ok=True)
