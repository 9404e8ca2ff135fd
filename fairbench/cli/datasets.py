"""``fairbench datasets``: list, validate and fetch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fairbench.cli.app import command, datasets_app


@command(datasets_app, "validate")
def validate_cli(
    manifest: Annotated[Path, typer.Argument(help="CSV or Parquet manifest.")],
    root: Annotated[Path | None, typer.Option(help="Data root (default: the manifest's folder).")
                    ] = None,
    attribute: Annotated[list[str] | None, typer.Option(
        "--attribute", "-a", help="Attribute column that must be present (and agree across "
                                  "one person's images).")] = None,
    per_image: Annotated[list[str] | None, typer.Option(
        "--per-image", help="An attribute that may differ between one person's images.")
                         ] = None,
) -> None:
    """Check a manifest without running anything: exit 0 when clean, 2 with every problem."""
    from fairbench.data.checks import check_manifest
    from fairbench.data.manifest import read_manifest

    m = read_manifest(manifest, root)
    check_manifest(m, attribute or [], subject_level=[a for a in attribute or []
                                                      if a not in (per_image or [])])
    typer.echo(f"{manifest}: OK ({len(m)} images, {m.frame['subject_id'].nunique()} subjects)")


@command(datasets_app, "list")
def list_cli() -> None:
    """Dataset cards fairbench knows (shipped and ./datasets), and where their data is."""
    from fairbench.data.card import load_card
    from fairbench.data.paths import card_names, card_path, find_dataset

    for name in card_names():
        where = find_dataset(name)
        if not where:
            card = load_card(name)
            how = "fetch it" if card.downloads else "your own: give dataset.root" \
                if card.adapter == "folders" else "request it, then import it"
            where = f"not present ({how})"
        typer.echo(f"{name}\t{where}\t{card_path(name)}")


@command(datasets_app, "fetch")
def fetch_cli(
    name: Annotated[str, typer.Argument(help="Dataset card name, e.g. london.")],
    dest: Annotated[Path | None, typer.Option(help="Target folder (default: the cache).")
                    ] = None,
) -> None:
    """Download a dataset, verify every file's sha256, and install it atomically."""
    from fairbench.data.fetch import fetch

    typer.echo(fetch(name, dest))


@command(datasets_app, "describe")
def describe_cli(
    dataset: Annotated[str, typer.Argument(help="A dataset card name (e.g. london) or a "
                                                "manifest CSV/Parquet.")],
    root: Annotated[Path | None, typer.Option(help="Data root (default: the card's folder "
                                                   "under FAIRBENCH_DATA_ROOT).")] = None,
    attribute: Annotated[list[str] | None, typer.Option(
        "--attributes", "-a", help="Attributes to break down by (repeatable; default: all "
                                   "the card's or the manifest's).")] = None,
    intersections: Annotated[bool, typer.Option(help="Also every intersection.")] = True,
    option: Annotated[list[str] | None, typer.Option(
        "--option", help="An adapter option KEY=VALUE (YAML value), repeatable.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object for scripts.")
                       ] = False,
) -> None:
    """Per group: people, images, mated and impostor pairs, the smallest FMR and FNMR each
    group can resolve; before anything is embedded."""
    import json

    from fairbench.cli.matchers import parse_params
    from fairbench.pipeline.describe import describe_dataset, render_description

    desc = describe_dataset(dataset, root, attribute, intersections,
                            parse_params(option or []))
    typer.echo(json.dumps(desc, indent=1) if as_json else render_description(desc))


@command(datasets_app, "manifest")
def manifest_cli(
    name: Annotated[str, typer.Argument(help="Dataset card name, e.g. cfd.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Manifest CSV to write.")],
    root: Annotated[Path | None, typer.Option(help="The unpacked distribution (default: "
                                                   "FAIRBENCH_DATA_ROOT/NAME).")] = None,
    option: Annotated[list[str] | None, typer.Option(
        "--option", help="An adapter option KEY=VALUE (YAML value), repeatable.")] = None,
    pairs: Annotated[Path | None, typer.Option(help="Also write the dataset's own pair list "
                                                    "(CSV) here, if it has one.")] = None,
) -> None:
    """Write the manifest a card's adapter builds (values as the dataset spells them),
    without running anything; a bad layout is exit 2 with every problem listed."""
    import pandas as pd

    from fairbench.cli.matchers import parse_params
    from fairbench.data.load import read_distribution
    from fairbench.results.folder import atomic_text

    loaded, card = read_distribution(name, root, parse_params(option or []))
    frame = loaded.manifest.frame
    atomic_text(output, frame.to_csv(index=False, lineterminator="\n"))
    typer.echo(f"{output}: {len(frame):,} images of {frame['subject_id'].nunique():,} people "
               f"({card.name}, adapter {card.adapter})")
    if pairs is not None:
        if loaded.pairs is None:
            raise typer.BadParameter(f"dataset {card.name!r} has no pair list of its own",
                                     param_hint="--pairs")
        p = loaded.pairs
        df = pd.DataFrame({"image_a": p.a, "image_b": p.b})
        if p.mated is not None:
            df["mated"] = p.mated
        atomic_text(pairs, df.to_csv(index=False, lineterminator="\n"))
        typer.echo(f"{pairs}: {len(df):,} pairs from {p.source}")


@command(datasets_app, "import")
def import_cli(
    name: Annotated[str, typer.Argument(help="Dataset card name, e.g. rfw.")],
    source: Annotated[Path, typer.Argument(help="The archive or folder you downloaded.")],
    dest: Annotated[Path | None, typer.Option(help="Target folder (default: "
                                                   "FAIRBENCH_DATA_ROOT/NAME).")] = None,
) -> None:
    """Install a dataset you downloaded by hand: unpack, verify (checksums where the card
    has them; the adapter must read it), and rename into place atomically."""
    from fairbench.data.fetch import import_dataset

    typer.echo(import_dataset(name, source, dest))
