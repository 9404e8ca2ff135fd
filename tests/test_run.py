"""End to end: `fairbench run` on precomputed embeddings, the run folder contract, report
rebuild, and that a failing run leaves nothing half-written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairbench.api import run
from fairbench.config import load_config
from fairbench.report.rebuild import build_report
from tests.generated import generated

CONTRACT_COLUMNS = [
    "attribute", "group", "threshold_kind", "target_fmr", "threshold_native", "fmr",
    "fmr_ci_low", "fmr_ci_high", "fmr_errors", "n_nonmated", "fnmr", "fnmr_ci_low",
    "fnmr_ci_high", "fnmr_errors", "n_mated", "n_subjects",
]


@pytest.fixture()
def precomputed(tmp_path: Path) -> Path:
    frame, emb = generated("euclidean", n_subjects=50, seed=2)
    frame.to_csv(tmp_path / "manifest.csv", index=False)  # image files need not exist
    np.savez(tmp_path / "emb.npz", image_ids=frame["image_id"].to_numpy(dtype=str),
             embeddings=emb)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        "dataset: {manifest: manifest.csv, attributes: [grp, sex]}\n"
        "matcher: {name: precomputed, params: {path: emb.npz, similarity: euclidean}}\n"
        "verification:\n  target_fmr: [0.1, 0.01, 1.0e-7]\n  fixed_thresholds: [3.0]\n"
        "  bootstrap: {replicates: 50, seed: 1}\n"
    )
    return cfg


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fairbench.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_cli_run_writes_the_contracted_folder(precomputed, tmp_path):
    r = cli("run", str(precomputed), "-o", str(tmp_path / "out"), "--no-progress",
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    run_dir = Path(r.stdout.strip().splitlines()[-1])
    assert run_dir.parent == tmp_path / "out" and run_dir.is_dir()
    assert "-precomputed-manifest-" in run_dir.name
    def strict(token):
        raise AssertionError(f"run.json holds {token}, which is not JSON")

    rec = json.loads((run_dir / "run.json").read_text(), parse_constant=strict)
    assert rec["schema_version"] == "2.0" and rec["config_hash"]
    assert rec["provenance"]["packages"]["numpy"]
    assert rec["matcher"]["weights_sha256"]["emb.npz"]
    assert rec["dataset"]["manifest_sha256"]
    unsupported = [t for t in rec["operating_points"] if not t["supported"]]
    assert [t["target"] for t in unsupported] == [1e-7]
    assert rec["matcher"]["class"] == "fairbench.matchers.precomputed:PrecomputedMatcher"
    assert rec["references"]["grp"]["group"] and rec["references"]["grp"]["rule"]
    images = pd.read_csv(run_dir / "images.csv")
    assert {"image_id", "subject_id", "grp", "sex", "acquired", "failure_reason"} <= set(
        images.columns)
    assert (~images["acquired"]).sum() == 2
    table = pd.read_csv(run_dir / "tables" / "verification_by_group.csv")
    assert list(table.columns[:2]) == ["attribute", "group"]
    assert set(CONTRACT_COLUMNS) <= set(table.columns)
    assert set(table["threshold_kind"]) == {"target_fmr", "fixed"}
    assert {"grp|sex", "grp", "sex", "all"} <= set(table["attribute"])
    fixed = table[(table.threshold_kind == "fixed") & (table.attribute == "all")].iloc[0]
    assert fixed.threshold_native == 3.0
    # intersections are joined with |
    assert table[table.attribute == "grp|sex"]["group"].str.contains(r"\|").all()


def test_report_rebuilds_identical_tables(precomputed, tmp_path, monkeypatch):
    """The run computed its tables from the kernel's output in memory; the report recomputes
    them from counts.npz on disk. Equal files mean nothing was lost on the way; a changed
    array must change them (so this test can fail)."""
    monkeypatch.chdir(tmp_path)  # config paths are relative to the working directory
    res = run(load_config(precomputed), tmp_path / "out", progress=False)
    tables = res.run_dir / "tables"
    before = {p.name: p.read_text() for p in tables.iterdir()}
    boot = (res.run_dir / "bootstrap.npz").read_bytes()
    for p in tables.iterdir():
        p.unlink()
    written = build_report(res.run_dir)
    assert {p.name for p in written if p.parent == tables} == set(before)
    assert {p.name: p.read_text() for p in tables.iterdir()} == before
    assert np.load(res.run_dir / "bootstrap.npz")["fmr::grp::fmr=0.1"].shape[0] == 50
    assert boot  # written by the run
    # tamper with one kept impostor score: the rebuilt table must differ
    z = dict(np.load(res.run_dir / "counts.npz"))
    top = int(np.argmax(z["kept_s"]))
    z["kept_s"][top] = -np.inf
    np.savez_compressed(res.run_dir / "counts.npz", **z)
    build_report(res.run_dir)
    assert (tables / "verification_by_group.csv").read_text() != \
        before["verification_by_group.csv"]


def test_failed_run_leaves_no_folder(precomputed, tmp_path, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("fairbench.pipeline.seal.write_run_tables", boom)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        run(load_config(precomputed), out, progress=False)
    assert list(out.iterdir()) == []


def test_unknown_config_key_exits_2_and_writes_nothing(precomputed, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(precomputed.read_text() + "extra_section: {a: 1}\n")
    r = cli("run", str(bad), "-o", str(tmp_path / "out"), cwd=tmp_path)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert str(bad) in r.stderr and "extra_section: unknown key" in r.stderr
    assert not (tmp_path / "out").exists()


def test_bad_manifest_exits_2_listing_every_problem(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"x")
    m = tmp_path / "m.csv"
    m.write_text("image_id,path,subject_id\na,a.jpg,1\na,b.jpg,2\nc,../../etc/passwd,3\n")
    r = cli("datasets", "validate", str(m), cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "duplicate image_id 'a'" in r.stderr and "escapes the data root" in r.stderr
    assert "file not found" in r.stderr
    good = tmp_path / "g.csv"
    good.write_text("image_id,path,subject_id\na,a.jpg,1\n")
    r = cli("datasets", "validate", str(good), cwd=tmp_path)
    assert r.returncode == 0 and "OK" in r.stdout


def test_missing_embeddings_file_is_a_clear_error(precomputed, tmp_path):
    r = cli("run", str(precomputed), "--set", "matcher.params.path=nope.npz",
            "-o", str(tmp_path / "out"), cwd=tmp_path)
    assert r.returncode == 2 and "nope.npz" in r.stderr and "Traceback" not in r.stderr
