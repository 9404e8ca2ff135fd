"""``fairbench datasets describe``: load a dataset (card or manifest) without its images and
say what each group can resolve (the counting is :func:`fairbench.plan.describe.describe`).

Loading is the data layer's and counting the plan's, so the step that joins them lives
with the other run steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fairbench.config import DatasetConfig
from fairbench.data.load import load_dataset
from fairbench.data.paths import card_names
from fairbench.errors import DataError

RESERVED = ("image_id", "path", "subject_id")


def dataset_config(name_or_manifest: str, root: Path | None,
                   attributes: Sequence[str] | None,
                   options: dict[str, Any] | None = None) -> DatasetConfig:
    """A dataset section for a card name or a manifest file, all attributes by default
    (a card that declares none, like ``folders``, has its adapter's columns)."""
    p = Path(name_or_manifest)
    if p.suffix.lower() in (".csv", ".parquet", ".pq") or p.exists():
        if not p.is_file():
            raise DataError(f"{p}: manifest not found")
        if not attributes:
            from fairbench.data.manifest import read_table

            attributes = [c for c in read_table(p).columns if c not in RESERVED]
        if options:
            raise DataError("--option: options belong to a dataset card's adapter, not to a "
                            "manifest file")
        return DatasetConfig(manifest=p, root=root, attributes=list(attributes))
    if name_or_manifest not in card_names():
        import difflib

        close = difflib.get_close_matches(name_or_manifest, card_names(), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise DataError(f"{name_or_manifest!r} is neither a dataset card nor a manifest "
                        f"file (cards: {', '.join(card_names())}).{hint}")
    if not attributes:
        from fairbench.data.card import load_card

        card = load_card(name_or_manifest)
        attributes = [a for a, s in card.attributes.items() if s.kind == "categorical"]
        attributes += list(card.derived_attributes)
        if not attributes:
            from fairbench.data.load import read_distribution

            loaded, _ = read_distribution(name_or_manifest, root, options)
            attributes = [c for c in loaded.manifest.frame.columns if c not in RESERVED]
    return DatasetConfig(name=name_or_manifest, root=root, attributes=list(attributes),
                         options=dict(options or {}))


def describe_dataset(name_or_manifest: str, root: Path | None = None,
                     attributes: Sequence[str] | None = None, intersections: bool = True,
                     options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The description as one JSON-able object: the dataset, its card's limits and groups
    (``options``: the card adapter's, as in ``dataset.options``)."""
    from fairbench.plan.describe import describe

    cfg = dataset_config(name_or_manifest, root, attributes, options)
    ds = load_dataset(cfg, require_files=False)
    table = describe(ds.manifest.frame, ds.attributes, ds.banded, intersections)
    rows = table.astype(object).where(table.notna(), None).to_dict(orient="records")
    card = ds.card
    return {
        "dataset": ds.name, "source": ds.manifest.source,
        "n_images": len(ds.manifest), "n_subjects": int(ds.manifest.frame["subject_id"]
                                                        .nunique()),
        "attributes": ds.attributes, "label_sources": ds.label_sources,
        "consent": card.consent if card else None, "licence": card.licence if card else None,
        "consent_status": card.consent_status if card else "unknown",
        "consent_warning": ds.consent_warning,
        "limits": list(card.limits) if card else [],
        "groups": [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
                   for r in rows],
    }


def _rate(x: float | None) -> str:
    from fairbench.report.cells import pct

    return "n/a" if x is None else pct(x)


def render_description(desc: dict[str, Any]) -> str:
    """The description as a plain-text table (one line per group)."""
    head = (f"{desc['dataset']}: {desc['n_subjects']:,} people, {desc['n_images']:,} images "
            f"({desc['source']})")
    cols = ("attribute", "group", "people", "images", "mated", "impostor", "min FMR",
            "min FNMR", "FMR w/ 30 err", "FNMR w/ 30 err")
    lines = [[str(g["attribute"]), str(g["group"]), f"{g['n_subjects']:,}",
              f"{g['n_images']:,}", f"{g['n_mated_pairs']:,}", f"{g['n_nonmated_pairs']:,}",
              _rate(g["min_resolvable_fmr"]), _rate(g["min_resolvable_fnmr"]),
              _rate(g["fmr_for_30_errors"]), _rate(g["fnmr_for_30_errors"])]
             + (["insufficient data"] if g["insufficient"] else []) for g in desc["groups"]]
    width = [max(len(c), *(len(r[k]) for r in lines)) for k, c in enumerate(cols)]
    out = [head, "", "  ".join(c.ljust(w) for c, w in zip(cols, width))]
    out += ["  ".join(v.ljust(w) for v, w in zip(r, width)) + ("  " + r[-1] if len(r) >
                                                                len(cols) else "")
            for r in lines]
    out += ["", "min FMR / FNMR: the 95% upper bound with no error (3/n, the rule of three): "
            "no smaller rate can be shown. 'w/ 30 err': the rate at which 30 errors are "
            "expected (n/a under 30 comparisons); below it a measured rate is flagged imprecise. "
            "'insufficient data': "
            "fewer than 10 comparisons of a kind."]
    if desc.get("consent_warning"):
        out.insert(1, f"WARNING: this dataset was {desc['consent_warning']}.")
    out += [f"limit: {x}" for x in desc["limits"]]
    return "\n".join(out) + "\n"
