"""Turn a dataset config into a validated :class:`Dataset` (manifest + card + attributes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fairbench.config import DatasetConfig
from fairbench.config.sections import Grouping
from fairbench.core.bands import bands_of
from fairbench.core.codes import TooManyPairs, check_mated
from fairbench.core.missing import UNKNOWN, as_labels
from fairbench.data.adapters import Loaded, PairList, adapter
from fairbench.data.card import DatasetCard, load_card
from fairbench.data.checks import check_manifest
from fairbench.data.manifest import Manifest, read_manifest
from fairbench.data.paths import card_path, dataset_candidates, find_dataset
from fairbench.data.simulate import simulate
from fairbench.errors import DataError

#: Derived attribute -> the numeric column it bands (per image; pairs take their mean).
DERIVED = {"age_band": "age"}


@dataclass
class Dataset:
    """A validated set of images with the attributes to break results down by.

    ``banded`` names the attributes whose pair label comes from the mean of the pair's two
    values: attribute -> (numeric source column, band edges).
    """

    name: str
    manifest: Manifest
    card: DatasetCard | None
    attributes: list[str]
    label_sources: dict[str, str]
    banded: dict[str, tuple[str, list[float]]] = field(default_factory=dict)
    card_file: Path | None = None
    notes: list[str] = field(default_factory=list)  # what loading changed (samples)
    pairs: PairList | None = None  # the dataset's own comparison protocol, if it has one

    @property
    def consent_warning(self) -> str:
        return self.card.consent_warning() if self.card else ""


def data_folder(name: str, card: DatasetCard | None = None) -> Path:
    """The local folder of a named dataset, or a clear error saying how to get it."""
    folder = find_dataset(name)
    if folder is None:
        tried = ", ".join(str(p) for p in dataset_candidates(name))
        get = f"Run `fairbench datasets fetch {name}`" if card is None or card.downloads \
            else f"{card.access or 'Request it from its publisher'} Then `fairbench " \
                 f"datasets import {name} <what you downloaded>`"
        raise DataError(
            f"dataset {name!r} not found (looked in {tried}). {get}, or set "
            f"FAIRBENCH_DATA_ROOT to the folder that holds {name}/."
        )
    return folder


def simulated_dataset(cfg: DatasetConfig) -> tuple[Dataset, np.ndarray]:
    """A simulated dataset (labelled simulated everywhere) and its embeddings."""
    assert cfg.simulate is not None
    frame, emb = simulate(cfg.simulate)
    attrs = list(cfg.attributes)
    unknown = [a for a in attrs if a not in frame.columns or a in ("image_id", "path")]
    if unknown:
        raise DataError(f"simulated data has only the attribute 'group', not {unknown}")
    manifest = Manifest(frame, None, "simulated: " + cfg.simulate.model_dump_json())
    return Dataset("simulated", manifest, None, attrs, {a: "simulated" for a in attrs}), emb


def _manifest(cfg: DatasetConfig, subjects: bool = False
              ) -> tuple[str, Loaded, DatasetCard | None, Path | None]:
    if cfg.name is None:
        assert cfg.manifest is not None
        if cfg.options:
            raise DataError("dataset.options: options belong to a dataset card's adapter; "
                            "a manifest has none")
        return (Path(cfg.manifest).stem, Loaded(read_manifest(cfg.manifest, cfg.root,
                                                              subjects)), None, None)
    path = card_path(cfg.name)
    card = load_card(path)
    root = Path(cfg.root) if cfg.root else data_folder(card.name, card)
    if not root.is_dir():
        raise DataError(f"dataset {card.name!r}: {root} is not a folder"
                        + (f". {card.access}" if card.access else ""))
    loaded = adapter(card.adapter)(root, card, {**card.options, **cfg.options})
    return card.name, loaded, card, path


def derive_attributes(frame: pd.DataFrame, attributes: Sequence[str], edges: Sequence[float],
                      card: DatasetCard | None, declared: Mapping[str, str] | None = None,
                      groupings: Mapping[str, Grouping] | None = None
                      ) -> tuple[dict[str, str], dict[str, tuple]]:
    """Band derived attributes, group mapped ones, normalise missing values, in place.

    Returns each attribute's label source (the card's, else what the layout declares) and
    the pair-banded attributes.
    """
    declared = declared or {}
    groupings = groupings or {}
    sources: dict[str, str] = {}
    banded: dict[str, tuple[str, list[float]]] = {}
    for a in attributes:
        if a in groupings:
            g = groupings[a]
            if g.source not in frame.columns:
                raise DataError(f"dataset.groupings.{a}.source: no attribute {g.source!r} "
                                f"(the manifest has {', '.join(map(str, frame.columns))})")
            raw = as_labels(frame[g.source].astype(str))
            frame[a] = [v if v == UNKNOWN else g.map.get(v, g.default or "other")
                        for v in raw]
            origin = declared.get(g.source) or (card.label_source(g.source) if card else
                                                "unspecified")
            sources[a] = f"{origin} (grouped from {g.source})"
            continue
        src = DERIVED.get(a)
        if src is not None and a not in frame.columns:
            frame[a] = bands_of(pd.to_numeric(frame[src], errors="coerce").to_numpy(), edges)
            origin = card.label_source(src) if card else "unspecified"
            sources[a] = f"{origin} (banded from {src})"
            banded[a] = (src, list(edges))
        else:
            spec = card.attributes.get(a) if card else None
            known = card.label_source(a) if card else "unspecified"
            sources[a] = declared.get(a, known)
            frame[a] = as_labels(frame[a], spec.missing if spec else ())
    return sources, banded


def sample_per_subject(m: Manifest, cap: int, seed: int) -> list[str]:
    """Keep at most ``cap`` images of each subject (a seeded sample, manifest order kept);
    returns a note for every subject cut."""
    f = m.frame
    rng = np.random.default_rng(seed)
    keep = np.ones(len(f), dtype=bool)
    notes = []
    for sid, rows in f.groupby("subject_id", sort=True).indices.items():
        if len(rows) > cap:
            drop = rng.permutation(rows)[cap:]
            keep[drop] = False
            notes.append(f"subject {sid!r}: {cap} of {len(rows):,} images kept (seeded sample, "
                         f"seed {seed}; dataset.max_images_per_subject)")
    m.frame = f[keep].reset_index(drop=True)
    return notes


def load_dataset(cfg: DatasetConfig, require_files: bool = True,
                 subjects: bool = False) -> Dataset:
    """Load the manifest (card adapter or generic file), derive bands, validate everything.

    ``subjects``: a generic manifest may be a subjects table (for score files)."""
    name, loaded, card, path = _manifest(cfg, subjects)
    manifest = loaded.manifest
    if not cfg.attributes:
        raise DataError("dataset.attributes is empty: name at least one column to break down by")
    grouped = set(cfg.groupings) | set(card.groupings if card else {})
    base = [DERIVED.get(a, a) if a not in manifest.frame.columns else a
            for a in cfg.attributes if a not in grouped]
    vocab = {a: s.vocabulary for a, s in card.attributes.items()} if card else {}
    missing = {a: s.missing for a, s in card.attributes.items()} if card else {}
    per_image = set(cfg.per_image) | {a for a, s in (card.attributes.items() if card else ())
                                      if s.level == "image"} | set(DERIVED.values())
    notes = sample_per_subject(manifest, cfg.max_images_per_subject, cfg.sample_seed) \
        if cfg.max_images_per_subject else []
    codes, subjects = pd.factorize(manifest.frame["subject_id"].astype(str), sort=True)
    try:
        check_mated(codes, [str(x) for x in subjects])
    except TooManyPairs as exc:
        raise DataError(f"{manifest.source}: {exc}") from None
    check_manifest(manifest, base, vocabularies=vocab, require_files=require_files,
                   missing=missing, subject_level=[a for a in base if a not in per_image])
    groups = {k: Grouping.model_validate(v) for k, v in (card.groupings if card else {}).items()}
    groups.update(cfg.groupings)
    sources, banded = derive_attributes(manifest.frame, cfg.attributes, cfg.age_bands, card,
                                        loaded.label_sources, groups)
    return Dataset(name, manifest, card, list(cfg.attributes), sources, banded, path,
                   [*loaded.notes, *notes], loaded.pairs)


def read_distribution(name: str, root: Path | None = None,
                      options: Mapping[str, object] | None = None) -> tuple[Loaded, DatasetCard]:
    """What a card's adapter reads from its distribution, as the dataset spells it (no
    attribute normalised, nothing embedded): for ``fairbench datasets manifest``."""
    cfg = DatasetConfig(name=name, root=root, options=dict(options or {}))
    _, loaded, card, _ = _manifest(cfg)
    assert card is not None
    return loaded, card
