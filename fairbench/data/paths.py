"""Where data, dataset cards and caches live.

Data: ``$FAIRBENCH_DATA_ROOT/<name>/``, else ``~/.cache/fairbench/datasets/<name>/``.
Cards: the ones fairbench ships (package data, ``fairbench/data/cards/``), then the user's
own in ``./datasets/``. A local card may add a dataset, never replace a shipped one: a local
file with a shipped card's name and different content is an error, so a download address or
checksum list can never be swapped silently.
"""

from __future__ import annotations

import os
from pathlib import Path

from fairbench.errors import DataError

SHIPPED_CARDS = Path(__file__).resolve().parent / "cards"


def cache_root() -> Path:
    """fairbench's cache folder (templates, fetched datasets)."""
    env = os.environ.get("FAIRBENCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "fairbench"


def dataset_candidates(name: str) -> list[Path]:
    """Folders searched for dataset ``name``, in order."""
    out = []
    env = os.environ.get("FAIRBENCH_DATA_ROOT")
    if env:
        out.append(Path(env).expanduser() / name)
    out.append(cache_root() / "datasets" / name)
    return out


def find_dataset(name: str) -> Path | None:
    """The first existing data folder for ``name``, or None."""
    for p in dataset_candidates(name):
        if p.is_dir():
            return p
    return None


def local_cards_dir() -> Path:
    return Path.cwd() / "datasets"


def cards_dirs() -> list[Path]:
    """Folders holding dataset cards (``<name>.yaml``): shipped first, then ./datasets."""
    return [SHIPPED_CARDS, local_cards_dir()]


def card_names() -> list[str]:
    """Every card name known here (shipped and local), sorted."""
    return sorted({p.stem for d in cards_dirs() if d.is_dir() for p in d.glob("*.yaml")})


def card_path(name: str) -> Path:
    """The card file for ``name``; a clear error listing the known cards when absent."""
    shipped = SHIPPED_CARDS / f"{name}.yaml"
    local = local_cards_dir() / f"{name}.yaml"
    if shipped.is_file():
        if local.is_file() and local.resolve() != shipped and \
                local.read_bytes() != shipped.read_bytes():
            raise DataError(
                f"{local} has the name of a dataset card fairbench ships ({shipped}) but "
                "different content; a local card never replaces a shipped card's download "
                "address or checksums. Give yours another file name and `name:`.")
        return shipped
    if local.is_file():
        return local
    raise DataError(
        f"no dataset card {name!r} (looked in {', '.join(str(d) for d in cards_dirs())}); "
        f"known cards: {', '.join(card_names()) or 'none'}")
