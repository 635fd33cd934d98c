"""`calcscan run INPUT... -o OUT`: analyse every study found and write the report contract."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import click

from pipeline.cli_options import SHARED_OPTIONS, Analysis, read_shared, with_options
from pipeline.errors import UsageError
from pipeline.output_path import check_output_folder

BATCH_OPTIONS = [  # scheduling: workers, resume, Dask
    click.option(
        "--workers",
        type=click.IntRange(min=0),
        help="Studies analysed at once, each in its own process [default: one per core]; "
        "0: one after another in this process.",
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
]

SOURCE_OPTIONS = [  # studies from a PACS over DICOMweb
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


@click.command()
@click.argument("inputs", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", "out", required=True, type=click.Path(path_type=Path), help="Output folder.")
@click.option(
    "--anatomy",
    type=click.Path(path_type=Path),
    help="Organ label map of a single study (TotalSegmentator NIfTI, or a DICOM SEG of organs), "
    "or a folder of <StudyUID>.nii.gz.",
)
@click.option(
    "--clinical",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Clinical context per study (YAML or CSV): calcium, phosphate, renal disease...",
)
@with_options(SHARED_OPTIONS)
@with_options(BATCH_OPTIONS)
@with_options(SOURCE_OPTIONS)
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
    if not inputs and not opts["dicomweb"]:
        raise UsageError("give INPUT folders or files, or --dicomweb URL")
    shared = read_shared(out, opts)
    from pipeline.run import run_batch  # heavy imports only once the command line is valid

    extras, batch = _run_settings(ctx, opts, shared)
    pulled, problems = _pull(out, opts)
    batch = replace(batch, source_problems=tuple(problems))
    sources = list(inputs) + pulled
    code = run_batch(sources, out, shared.config, extras, shared.outputs, batch)
    if batch.progress != "none":
        click.echo(
            f"reports in {out}/studies, overview in {out}/index.html, summary in {out}/summary.csv", err=True
        )
    sys.exit(code)


def _run_settings(ctx: click.Context, opts: dict, shared: Analysis):
    from pipeline.batch.job import BatchOptions
    from pipeline.study_inputs import StudyInputs

    extras = StudyInputs.read(opts["anatomy"], opts["clinical"])
    quiet = ctx.find_root().params.get("quiet", False)
    batch = BatchOptions(
        workers=opts["workers"],
        study_timeout=opts["study_timeout"],
        resume=opts["resume"],
        scheduler=opts["scheduler"] or None,
        store_to=shared.store_to,
        progress="none" if quiet else "auto",
    )
    return extras, batch


def _pull(out: Path, opts: dict) -> tuple[list[Path], list[str]]:
    """Studies pulled over DICOMweb into the cache folder (each an input), and the studies
    that could not be pulled (in run.json; they make the exit code 1)."""
    if not opts["dicomweb"]:
        if opts["study_uids"] or opts["queries"]:
            raise UsageError("--study and --query need --dicomweb URL")
        return [], []
    from pipeline.pacs.dicomweb_source import parse_query, pull_studies

    if opts["cache"] is not None:
        check_output_folder(opts["cache"])
    cache = opts["cache"] or out / "dicomweb-cache"
    pulled = pull_studies(opts["dicomweb"], cache, opts["study_uids"], parse_query(opts["queries"]))
    for problem in pulled.problems:
        click.echo(f"calcscan: error: {problem}", err=True)
    if not pulled.folders and not pulled.problems:
        raise UsageError(f"no study on {opts['dicomweb']} matches the --study/--query given")
    return pulled.folders, pulled.problems
