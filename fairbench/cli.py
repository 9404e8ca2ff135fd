"""The ``fairbench`` command: a thin shell that parses arguments and calls plain functions.

Any :class:`~fairbench.errors.FairbenchError` becomes one clear message on stderr and exit
status 2, with no traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from fairbench.errors import FairbenchError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Measure how face-recognition systems treat demographic groups.")
datasets_app = typer.Typer(no_args_is_help=True, help="List, validate and fetch datasets.")
matchers_app = typer.Typer(no_args_is_help=True, help="List installed matchers.")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks that report ratios to a baseline.")
app.add_typer(datasets_app, name="datasets")
app.add_typer(matchers_app, name="matchers")
app.add_typer(bench_app, name="bench")


@app.command("run")
def run_cli(
    config: Annotated[Path, typer.Argument(help="YAML config file.")],
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="Override a config key, e.g. --set matcher.batch_size=32.")] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="Results folder.")] = Path(
        "results"),
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Run a benchmark; prints the run folder's path as the last line."""
    from fairbench.api import run
    from fairbench.config import load_config

    cfg = load_config(config, set_ or [])
    result = run(cfg, output, progress=progress)
    typer.echo(result.run_dir)


@app.command("report")
def report_cli(run_dir: Annotated[Path, typer.Argument(help="A run folder.")]) -> None:
    """Rebuild every table and plot, citations.md and report.html from run.json and
    counts.npz alone."""
    from fairbench.report.rebuild import build_report

    for p in build_report(run_dir):
        typer.echo(p)


@app.command("check-claims")
def check_claims_cli(
    run_dir: Annotated[Path, typer.Argument(help="A run folder.")],
    claims: Annotated[Path, typer.Argument(help="Claims YAML file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
    strict: Annotated[bool, typer.Option(help="Exit 1 also when a claim is not testable.")
                      ] = False,
) -> None:
    """Check claims against a run: exit 1 when one is refuted, 0 otherwise, 2 on bad input."""
    from fairbench.report.claims import check_run

    text, failed = check_run(run_dir, claims, as_json=as_json, strict=strict)
    typer.echo(text, nl=False)
    if failed:  # sys.exit, not typer.Exit: main() runs click with standalone_mode=False
        sys.exit(1)


@app.command("compare")
def compare_cli(
    run_a: Annotated[Path, typer.Argument(help="Run folder A (the baseline).")],
    run_b: Annotated[Path, typer.Argument(help="Run folder B, on the same dataset.")],
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", help="Also write compare.csv and compare.md into this folder.")
                      ] = None,
) -> None:
    """Side by side: each group's FMR and FNMR in both runs and the change, with intervals."""
    from fairbench.report.compare import write_comparison

    typer.echo(write_comparison(run_a, run_b, output), nl=False)


@app.command("explain-accuracy")
def explain_accuracy_cli(
    run_dir: Annotated[Path, typer.Argument(help="A 1:1 run folder.")],
    condition: Annotated[str, typer.Option(help="Capture condition to read.")] = "clean",
) -> None:
    """Per group FTA, BPCER, FNMR, FMR and transaction rejection behind one accuracy figure."""
    from fairbench.report.explain import explain

    typer.echo(explain(run_dir, condition), nl=False)


@datasets_app.command("validate")
def validate_cli(
    manifest: Annotated[Path, typer.Argument(help="CSV or Parquet manifest.")],
    root: Annotated[Path | None, typer.Option(help="Data root (default: the manifest's folder).")
                    ] = None,
    attribute: Annotated[list[str] | None, typer.Option(
        "--attribute", "-a", help="Attribute column that must be present.")] = None,
) -> None:
    """Check a manifest without running anything: exit 0 when clean, 2 with every problem."""
    from fairbench.data.manifest import check_manifest, read_manifest

    m = read_manifest(manifest, root)
    check_manifest(m, attribute or [])
    typer.echo(f"{manifest}: OK ({len(m)} images, {m.frame['subject_id'].nunique()} subjects)")


@datasets_app.command("list")
def list_cli() -> None:
    """Dataset cards fairbench knows, and whether their data is present here."""
    from fairbench.data.paths import cards_dirs, find_dataset

    for d in cards_dirs():
        for card in sorted(d.glob("*.yaml")):
            where = find_dataset(card.stem)
            typer.echo(f"{card.stem}\t{where if where else 'not present (fetch it)'}")


@datasets_app.command("fetch")
def fetch_cli(
    name: Annotated[str, typer.Argument(help="Dataset card name, e.g. london.")],
    dest: Annotated[Path | None, typer.Option(help="Target folder (default: the cache).")
                    ] = None,
) -> None:
    """Download a dataset, verify every file's sha256, and install it atomically."""
    from fairbench.data.fetch import fetch

    typer.echo(fetch(name, dest))


@matchers_app.command("list")
def matchers_list_cli() -> None:
    """Registered matcher names (built-ins and plugins, one path for both)."""
    from fairbench.registry import matchers

    for n in matchers.names():
        typer.echo(n)


@bench_app.command("allpairs")
def bench_allpairs_cli(
    n: Annotated[int, typer.Option("--n", help="Templates (simulated, 2 per person).")] = 20_000,
    dim: Annotated[int, typer.Option("--dim", help="Embedding size.")] = 512,
    groups: Annotated[int, typer.Option("--groups", help="Demographic groups.")] = 12,
    naive_n: Annotated[int, typer.Option(help="Size for the materialise-everything peer.")
                       ] = 10_000,
    replicates: Annotated[int, typer.Option(help="Bootstrap replicates.")] = 1000,
    target_fmr: Annotated[list[float] | None, typer.Option(
        "--target-fmr", help="Operating points (default 1e-3 and 1e-4).")] = None,
    block: Annotated[int, typer.Option(help="Tile size.")] = 1024,
    threads: Annotated[int | None, typer.Option(help="Worker threads (default: cores).")
                       ] = None,
    float16: Annotated[bool, typer.Option(help="Also compare float16 storage.")] = True,
) -> None:
    """Streaming 1:1 kernel vs the matrix-product limit and a naive peer; prints JSON."""
    import json

    from fairbench.bench.allpairs import run_bench

    res = run_bench(n, dim, groups, naive_n, replicates, tuple(target_fmr or (1e-3, 1e-4)),
                    block, threads, float16)
    typer.echo(json.dumps(res))


@bench_app.command("search")
def bench_search_cli(
    gallery: Annotated[int, typer.Option(help="Gallery templates (simulated).")] = 1_000_000,
    probes: Annotated[int, typer.Option(help="Probe templates.")] = 1000,
    dim: Annotated[int, typer.Option(help="Embedding size.")] = 512,
    k: Annotated[int, typer.Option("--k", help="Candidates kept per probe.")] = 20,
    threads: Annotated[int | None, typer.Option(help="Worker threads (default: cores).")
                       ] = None,
    repeats: Annotated[int, typer.Option(help="Alternating timed runs; best kept.")] = 3,
) -> None:
    """Streaming 1:N top-k kernel vs the matrix-product limit (and faiss); prints JSON."""
    import json

    from fairbench.bench.search import run_search_bench

    typer.echo(json.dumps(run_search_bench(gallery, probes, dim, k, threads=threads,
                                           repeats=repeats)))


def main() -> None:
    """Entry point: run the app, turning user errors into exit status 2."""
    try:
        rc = app(standalone_mode=False)  # returns the code of a typer.Exit in this mode
        if isinstance(rc, int) and rc:
            sys.exit(rc)
    except FairbenchError as exc:
        typer.echo(f"error: {exc.render()}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted: nothing was written to the results folder", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # click's usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(2)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(1)
        raise


if __name__ == "__main__":
    main()
