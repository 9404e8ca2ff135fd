"""A card whose data is a generic manifest inside the data folder (``card.manifest``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fairbench.data.adapters import Loaded, unknown_options
from fairbench.data.manifest import read_manifest
from fairbench.errors import DataError


def load(root: Path, card: Any, options: Mapping[str, Any]) -> Loaded:
    unknown_options(options, (), "manifest")
    if not card.manifest:
        raise DataError(f"dataset card {card.name!r}: adapter 'manifest' needs `manifest`")
    return Loaded(read_manifest(root / card.manifest, root))
