"""`fairbench run` and `fairbench report` end with a findings summary on stderr; the run
folder stays the last line of stdout, and --quiet turns the summary off."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from typer.testing import CliRunner

from fairbench.cli import app
from fairbench.report.cells import RateCell
from fairbench.results.run import Run

CONFIG = {"dataset": {"simulate": {"n_subjects": 120, "groups": 3, "dim": 32, "seed": 4}},
          "matcher": {"name": "simulated"},
          "verification": {"target_fmr": [1e-2], "bootstrap": {"replicates": 40}}}
GROUPS = ("g00", "g01", "g02")


def _config(tmp_path: Path) -> Path:
    p = tmp_path / "sim.yaml"
    p.write_text(yaml.safe_dump(CONFIG))
    return p


def _is_summary(err: str) -> None:
    assert "SIMULATED DATA" in err and "warning: no summary" not in err
    assert "group at FMR 1 in 100 (threshold " in err
    for g in GROUPS:
        assert g in err
    assert "FMR worst/best: " in err  # FNMR: a ratio, or no error in any group, said once
    assert "FNMR worst/best: " in err or \
        "FNMR: no group with enough data had an error, so there is no ratio" in err
    assert "rate [95% interval] (errors/comparisons)" in err


def test_run_prints_the_summary_on_stderr_and_the_folder_last(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "200"}  # wide enough that no cell wraps
    args = ["run", str(_config(tmp_path)), "-o", str(tmp_path / "out"), "--no-progress"]
    proc = subprocess.run([sys.executable, "-m", "fairbench.cli", *args], capture_output=True,
                          text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    folder = Path(proc.stdout.splitlines()[-1])
    assert folder.parent == tmp_path / "out" and (folder / "run.json").is_file()
    assert proc.stdout.strip() == str(folder)  # nothing of the summary on stdout
    _is_summary(proc.stderr)
    # each group's cells as the tables write them: rate [low, high] (errors/n)
    t = Run.load(folder).tables["verification_by_group"]
    rows = t[t.attribute == "group"].to_dict(orient="records")
    assert [row["group"] for row in rows] == list(GROUPS)
    for row in rows:
        for rate, n in (("fmr", "n_nonmated"), ("fnmr", "n_mated")):
            assert RateCell.from_row(row, rate, n).text() in proc.stderr
    assert "Not told apart by this data" in proc.stderr or "No pair of groups" in proc.stderr


def _cli(*args: str) -> tuple[int, str, str]:
    """``fairbench ARGS`` in-process: (status, stdout, stderr)."""
    r = CliRunner().invoke(app, list(args), prog_name="fairbench")
    return r.exit_code, r.stdout, r.stderr


def test_quiet_turns_the_summary_off(tmp_path: Path) -> None:
    cfg, out = _config(tmp_path), tmp_path / "out"
    code, stdout, err = _cli("run", str(cfg), "-o", str(out), "--no-progress", "--quiet")
    assert code == 0 and "worst/best" not in err and "SIMULATED" not in err
    folder = Path(stdout.splitlines()[-1])
    assert (folder / "run.json").is_file()
    code, stdout, err = _cli("report", str(folder), "-q")
    assert code == 0 and "worst/best" not in err and "SIMULATED" not in err
    assert str(folder / "report.html") in stdout.splitlines()
    code, stdout, err = _cli("report", str(folder))
    assert code == 0 and str(folder / "report.html") in stdout.splitlines()
    _is_summary(err)


def test_pairs_are_capped_with_a_count() -> None:
    from fairbench.report.findings import AttributeFindings, GroupPoint, RateFindings
    from fairbench.report.terminal import MAX_PAIRS, pair_lines

    groups = [f"g{i}" for i in range(6)]
    points = [GroupPoint(g, 0.1, 0.05, 0.2, 10, 100, 10, False, False) for g in groups]
    pairs = [(a, b) for i, a in enumerate(groups) for b in groups[i + 1:]]  # 15 pairs
    af = AttributeFindings("eth", "fmr=1e-3", "FMR 1 in 1,000", None, [
        RateFindings("fmr", "FMR", "same-group impostor pairs", points, None, pairs),
        RateFindings("fnmr", "FNMR", "mated pairs", points, None, pairs[:1])])
    lines = pair_lines(af)
    assert lines[0] == "g0 and g1: FMR, FNMR" and lines[1] == "g0 and g2: FMR"
    assert len(lines) == MAX_PAIRS + 1 and lines[-1] == f"and {15 - MAX_PAIRS} more"
