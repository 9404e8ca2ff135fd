"""The London set's adapter (see :mod:`fairbench.data.london`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fairbench.data.adapters import Loaded, unknown_options
from fairbench.data.london import london_manifest


def load(root: Path, card: Any, options: Mapping[str, Any]) -> Loaded:
    unknown_options(options, (), "london")
    return Loaded(london_manifest(root))
