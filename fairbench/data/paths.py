"""Where data and caches live: $FAIRBENCH_DATA_ROOT, else ~/.cache/fairbench."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


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


def cards_dirs() -> list[Path]:
    """Folders holding dataset cards (``<name>.yaml``): ./datasets, then the source tree's."""
    dirs = [Path.cwd() / "datasets", REPO_ROOT / "datasets"]
    seen: list[Path] = []
    for d in dirs:
        if d.resolve() not in seen:
            seen.append(d.resolve())
    return seen
