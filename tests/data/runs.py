"""A dataset run end to end without a face model: random templates for its image ids."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import fairbench


def random_templates(ids: Sequence[str], path: Path, seed: int = 0) -> Path:
    """An embeddings file (.npz) with one random 8-d template per image id."""
    rng = np.random.default_rng(seed)
    np.savez(path, image_ids=np.asarray(ids, dtype=str),
             embeddings=rng.normal(size=(len(ids), 8)).astype(np.float32))
    return path


def run_on_random_templates(dataset: dict[str, Any], ids: Sequence[str], tmp_path: Path
                            ) -> fairbench.Run:
    """A 1:1 run of ``dataset`` (a config section) on random templates, at FMR 0.1."""
    emb = random_templates(ids, tmp_path / "e.npz")
    return fairbench.run({"dataset": dataset,
                          "matcher": {"name": "precomputed", "params": {"path": str(emb)}},
                          "verification": {"target_fmr": [0.1],
                                           "bootstrap": {"replicates": 10}}},
                         tmp_path / "out", progress=False)
