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
