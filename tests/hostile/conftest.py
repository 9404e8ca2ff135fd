"""Fixtures for the hostile-input catalogue: a small clean study to break in many ways."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.generated import generated


@pytest.fixture()
def study(tmp_path):
    """A precomputed-embeddings study that runs cleanly: manifest, embeddings, config."""
    d = tmp_path / "study"
    d.mkdir()
    frame, emb = generated("cosine", n_subjects=40, seed=8)
    frame = frame.drop(columns="path")
    frame.to_csv(d / "m.csv", index=False)
    np.savez(d / "e.npz", image_ids=frame["image_id"].to_numpy(dtype=str), embeddings=emb)
    (d / "c.yaml").write_text(
        "dataset: {manifest: m.csv, attributes: [grp, sex]}\n"
        "matcher: {name: precomputed, params: {path: e.npz}}\n"
        "verification: {target_fmr: [0.1], bootstrap: {replicates: 10}}\n")
    return d


@pytest.fixture()
def images(london16, tmp_path):
    """Four real faces in a folder with a manifest, for the image cases."""
    d = tmp_path / "images"
    d.mkdir()
    rows = []
    for k, f in enumerate(sorted(p.name for p in london16.glob("*.jpg"))[:4]):
        shutil.copy(london16 / f, d / f)
        rows.append({"image_id": f[:-4], "path": f, "subject_id": f[:3],
                     "eth": "x" if k < 2 else "y"})
    pd.DataFrame(rows).to_csv(d / "m.csv", index=False)
    return d


def onnx_config(models: Path, manifest: str = "m.csv", extra: str = "") -> str:
    return (f"dataset: {{manifest: {manifest}, attributes: [eth]}}\n"
            "matcher:\n  name: onnx\n  params:\n"
            f"    model: {models / 'mobileface.onnx'}\n"
            '    input: {name: "data:0", size: 112}\n    output: "batchnorm0/add_1:0"\n'
            f"    detector: {{model: {models / 'yunet_s_640_640.onnx'}}}\n{extra}"
            "verification: {target_fmr: [0.4], bootstrap: {replicates: 5}}\n"
            "cache: {enabled: false}\n")


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() \
        else []


os.environ.setdefault("FAIRBENCH_DISABLE_PLUGINS", "0")
