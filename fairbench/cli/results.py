"""Commands that read finished runs: ``check-claims``, ``compare``, ``explain-accuracy``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fairbench.cli.app import app, command


@command(app, "check-claims")
def check_claims_cli(
    run_dir: Annotated[Path, typer.Argument(help="A run folder (1:1 or 1:N).")],
    claims: Annotated[Path, typer.Argument(help="Claims YAML file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
    strict: Annotated[bool, typer.Option(
        help="Exit 1 also when a claim is not testable; a claim naming an attribute or group "
             "the run lacks is an error (exit 2).")] = False,
) -> None:
    """Check claims against a run: exit 1 when one is refuted, 0 otherwise, 2 on bad input."""
    from fairbench.report.claim_report import check_run

    text, failed = check_run(run_dir, claims, as_json=as_json, strict=strict)
    typer.echo(text, nl=False)
    if failed:
        raise typer.Exit(1)


@command(app, "compare")
def compare_cli(
    run_a: Annotated[Path, typer.Argument(help="Run folder A (the baseline).")],
    run_b: Annotated[Path, typer.Argument(help="Run folder B, on the same dataset.")],
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", help="Also write compare.csv, compare.md and compare.html (one "
        "self-contained page: both runs, per group FMR and FNMR side by side with the paired "
        "change and a paired-change figure per attribute, kept in plots/) into this folder.")
                      ] = None,
) -> None:
    """Side by side: each group's FMR and FNMR in both runs and the change, with intervals."""
    from fairbench.report.compare import write_comparison

    typer.echo(write_comparison(run_a, run_b, output), nl=False)


@command(app, "explain-accuracy")
def explain_accuracy_cli(
    run_dir: Annotated[Path, typer.Argument(help="A 1:1 run folder.")],
    condition: Annotated[str, typer.Option(help="Capture condition to read.")] = "clean",
) -> None:
    """Per group FTA, BPCER, FNMR, FMR and transaction rejection behind one accuracy figure."""
    from fairbench.report.explain import explain

    typer.echo(explain(run_dir, condition), nl=False)
