"""``fairbench bench``: benchmarks that measure a baseline in the same run and report
ratios (never timed tests)."""

from __future__ import annotations

from typing import Annotated

import typer

from fairbench.cli.app import bench_app, command


def _rates(v: list[float] | None) -> list[float] | None:
    """--target-fmr values: rates strictly between 0 and 1 (usage error otherwise)."""
    for x in v or []:
        if not 0 < x < 1:
            raise typer.BadParameter(f"{x} is not a rate strictly between 0 and 1")
    return v


@command(bench_app, "allpairs")
def bench_allpairs_cli(
    n: Annotated[int, typer.Option("--n", min=4, help="Templates (simulated, 2 per person).")
                 ] = 20_000,
    dim: Annotated[int, typer.Option("--dim", min=1, help="Embedding size.")] = 512,
    groups: Annotated[int, typer.Option("--groups", min=1, help="Demographic groups.")] = 12,
    naive_n: Annotated[int, typer.Option(min=4, help="Size for the materialise-everything peer.")
                       ] = 10_000,
    replicates: Annotated[int, typer.Option(min=0, help="Bootstrap replicates.")] = 1000,
    target_fmr: Annotated[list[float] | None, typer.Option(
        "--target-fmr", help="Operating points (default 1e-3 and 1e-4).", callback=_rates)
    ] = None,
    block: Annotated[int, typer.Option(min=16, help="Tile size.")] = 1024,
    threads: Annotated[int | None, typer.Option(min=1, help="Worker threads (default: cores).")
                       ] = None,
    float16: Annotated[bool, typer.Option(help="Also compare float16 storage.")] = True,
) -> None:
    """Streaming 1:1 kernel vs the matrix-product limit and a naive peer; prints JSON."""
    import json

    from fairbench.bench.allpairs import run_bench

    res = run_bench(n, dim, groups, naive_n, replicates, tuple(target_fmr or (1e-3, 1e-4)),
                    block, threads, float16)
    typer.echo(json.dumps(res))


@command(bench_app, "tail")
def bench_tail_cli(
    n: Annotated[int, typer.Option("--n", min=4, help="Templates (simulated).")] = 100_000,
    images_per_person: Annotated[int, typer.Option(min=1, help="Images per person.")] = 10,
    dim: Annotated[int, typer.Option("--dim", min=1, help="Embedding size.")] = 128,
    groups: Annotated[int, typer.Option("--groups", min=1, help="Demographic groups.")] = 12,
    target_fmr: Annotated[list[float] | None, typer.Option(
        "--target-fmr", help="Operating points (default 1e-3 and 1e-4).", callback=_rates)
    ] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="Worker threads (default: cores).")
                       ] = None,
) -> None:
    """Tail memory: verification.tail people vs pairs on the same templates; prints JSON
    (records, bytes, peak memory and time of each, their ratios, tables identical)."""
    import json

    from fairbench.bench.tail import run_tail_bench

    typer.echo(json.dumps(run_tail_bench(n, images_per_person, dim, groups,
                                         tuple(target_fmr or (1e-3, 1e-4)), threads)))


@command(bench_app, "search")
def bench_search_cli(
    gallery: Annotated[int, typer.Option(min=1, help="Gallery templates (simulated).")] = 1_000_000,
    probes: Annotated[int, typer.Option(min=1, help="Probe templates.")] = 1000,
    dim: Annotated[int, typer.Option(min=1, help="Embedding size.")] = 512,
    k: Annotated[int, typer.Option("--k", min=1, help="Candidates kept per probe.")] = 20,
    threads: Annotated[int | None, typer.Option(min=1, help="Worker threads (default: cores).")
                       ] = None,
    repeats: Annotated[int, typer.Option(min=1, help="Alternating timed runs; best kept.")] = 3,
) -> None:
    """Streaming 1:N top-k kernel vs the matrix-product limit (and faiss); prints JSON."""
    import json

    from fairbench.bench.search import run_search_bench

    typer.echo(json.dumps(run_search_bench(gallery, probes, dim, k, threads=threads,
                                           repeats=repeats)))


@command(bench_app, "extract")
def bench_extract_cli(
    matcher: Annotated[str, typer.Option(help="Matcher name (registry).")] = "dlib",
    images: Annotated[int, typer.Option(min=1, help="Images (the London set's 204, cycled).")
                      ] = 204,
    params: Annotated[list[str] | None, typer.Option(
        "--params", "-p", help="Matcher params, repeatable: key=value, an inline YAML mapping "
        "or a YAML file (a run config contributes its matcher.params).")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="matcher.workers of the parallel "
                                                "run (default: every core).")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per batch.")] = 16,
) -> None:
    """Template extraction on every core vs one worker, same images, same run, cache off;
    prints JSON (images_per_s, sequential_images_per_s, speedup, faces_per_s, ...)."""
    import json

    from fairbench.bench.extract import run_extract_bench
    from fairbench.cli.matchers import parse_params

    typer.echo(json.dumps(run_extract_bench(matcher, images, parse_params(params or []),
                                            workers, batch_size)))


@command(bench_app, "scores")
def bench_scores_cli(
    rows: Annotated[int, typer.Option(min=1, help="Comparisons in the simulated bob4 file.")
                    ] = 10_000_000,
    subjects: Annotated[int, typer.Option(min=2, help="People (each one model; rows / subjects^2 "
                                                "probe samples each).")] = 2000,
    replicates: Annotated[int, typer.Option(min=0, help="Bootstrap replicates of the tables.")
                          ] = 200,
    folder: Annotated[str | None, typer.Option(help="Keep (and reuse) the file here.")
                      ] = None,
) -> None:
    """The score-file engine vs one plain PyArrow pass over the same file; prints JSON."""
    import json
    from pathlib import Path

    from fairbench.bench.scores import run_scores_bench

    typer.echo(json.dumps(run_scores_bench(rows, subjects, replicates,
                                           Path(folder) if folder else None)))


@command(bench_app, "coverage")
def bench_coverage_cli(
    replicates: Annotated[int, typer.Option(min=2, help="Simulated datasets per heterogeneity "
                                                 "level.")] = 1000,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the simulation and the bootstraps.")
                    ] = 0,
    boot: Annotated[int, typer.Option(min=0, help="Bootstrap replicates inside each dataset.")
                    ] = 200,
    quick: Annotated[bool, typer.Option("--quick", help="50 datasets per level and 100 "
                                        "bootstrap replicates: a smoke run (seconds).")
                     ] = False,
) -> None:
    """Coverage of each 95 % interval method on simulated data with known FMR and FNMR
    and planted subject heterogeneity; prints JSON (last line), with the default the
    rule picks."""
    import json

    from fairbench.bench.coverage import run_coverage

    if quick:
        replicates, boot = min(replicates, 50), min(boot, 100)
    typer.echo(json.dumps(run_coverage(replicates=replicates, seed=seed, boot=boot)))
