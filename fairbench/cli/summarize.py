"""``fairbench summarize``: NIST and ISO summary figures from someone else's rates table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fairbench.cli.app import app, command


@command(app, "summarize")
def summarize_cli(
    rates: Annotated[Path, typer.Argument(
        help="CSV with 'group' and 'fmr' and/or 'fnmr' per row (fractions, or percentages "
             "written with %); optional 'attribute', 'operating_point', and 'n_nonmated'/"
             "'fmr_errors', 'n_mated'/'fnmr_errors' for each group's interval.")],
    alpha: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="FMR weight in FDR and GARBE (ISO/IEC 19795-10).")] = 0.5,
    reference: Annotated[list[str] | None, typer.Option(
        "--reference", help="Also give each group's ratio to this group (repeatable: one per "
                            "attribute). Ratios to the lowest-rate group are always given.")
                         ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object for scripts.")
                       ] = False,
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", help="Also write every value as CSV to this file (atomically).")
                      ] = None,
) -> None:
    """Max/GeoMean, largest difference, Gini, FDR and GARBE, and each group's ratios, from a
    published table of per-group FMR and FNMR (a NIST FRTE annex, a vendor report)."""
    from fairbench.pipeline.summarize import markdown, summarize, to_json, write_csv

    summary = summarize(rates, alpha, reference or [])
    if output is not None:
        write_csv(summary, output)
    typer.echo(to_json(summary) if as_json else markdown(summary), nl=False)
