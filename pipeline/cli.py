"""The `calcscan` command line.

Subcommands live in their own modules and are imported only when used, so `calcscan --help`
stays fast and a broken optional stage cannot stop the others from running.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import click

from pipeline import __version__
from pipeline.errors import UsageError

# name -> "module:attribute" of a click command
COMMANDS: dict[str, str] = {
    "config": "pipeline.config_cmd:config",
    "inspect": "pipeline.inspect_cmd:inspect",
    "listen": "pipeline.listen_cmd:listen",
    "phantom": "pipeline.phantom.cli:phantom",
    "run": "pipeline.run_cmd:run",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            return getattr(importlib.import_module(module_name), attr)
        except ImportError as exc:  # one broken stage must not take the whole CLI down
            return _unavailable(cmd_name, exc)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            # usage and configuration errors: the message, no traceback, exit 2
            click.echo(f"calcscan: error: {exc}", err=True)
            ctx.exit(2)


def _unavailable(name: str, exc: ImportError) -> click.Command:
    def fail() -> None:
        raise UsageError(f"'{name}' is unavailable in this installation: {exc}")

    return click.Command(name, callback=fail, help=f"(unavailable: {exc})")


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="calcscan")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
def cli(verbose: int, quiet: bool) -> None:
    """Find soft-tissue calcifications (calcinosis) in CT series and radiographs.

    Patient coordinates are DICOM LPS in millimetres (+x is the patient's left).
    This tool supports a reader; it does not make a diagnosis.
    """
    levels = (logging.WARNING, logging.INFO, logging.DEBUG)
    level = logging.ERROR if quiet else levels[min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # pydicom logs every odd value it meets, and each decoder plugin that fails before
    # another succeeds (with its traceback); calcscan reports problems per file itself, so
    # pydicom is heard only with -vv. A filter, not the logger's level: importing pydicom
    # later resets that level to WARNING.
    pydicom_floor = logging.DEBUG if verbose >= 2 else logging.CRITICAL + 1
    for handler in logging.getLogger().handlers:
        handler.addFilter(lambda r: not r.name.startswith("pydicom") or r.levelno >= pydicom_floor)


def main() -> None:
    cli(prog_name="calcscan")
