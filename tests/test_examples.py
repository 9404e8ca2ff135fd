"""The examples run as they are, from an empty folder (the London set is needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_auditor_session(london_root, tmp_path):
    env = {**os.environ, "FAIRBENCH_DATA_ROOT": str(london_root.parent.resolve())}
    r = subprocess.run([sys.executable, str(REPO / "examples" / "auditor_session.py"),
                        str(tmp_path / "out")], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    out = r.stdout
    assert "impostor pairs of two black people were falsely matched 33.3% of the time" in out
    assert "104 of 312 pairs, 13 people), 74 times the rate for white people" in out
    assert "[refuted] no-demographic-impact" in out
    assert len(list((tmp_path / "out").iterdir())) == 1


def test_score_files_session(tmp_path):
    """The score-file example: a SIMULATED bob4 study and a 1:N candidate list, run from an
    empty folder, every table marked SIMULATED; the written configs also run by the CLI."""
    r = subprocess.run([sys.executable, str(REPO / "examples" / "score_files.py"),
                        str(tmp_path / "study")], cwd=tmp_path, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    runs = sorted((tmp_path / "study" / "results").iterdir(),
                  key=lambda p: p.name.endswith("-1n"))  # the 1:1 run first
    assert len(runs) == 2 and runs[1].name.endswith("-1n")
    for run in runs:
        for csv in (run / "tables").glob("*.csv"):
            assert csv.read_text().startswith("data,"), csv
    eer = (runs[0] / "tables" / "eer_by_group.csv").read_text()
    assert "SIMULATED,grp,b," in eer
    cli = subprocess.run([sys.executable, "-m", "fairbench.cli", "run", "scores.yaml", "-o",
                          "cli", "--no-progress"], cwd=tmp_path / "study",
                         capture_output=True, text=True, timeout=600)
    assert cli.returncode == 0, cli.stderr[-2000:]
