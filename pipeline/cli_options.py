"""The options `calcscan run` and `calcscan listen` share, and what they are turned into,
so that both commands analyse and write a study the same way and check it the same way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pipeline.config import Config, load_config, parse_override
from pipeline.output_path import check_output_folder

if TYPE_CHECKING:
    from pipeline.report.study_outputs import OutputOptions

SHARED_OPTIONS = [
    click.option(
        "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), help="YAML config file."
    ),
    click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key."),
    click.option("--no-dicom", is_flag=True, help="Do not write the DICOM SEG and SR of the findings."),
    click.option(
        "--deidentify",
        is_flag=True,
        help="Apply the DICOM PS3.15 Basic Confidentiality Profile to every output, keeping UIDs "
        "and study dates (Retain UIDs, Retain Longitudinal Full Dates options): the patient ID "
        "becomes a keyed pseudonym (key from CALCSCAN_PSEUDONYM_KEY, else random per run).",
    ),
    click.option(
        "--study-timeout",
        type=click.FloatRange(min=0, min_open=True),
        metavar="SECONDS",
        help="Stop a study that takes longer and record it as failed.",
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


def with_options(options: list) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator adding click options in the order listed."""

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            f = option(f)
        return f

    return decorate


@dataclass(frozen=True)
class Analysis:
    """What the shared options say: the resolved config, the outputs, the store targets."""

    config: Config
    outputs: OutputOptions
    store_to: tuple  # pipeline.pacs.targets.StoreTarget


def read_shared(out: Path, opts: dict[str, Any]) -> Analysis:
    """Check everything the shared options name before any output is written: a bad config,
    rules file, output path or store target is a usage error (exit 2, nothing written)."""
    config = load_config(opts["config_path"], dict(parse_override(o) for o in opts["overrides"]))
    from pipeline.report.deidentify import Deidentifier
    from pipeline.report.patterns import load_rules
    from pipeline.report.study_outputs import OutputOptions

    load_rules(config.patterns.rules_file)
    outputs = OutputOptions(
        dicom=not opts["no_dicom"],
        deidentifier=Deidentifier.from_environment() if opts["deidentify"] else None,
    )
    store_to = _store_targets(opts["store_to"])
    check_output_folder(out)  # last: the only check that touches the file system
    return Analysis(config, outputs, store_to)


def _store_targets(texts: tuple[str, ...]) -> tuple:
    if not texts:
        return ()
    from pipeline.pacs.targets import parse_store_target

    return tuple(parse_store_target(t) for t in texts)
