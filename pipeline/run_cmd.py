"""`calcscan run INPUT... -o OUT`: analyse every study found and write the report contract."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import click

from pipeline.config import load_config, parse_override
from pipeline.errors import UsageError


def _batch_options(f):
    """Scheduling: workers, timeout, resume, Dask, progress display."""
    options = [
        click.option(
            "--workers",
            type=click.IntRange(min=0),
            help="Studies analysed at once, each in its own process [default: one per core]; "
            "0: one after another in this process.",
        ),
        click.option(
            "--study-timeout",
            type=click.FloatRange(min=0, min_open=True),
            metavar="SECONDS",
            help="Stop a study that takes longer and record it as failed.",
        ),
        click.option(
            "--resume",
            is_flag=True,
            help="Keep the complete outputs of an earlier run into OUT made from the same inputs and "
            "settings; analyse only the other studies.",
        ),
        click.option(
            "--scheduler",
            envvar="DASK_SCHEDULER_ADDRESS",
            metavar="ADDRESS",
            help="Run the studies on this Dask distributed scheduler (e.g. tcp://host:8786); its "
            "workers must see the inputs and OUT at the same paths. [env: DASK_SCHEDULER_ADDRESS]",
        ),
        click.option(
            "--store-to",
            "store_to",
            multiple=True,
            metavar="TARGET",
            help="Send each study's SEG and SR to dicomweb:URL (STOW-RS) or dimse:AET@host:port "
            "(C-STORE). Repeatable.",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _source_options(f):
    """Studies from a PACS over DICOMweb."""
    options = [
        click.option("--dicomweb", metavar="URL", help="Pull studies from this DICOMweb service."),
        click.option("--study", "study_uids", multiple=True, metavar="UID", help="With --dicomweb: a study."),
        click.option(
            "--query",
            "queries",
            multiple=True,
            metavar="KEY=VALUE",
            help="With --dicomweb: a QIDO-RS filter, e.g. StudyDate=20240101-20240131, ModalitiesInStudy=CT.",
        ),
        click.option(
            "--cache",
            type=click.Path(file_okay=False, path_type=Path),
            help="With --dicomweb: where pulled studies are kept [default: OUT/dicomweb-cache].",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@click.command()
@click.argument("inputs", nargs=-1, type=click.Path(exists=True, path_type=Path))
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
@_batch_options
@_source_options
@click.pass_context
def run(ctx: click.Context, inputs: tuple[Path, ...], out: Path, **opts) -> None:
    """Find calcifications in every study under INPUT (or pulled with --dicomweb) and write
    reports to OUT.

    Per study OUT/studies/<study>/: report.json, report.html with key images, dicom/ (SEG and
    TID 1500 SR). Per run: OUT/index.html, OUT/summary.csv and OUT/run.json. Exit code 0:
    every study analysed; 1: at least one failed (the others still have their outputs) or
    could not be stored; 2: usage or configuration error (nothing written); 130/143:
    interrupted (run.json lists what finished; rerun with --resume).
    """
    config = load_config(opts["config_path"], dict(parse_override(o) for o in opts["overrides"]))
    if out.exists() and not out.is_dir():
        raise UsageError(f"output {out} exists and is not a folder")
    if not inputs and not opts["dicomweb"]:
        raise UsageError("give INPUT folders or files, or --dicomweb URL")
    from pipeline.report.patterns import load_rules
    from pipeline.run import run_batch  # heavy imports only once the command line is valid

    load_rules(config.patterns.rules_file)  # a broken rules file is a usage error, before any output
    extras, options, batch = _run_settings(ctx, opts)
    pulled, problems = _pull(out, opts)
    batch = replace(batch, source_problems=tuple(problems))
    sources = list(inputs) + pulled
    code = run_batch(sources, out, config, extras, options, batch)
    if batch.progress != "none":
        click.echo(
            f"reports in {out}/studies, overview in {out}/index.html, summary in {out}/summary.csv", err=True
        )
    sys.exit(code)


def _run_settings(ctx: click.Context, opts: dict):
    from pipeline.batch.job import BatchOptions
    from pipeline.report.deidentify import Deidentifier
    from pipeline.report.study_outputs import OutputOptions
    from pipeline.study_inputs import StudyInputs

    extras = StudyInputs.read(opts["anatomy"], opts["clinical"])
    options = OutputOptions(
        dicom=not opts["no_dicom"],
        deidentifier=Deidentifier.from_environment() if opts["deidentify"] else None,
    )
    quiet = ctx.find_root().params.get("quiet", False)
    batch = BatchOptions(
        workers=opts["workers"],
        study_timeout=opts["study_timeout"],
        resume=opts["resume"],
        scheduler=opts["scheduler"] or None,
        store_to=_store_targets(opts["store_to"]),
        progress="none" if quiet else "auto",
    )
    return extras, options, batch


def _store_targets(texts: tuple[str, ...]) -> tuple:
    if not texts:
        return ()
    from pipeline.pacs.targets import parse_store_target

    return tuple(parse_store_target(t) for t in texts)


def _pull(out: Path, opts: dict) -> tuple[list[Path], list[str]]:
    """Studies pulled over DICOMweb into the cache folder (each an input), and the studies
    that could not be pulled (in run.json; they make the exit code 1)."""
    if not opts["dicomweb"]:
        if opts["study_uids"] or opts["queries"]:
            raise UsageError("--study and --query need --dicomweb URL")
        return [], []
    from pipeline.pacs.dicomweb_source import parse_query, pull_studies

    cache = opts["cache"] or out / "dicomweb-cache"
    pulled = pull_studies(opts["dicomweb"], cache, opts["study_uids"], parse_query(opts["queries"]))
    for problem in pulled.problems:
        click.echo(f"calcscan: error: {problem}", err=True)
    if not pulled.folders and not pulled.problems:
        raise UsageError(f"no study on {opts['dicomweb']} matches the --study/--query given")
    return pulled.folders, pulled.problems
