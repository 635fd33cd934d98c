"""`calcscan config`: print the default configuration, or the one a run would use."""

from __future__ import annotations

from pathlib import Path

import click
import yaml

from pipeline.config import defaults_yaml, load_config, parse_override


@click.command("config")
@click.option(
    "--defaults", is_flag=True, help="The built-in defaults as commented YAML, with each key's range."
)
@click.option(
    "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), help="YAML config file."
)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key.")
def config(defaults: bool, config_path: Path | None, overrides: tuple[str, ...]) -> None:
    """Show the configuration: defaults < --config FILE < --set KEY=VALUE."""
    if defaults:
        click.echo(defaults_yaml(), nl=False)
        return
    resolved = load_config(config_path, dict(parse_override(o) for o in overrides))
    click.echo(yaml.safe_dump(resolved.as_dict(), sort_keys=False), nl=False)
