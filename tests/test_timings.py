"""`fairbench run` says where its time went (stderr, unless --quiet) and run.json keeps it:
every stage, writing the report included, and the total."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fairbench.report.terminal import timings_line
from tests.generated import generated

STAGES = {"load", "templates", "scoring", "metrics", "report", "total"}


@pytest.fixture()
def study(tmp_path: Path) -> Path:
    frame, emb = generated("cosine", n_subjects=30, seed=4)
    frame.to_csv(tmp_path / "m.csv", index=False)
    np.savez(tmp_path / "e.npz", image_ids=frame["image_id"].to_numpy(dtype=str),
             embeddings=emb)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("dataset: {manifest: m.csv, attributes: [grp]}\n"
                   "matcher: {name: precomputed, params: {path: e.npz}}\n"
                   "verification: {target_fmr: [0.1], bootstrap: {replicates: 20}}\n")
    return cfg


def run_cli(cfg: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fairbench.cli", "run", str(cfg), "-o",
                           str(cfg.parent / "out"), "--no-progress", *extra],
                          cwd=cfg.parent, capture_output=True, text=True, timeout=300)


def test_run_prints_and_keeps_where_its_time_went(study):
    r = run_cli(study)
    assert r.returncode == 0, r.stderr
    rec = json.loads((Path(r.stdout.strip().splitlines()[-1]) / "run.json").read_text())
    t = rec["timings_s"]
    assert set(t) == STAGES
    assert all(v >= 0 for v in t.values())
    assert t["total"] >= sum(v for k, v in t.items() if k != "total") * 0.999
    line = [x for x in r.stderr.splitlines() if x.startswith("time ")]
    assert len(line) == 1, r.stderr
    shown = dict(re.findall(r"(\w+) (\d+\.\d)", line[0].split(": ", 1)[1]))
    assert set(shown) >= STAGES - {"total"}
    for k in STAGES - {"total"}:  # the line says what run.json says
        assert float(shown[k]) == pytest.approx(t[k], abs=0.051)
    assert line[0].startswith(f"time {t['total']:.1f} s: ")


def test_quiet_prints_no_timings(study):
    r = run_cli(study, "--quiet")
    assert r.returncode == 0, r.stderr
    assert not [x for x in r.stderr.splitlines() if x.startswith("time ")]



def test_the_line_names_every_stage_and_how_templates_were_made():
    rec = {"timings_s": {"load": 1.04, "templates": 20.0, "scoring": 0.5, "metrics": 2.0,
                         "capture": 3.0, "report": 0.44, "total": 28.0},
           "capture": {"computed": 200, "extraction": {"mode": "processes", "workers": 2}}}
    assert timings_line(rec) == ("time 28.0 s: load 1.0, templates 20.0 (200 embedded, "
                                 "10.0/s, 2 processes), scoring 0.5, metrics 2.0, capture "
                                 "3.0, report 0.4, other 1.0")
    assert timings_line({}) == "time: not recorded"


def test_quiet_also_hides_the_progress_bar(study):
    """-q alone (no --no-progress) leaves stderr without the templates bar."""
    args = [sys.executable, "-m", "fairbench.cli", "run", str(study), "-o",
            str(study.parent / "out")]
    loud = subprocess.run(args, cwd=study.parent, capture_output=True, text=True, timeout=300)
    quiet = subprocess.run([*args, "-q"], cwd=study.parent, capture_output=True, text=True,
                           timeout=300)
    assert loud.returncode == quiet.returncode == 0, quiet.stderr
    assert "templates:" in loud.stderr  # the bar this test looks for
    assert "templates:" not in quiet.stderr and "time " not in quiet.stderr
