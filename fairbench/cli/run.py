"""``fairbench run`` and ``fairbench report``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fairbench.cli.app import app, command


@command(app, "run")
def run_cli(
    config: Annotated[Path, typer.Argument(help="YAML config file.")],
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="Override a config key, e.g. --set matcher.batch_size=32.")] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="Results folder.")] = Path(
        "results"),
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Run a benchmark (1:1 or 1:N, by the config's mode); prints the run folder's path as
    the last line."""
    from fairbench.api import run

    result = run(config, output, overrides=set_ or [], progress=progress)
    typer.echo(result.run_dir)


@command(app, "report")
def report_cli(run_dir: Annotated[Path, typer.Argument(help="A run folder.")]) -> None:
    """Rebuild every table and plot, citations.md and report.html from the run's stored
    arrays alone (counts.npz for 1:1, search.npz for 1:N)."""
    from fairbench.report.rebuild import build_report

    for p in build_report(run_dir):
        typer.echo(p)
