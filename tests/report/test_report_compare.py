"""fairbench compare: a run against itself changes nothing; a changed model shows the change
with a paired interval; runs on different data are refused (exit 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fairbench.api import run
from fairbench.config import load_config
from fairbench.report.compare import CompareError, compare_runs
from tests.generated import generated
from tests.report.conftest import STORED_RUN


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("cmp")
    frame, emb = generated("euclidean", n_subjects=50, seed=2)
    frame.to_csv(d / "manifest.csv", index=False)
    emb_b = emb + np.random.default_rng(5).integers(-1, 2, emb.shape).astype(np.float32)
    out = []
    for name, e in (("a", emb), ("b", emb_b)):
        np.savez(d / f"{name}.npz", image_ids=frame["image_id"].to_numpy(dtype=str),
                 embeddings=e)
        cfg = d / f"{name}.yaml"
        cfg.write_text(
            f"dataset: {{manifest: {d / 'manifest.csv'}, attributes: [grp, sex]}}\n"
            f"matcher: {{name: precomputed, params: {{path: {d / name}.npz, "
            "similarity: euclidean}}\n"
            "verification:\n  target_fmr: [0.1, 0.01]\n  bootstrap: {replicates: 50}\n")
        out.append(run(load_config(cfg), d / "out", progress=False).run_dir)
    return out[0], out[1]


def test_run_against_itself(two_runs):
    df, header = compare_runs(two_runs[0], two_runs[0], replicates=50)
    assert (df["change"].fillna(0) == 0).all()
    assert (df["change_ci_low"].fillna(0) == 0).all() and (df["change_ci_high"].fillna(0) ==
                                                           0).all()
    assert set(df["attribute"]) == {"all", "grp", "sex"}
    assert "A: run" in header and "B: run" in header


def test_change_between_models(two_runs):
    df, _ = compare_runs(*two_runs, replicates=100)
    both = df[(df.attribute == "all") & (df.rate == "fnmr")]
    assert len(both) == 2  # two common operating points
    r = df.iloc[0]
    assert r["change"] == pytest.approx((r["errors_b"] - r["errors_a"]) / r["n"])
    ok = df[df.n > 0]
    assert (ok["change_ci_low"] <= ok["change"] + 1e-12).all()
    assert (ok["change"] <= ok["change_ci_high"] + 1e-12).all()
    for _, x in ok.iterrows():
        if x["change_ci_low"] <= 0 <= x["change_ci_high"] and x["n"] >= 10:
            assert x["reading"].startswith("no clear change")


def test_different_data_is_refused(two_runs, fairbench_cli):
    with pytest.raises(CompareError, match="not on the same dataset"):
        compare_runs(two_runs[0], STORED_RUN)
    code, _, err = fairbench_cli("compare", str(two_runs[0]), str(STORED_RUN))
    assert code == 2 and "manifests differ" in err


def test_cli_writes_files(two_runs, tmp_path, fairbench_cli):
    code, out, err = fairbench_cli("compare", str(two_runs[0]), str(two_runs[1]), "-o",
                                   str(tmp_path))
    assert code == 0, err
    assert "| all | all | FMR 1 in 10 | FMR |" in out
    assert (tmp_path / "compare.csv").exists() and (tmp_path / "compare.md").exists()
