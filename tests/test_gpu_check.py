"""benchmarks/gpu_check.py runs in CI on NumPy (--device cpu --small), so the script a GPU
machine runs never rots: every section runs, and the exactness checks pass bit for bit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import need, shared_root

REPO = Path(__file__).resolve().parents[1]


def test_gpu_check_small_on_the_cpu_passes_every_section():
    models = need(shared_root() / "models" / "faceres.onnx", "faceres model").parent
    r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--device",
                        "cpu", "--small", "--models", str(models)], capture_output=True,
                       text=True, timeout=300, cwd=REPO,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for name in ("environment", "exactness", "allpairs", "search", "extraction"):
        assert "error" not in out[name], (name, out[name])
    assert out["passed"] is True and out["kernel_device"] == "numpy"
    ex = out["exactness"]
    assert ex["passed"] and ex["reduced_precision_passed"]
    runs = {(a["kind"], a["precision"]): a for a in ex["allpairs"]}
    assert len(runs) == 6
    for (_, precision), a in runs.items():
        assert a["fold_exact"] and a["cpu_fold_exact"] and a["kept_pairs"] > 0
        assert a["pairs_with_other_score"] == 0 and a["pairs_with_other_bin"] == 0
        if precision == "float32":  # the numpy device kernel is the CPU kernel, bit for bit
            assert a["hist_l1_vs_float32_cpu_kernel"] == 0
        else:  # rounded inputs move some bins (reported, not hidden)
            assert a["hist_l1_vs_float32_cpu_kernel"] > 0
    assert ex["search"]["bit_identical"] and ex["search"]["identical_lists"] == 40
    full = out["allpairs"]["full"]
    assert full["pairs"] == 6000 * 5999 // 2 and full["float32"]["counted"]
    assert full["float32"]["kernel_s"] > 0 and full["float32"]["kept_pairs"] > 0
    assert out["search"]["full"]["filled"] and out["search"]["full"]["gallery"] == 20_000
    ext = out["extraction"]
    assert ext["providers_used"] == ["CPUExecutionProvider"] and ext["faces_per_s"] > 0
    assert out["environment"]["array_module"] == "numpy"
