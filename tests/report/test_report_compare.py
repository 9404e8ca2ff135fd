"""fairbench compare: a run against itself changes nothing; a changed model shows the change
with a paired interval that equals explicit resampling; runs on different data are refused
(exit 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import fairbench
from fairbench.config import load_config
from fairbench.metrics.bootstrap import percentile_interval, subject_weights, view_rng
from fairbench.report.compare import CompareError
from fairbench.report.rebuild import verification_arrays
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
        out.append(fairbench.run(load_config(cfg), d / "out", progress=False).run_dir)
    return out[0], out[1]


def test_run_against_itself(two_runs):
    cmp = fairbench.compare(two_runs[0], two_runs[0])
    df = cmp.frame
    assert (df["change"].fillna(0) == 0).all()
    assert (df["change_ci_low"].fillna(0) == 0).all() and (df["change_ci_high"].fillna(0) ==
                                                           0).all()
    assert set(df["attribute"]) == {"all", "grp", "sex"}
    assert "A: run" in cmp.header and "B: run" in cmp.header
    assert "<table" in cmp._repr_html_()


def test_paired_interval_equals_explicit_resampling(two_runs):
    """The change's interval: the same resampled people score both models."""
    a, b = (fairbench.load(d) for d in two_runs)
    df = fairbench.compare(a, b).frame
    (codes, ca), (_, cb) = verification_arrays(a), verification_arrays(b)
    plan = codes.plan
    R = 50
    w = subject_weights(np.zeros(plan.n_subjects, np.int64), R, view_rng(0, "all"))
    row = df[(df.attribute == "all") & (df.rate == "fnmr")].iloc[0]
    thr = {}
    for run in (a, b):
        p = next(p for p in run.operating_points if p.kind == "target_fmr"
                 and p.target == row["operating_point"])
        thr[run.run_id] = p.similarity
    subj = plan.subject[plan.mated_i]
    diffs = []
    for r in range(R):
        wt = w[r, subj]  # a mated pair counts once per draw of its subject
        fa = (wt * (ca.mated_s < thr[a.run_id])).sum() / wt.sum()
        fb = (wt * (cb.mated_s < thr[b.run_id])).sum() / wt.sum()
        diffs.append(fb - fa)
    lo, hi = percentile_interval(np.array(diffs)[:, None], 0.95)
    assert row["change_ci_low"] == pytest.approx(lo[0])
    assert row["change_ci_high"] == pytest.approx(hi[0])
    assert row["change"] == pytest.approx((row["errors_b"] - row["errors_a"]) / row["n"])


def test_different_data_is_refused(two_runs, fairbench_cli):
    with pytest.raises(CompareError, match="not on the same dataset"):
        fairbench.compare(two_runs[0], STORED_RUN)
    code, _, err = fairbench_cli("compare", str(two_runs[0]), str(STORED_RUN))
    assert code == 2 and "manifests differ" in err


def test_cli_writes_files(two_runs, tmp_path, fairbench_cli):
    code, out, err = fairbench_cli("compare", str(two_runs[0]), str(two_runs[1]), "-o",
                                   str(tmp_path))
    assert code == 0, err
    assert "| all | all | FMR 1 in 10 | FMR |" in out
    assert (tmp_path / "compare.csv").exists() and (tmp_path / "compare.md").exists()
