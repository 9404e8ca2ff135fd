"""The layer contract holds, fails on a new breach, and a stored run loads without numba."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.generated import generated
from tests.report.conftest import STORED_RUN

REPO = Path(__file__).resolve().parents[1]


def lint(root: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` on the package found first on PYTHONPATH=root, with root's config."""
    code = ("import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True))")
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([sys.executable, "-c", code], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_contracts_hold():
    r = lint(REPO)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout


def test_a_forbidden_import_breaks_the_contract(tmp_path):
    """A metrics module importing the data layer (the kind of breach the review found) is
    reported, naming the import."""
    shutil.copytree(REPO / "fairbench", tmp_path / "fairbench",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    (tmp_path / "fairbench" / "metrics" / "breach.py").write_text(
        "from fairbench.data.load import load_dataset  # noqa: F401\n")
    r = lint(tmp_path)
    assert r.returncode != 0
    assert "BROKEN" in r.stdout and "fairbench.metrics.breach -> fairbench.data.load" in r.stdout


def run_python(code: str) -> str:
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300, cwd=REPO)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_loading_a_stored_run_does_not_import_numba(tmp_path):
    import fairbench

    frame, emb = generated("cosine", n_subjects=30, seed=1)
    run = fairbench.evaluate(emb, frame[["image_id", "subject_id", "grp"]],
                             target_fmr=[0.1], bootstrap=20, output_dir=tmp_path)
    for folder in (run.run_dir, STORED_RUN):
        out = run_python(
            "import sys, fairbench\n"
            f"r = fairbench.load({str(folder)!r})\n"
            "f = r.frame('fmr', r.attributes[1])\n"
            "f.ratio(); f.difference(); r.tables; r._repr_html_(); f._repr_html_()\n"
            "print('numba' in sys.modules, 'cv2' in sys.modules, 'onnxruntime' in sys.modules)")
        assert out == "False False False", folder
    assert np.isfinite(run.frame("fmr", "grp").ratio()["ci_low"]).any()


def test_importing_fairbench_is_light():
    out = run_python("import sys, fairbench\n"
                     "print(sorted(m for m in ('numba', 'cv2', 'onnxruntime', 'dlib', "
                     "'matplotlib', 'insightface') if m in sys.modules))")
    assert out == "[]"
