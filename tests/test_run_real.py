"""Real models on real faces (london16), with the inputs that go wrong in practice."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from fairbench.api import run
from fairbench.config import load_config_dict


@pytest.fixture()
def messy_manifest(london16_manifest: Path, london16: Path, tmp_path: Path) -> Path:
    """london16 plus a corrupt JPEG and a face-less image, both as extra images of 001."""
    data = tmp_path / "data"
    shutil.copytree(london16, data)
    (data / "corrupt.jpg").write_bytes((london16 / "001_neutral.jpg").read_bytes()[:300])
    cv2.imwrite(str(data / "grey.jpg"), np.full((320, 320, 3), 128, np.uint8))
    df = pd.read_csv(london16_manifest, dtype=str)
    extra = df.iloc[[0, 0]].copy()
    extra["image_id"] = ["001_corrupt", "001_grey"]
    extra["path"] = ["corrupt.jpg", "grey.jpg"]
    out = data / "manifest.csv"
    pd.concat([df, extra]).to_csv(out, index=False)
    return out


def config(manifest: Path, **verification):
    return load_config_dict({
        "dataset": {"manifest": str(manifest), "attributes": ["eth", "sex"]},
        "matcher": {"name": "dlib"},
        "verification": {"target_fmr": [0.1, 0.01], "fixed_thresholds": [0.6],
                         "bootstrap": {"replicates": 100}, **verification},
    })


def test_dlib_run_records_failures_and_counts_them_as_non_matches(messy_manifest, tmp_path):
    res = run(config(messy_manifest), tmp_path / "out", progress=False)
    images = pd.read_csv(res.run_dir / "images.csv").set_index("image_id")
    assert images.loc["001_corrupt", "failure_reason"] == "unreadable_image"
    assert images.loc["001_grey", "failure_reason"] == "no_face"
    assert images["acquired"].sum() == 32
    t = pd.read_csv(res.run_dir / "tables" / "verification_by_group.csv")
    allrow = t[(t.attribute == "all") & (t.threshold_kind == "fixed")].iloc[0]
    # subject 001 has 4 images: 6 mated pairs, 5 of them involve a failed template
    assert allrow.n_mated == 16 + 5
    assert allrow.fnmr_errors >= 5
    assert allrow.fta_errors == 2
    assert res.record["capture"]["failure_reasons"] == {"unreadable_image": 1, "no_face": 1}
    # a second run reuses every template
    again = run(config(messy_manifest), tmp_path / "out2", progress=False)
    assert again.record["capture"]["cache_hits"] == 34


def test_missing_image_file_stops_before_any_work(messy_manifest, tmp_path):
    df = pd.read_csv(messy_manifest, dtype=str)
    df.loc[3, "path"] = "gone.jpg"
    df.loc[4, "path"] = "../../outside.jpg"
    bad = messy_manifest.with_name("bad.csv")
    df.to_csv(bad, index=False)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"dataset: {{manifest: {bad}, attributes: [eth]}}\n")
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "fairbench.cli", "run", str(cfg), "-o", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "row 5" in r.stderr and "gone.jpg" in r.stderr
    assert "row 6" in r.stderr and "escapes the data root" in r.stderr
    assert not out.exists()


@pytest.mark.parametrize("name", ["london-faceres.yaml", "london-mobileface.yaml"])
def test_onnx_configs_run_on_london16(name, london16, london16_manifest, models_dir, tmp_path):
    import yaml

    repo = Path(__file__).resolve().parents[1]
    cfg = yaml.safe_load((repo / "configs" / name).read_text())
    p = cfg["matcher"]["params"]
    p["model"] = str(models_dir / Path(p["model"]).name)
    p["detector"]["model"] = str(models_dir / Path(p["detector"]["model"]).name)
    cfg["dataset"] = {"manifest": str(london16_manifest), "root": str(london16),
                      "attributes": ["eth"]}
    cfg["verification"]["target_fmr"] = [0.1]
    cfg["verification"]["bootstrap"] = {"replicates": 50}
    res = run(load_config_dict(cfg), tmp_path / "out", progress=False)
    assert res.record["capture"]["n_acquired"] == 32
    assert res.record["matcher"]["providers"] == ["CPUExecutionProvider"]
    t = res.tables["verification_by_group"]
    allrow = t[t.attribute == "all"].iloc[0]
    assert allrow.n_mated == 16 and allrow.n_nonmated == 480
