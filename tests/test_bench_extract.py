"""`fairbench bench extract` runs end to end at a tiny size and reports consistent figures.

(No timing is asserted: the benchmark measures speed itself, as a ratio.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fairbench.bench.extract import run_extract_bench
from fairbench.extraction import cores

KEYS = {"matcher", "params", "images", "batch_size", "cores", "cpu_count", "mode", "workers",
        "threads_per_worker", "images_per_s", "sequential_images_per_s", "speedup", "faces",
        "faces_per_s", "sequential_faces_per_s", "seconds", "sequential_seconds",
        "identical", "cache"}
REPO = Path(__file__).resolve().parents[1]


def consistent(res: dict, images: int) -> None:
    assert set(res) >= KEYS
    assert res["images"] == images and res["identical"] is True and res["cache"] is False
    assert res["cores"] == cores() and res["workers"] >= 1
    assert res["images_per_s"] == pytest.approx(images / res["seconds"])
    assert res["sequential_images_per_s"] == pytest.approx(images / res["sequential_seconds"])
    assert res["speedup"] == pytest.approx(res["images_per_s"] / res["sequential_images_per_s"])
    assert 0 < res["faces"] <= images
    assert res["faces_per_s"] == pytest.approx(res["faces"] / res["seconds"])


def test_bench_extract_onnx_threads(london_root, models_dir, monkeypatch):
    monkeypatch.setenv("FAIRBENCH_DATA_ROOT", str(london_root.parent))
    params = {"model": str(models_dir / "mobileface.onnx"),
              "input": {"name": "data:0", "size": 112}, "output": "batchnorm0/add_1:0",
              "detector": {"model": str(models_dir / "yunet_s_640_640.onnx")}}
    res = run_extract_bench("onnx", images=6, params=params, workers=2, batch_size=2)
    consistent(res, 6)
    assert (res["mode"], res["workers"], res["threads_per_worker"]) == ("threads", 1, 2)
    assert res["params"] == params


def test_bench_extract_cli_dlib_processes(london_root):
    env = {**os.environ, "FAIRBENCH_DATA_ROOT": str(london_root.parent)}
    r = subprocess.run([sys.executable, "-m", "fairbench.cli", "bench", "extract", "--matcher",
                        "dlib", "--images", "6", "--batch-size", "2", "--workers", "2",
                        "--params", "padding=0.25"], cwd=REPO, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    consistent(res, 6)
    assert (res["mode"], res["workers"], res["matcher"]) == ("processes", 2, "dlib")
    assert res["params"] == {"padding": 0.25}
