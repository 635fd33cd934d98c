"""`calcscan run INPUT... -o OUT`: analyse every study found and write the report contract."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pipeline.config import load_config, parse_override
from pipeline.errors import UsageError


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", "out", required=True, type=click.Path(path_type=Path), help="Output folder.")
@click.option(
    "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), help="YAML config file."
)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key.")
@click.option(
    "--anatomy",
    type=click.Path(path_type=Path),
    help="Organ label map (TotalSegmentator NIfTI) of a single study, or a folder of <StudyUID>.nii.gz.",
)
@click.option(
    "--clinical",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Clinical context per study (YAML or CSV): calcium, phosphate, renal disease...",
)
@click.option("--no-dicom", is_flag=True, help="Do not write the DICOM SEG and SR of the findings.")
@click.option(
    "--deidentify",
    is_flag=True,
    help="No patient name, ID, birth date or accession number in any output: the patient ID becomes "
    "a keyed pseudonym (key from CALCSCAN_PSEUDONYM_KEY, else random per run).",
)
def run(
    inputs: tuple[Path, ...],
    out: Path,
    config_path: Path | None,
    overrides: tuple[str, ...],
    anatomy: Path | None,
    clinical: Path | None,
    no_dicom: bool,
    deidentify: bool,
) -> None:
    """Find calcifications in every study under INPUT and write reports to OUT.

    Per study OUT/studies/<study>/: report.json, report.html with key images, dicom/ (SEG and
    TID 1500 SR). Per run: OUT/index.html, OUT/summary.csv and OUT/run.json. Exit code 0:
    every study analysed; 1: at least one failed (the others still have their outputs);
    2: usage or configuration error (nothing written).
    """
    config = load_config(config_path, dict(parse_override(o) for o in overrides))
    if out.exists() and not out.is_dir():
        raise UsageError(f"output {out} exists and is not a folder")
    from pipeline.report.deidentify import Deidentifier
    from pipeline.report.patterns import load_rules
    from pipeline.report.study_outputs import OutputOptions
    from pipeline.run import run_batch  # heavy imports only once the command line is valid
    from pipeline.study_inputs import StudyInputs

    load_rules(config.patterns.rules_file)  # a broken rules file is a usage error, before any output
    extras = StudyInputs.read(anatomy, clinical)
    options = OutputOptions(
        dicom=not no_dicom, deidentifier=Deidentifier.from_environment() if deidentify else None
    )
    code = run_batch(list(inputs), out, config, extras, options)
    click.echo(
        f"reports in {out}/studies, overview in {out}/index.html, summary in {out}/summary.csv", err=True
    )
    sys.exit(code)
