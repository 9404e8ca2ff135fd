"""``fairbench run`` and ``fairbench report``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fairbench.cli.app import app, command

if TYPE_CHECKING:
    from fairbench.results.run import Run

QUIET = typer.Option("--quiet", "-q",
                     help="Print no progress bar, summary or time line on stderr (errors still).")


def summarise(run: Run) -> None:
    """The findings table on stderr; a failure there never costs a finished run its output."""
    from rich.console import Console

    from fairbench.report.terminal import print_summary

    console = Console(stderr=True)
    try:
        print_summary(run, console)
    except Exception as exc:  # the run is written; say why there is no summary, go on
        console.print(f"warning: no summary ({type(exc).__name__}: {exc})", markup=False)


def timings(run: Run) -> None:
    """Where the run's time went, one line on stderr (run.json keeps it: timings_s)."""
    from rich.console import Console

    from fairbench.report.terminal import print_timings

    print_timings(run, Console(stderr=True))


@command(app, "run")
def run_cli(
    config: Annotated[Path, typer.Argument(help="YAML config file.")],
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="Override a config key, e.g. --set matcher.batch_size=32.")] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="Results folder.")] = Path(
        "results"),
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    quiet: Annotated[bool, QUIET] = False,
) -> None:
    """Run a benchmark (1:1 or 1:N, by the config's mode); prints a summary of the findings
    and where the time went (load, templates, scoring, metrics, report) on stderr, and the
    run folder's path as the last line of stdout."""
    from fairbench.api import run

    result = run(config, output, overrides=set_ or [], progress=progress and not quiet)
    if not quiet:
        summarise(result)
        timings(result)
    typer.echo(result.run_dir)


@command(app, "report")
def report_cli(run_dir: Annotated[Path, typer.Argument(help="A run folder.")],
               quiet: Annotated[bool, QUIET] = False,
               pdf: Annotated[bool, typer.Option(
                   "--pdf", help="Also print report.html to report.pdf with headless "
                                 "Chromium (found on PATH, or $FAIRBENCH_CHROMIUM).")] = False,
               ) -> None:
    """Rebuild every table and plot, citations.md and report.html from the run's stored
    arrays alone (counts.npz for 1:1, search.npz for 1:N); prints the files written, then
    a summary of the findings on stderr."""
    from fairbench.report.rebuild import build_report
    from fairbench.results.run import Run

    if pdf:
        from fairbench.report.pdf import find_browser

        find_browser()  # before any work: no browser is one clear message, exit 2
    written = build_report(run_dir)
    if pdf:
        from fairbench.report.pdf import print_pdf

        written.append(print_pdf(Path(run_dir) / "report.html"))
    for p in written:
        typer.echo(p)
    if not quiet:
        summarise(Run.load(run_dir))
