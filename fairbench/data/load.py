"""Turn a dataset config into a validated :class:`Dataset` (manifest + card + attributes)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fairbench.config import DatasetConfig
from fairbench.data.binning import age_band
from fairbench.data.card import DatasetCard, load_card
from fairbench.data.london import london_manifest
from fairbench.data.manifest import Manifest, check_manifest, read_manifest
from fairbench.data.paths import dataset_candidates, find_dataset
from fairbench.errors import DataError
from fairbench.simulate import simulate

#: Derived attribute -> (source column, how it is derived).
DERIVED = {"age_band": "age"}


@dataclass
class Dataset:
    """A validated set of images with the attributes to break results down by."""

    name: str
    manifest: Manifest
    card: DatasetCard | None
    attributes: list[str]
    label_sources: dict[str, str]


def data_folder(name: str) -> Path:
    """The local folder of a named dataset, or a clear error saying how to get it."""
    folder = find_dataset(name)
    if folder is None:
        tried = ", ".join(str(p) for p in dataset_candidates(name))
        raise DataError(
            f"dataset {name!r} not found (looked in {tried}). Run `fairbench datasets fetch "
            f"{name}`, or set FAIRBENCH_DATA_ROOT to the folder that holds {name}/."
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


def load_dataset(cfg: DatasetConfig, require_files: bool = True) -> Dataset:
    """Load the manifest (card adapter or generic file), derive bands, validate everything."""
    card: DatasetCard | None = None
    if cfg.name is not None:
        card = load_card(cfg.name)
        root = Path(cfg.root) if cfg.root else data_folder(card.name)
        if card.adapter == "london":
            manifest = london_manifest(root)
        else:
            if not card.manifest:
                raise DataError(f"dataset card {card.name!r}: adapter 'manifest' needs `manifest`")
            manifest = read_manifest(root / card.manifest, root)
        name = card.name
    else:
        assert cfg.manifest is not None
        manifest = read_manifest(cfg.manifest, cfg.root)
        name = Path(cfg.manifest).stem

    frame = manifest.frame
    label_sources: dict[str, str] = {}
    vocab: dict[str, list[str] | None] = {}
    base_attrs = []
    for a in cfg.attributes:
        src = DERIVED.get(a)
        if src is not None and a not in frame.columns:
            base_attrs.append(src)
        else:
            base_attrs.append(a)
    if card is not None:
        for a, spec in card.attributes.items():
            vocab[a] = spec.vocabulary
    check_manifest(manifest, base_attrs, vocab, require_files=require_files)

    for a in cfg.attributes:
        src = DERIVED.get(a)
        if src is not None and a not in frame.columns:
            frame[a] = age_band(frame[src], cfg.age_bands)
            origin = card.label_source(src) if card else "unspecified"
            label_sources[a] = f"{origin} (banded from {src})"
        else:
            label_sources[a] = card.label_source(a) if card else "unspecified"
            frame[a] = frame[a].replace({"": "unknown", "NA": "unknown", "nan": "unknown"})
    if not cfg.attributes:
        raise DataError("dataset.attributes is empty: name at least one column to break down by")
    return Dataset(name, manifest, card, list(cfg.attributes), label_sources)
