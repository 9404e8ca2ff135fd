"""The command line as a newcomer meets it: usage errors exit 2 with the usage and no
traceback, Ctrl-C prints its line and exits 130, and --help documents the exit statuses."""

from __future__ import annotations

import subprocess
import sys

import pytest

USAGE_ERRORS = [[], ["run"], ["no-such-command"], ["run", "--bogus", "x.yaml"],
                ["datasets"], ["datasets", "validate"], ["report"], ["check-claims", "x"],
                ["compare", "a"], ["bench", "allpairs", "--n", "many"], ["matchers"],
                ["run", "a.yaml", "b.yaml"], ["bench", "coverage", "--replicates", "-3"],
                ["bench", "search", "--k", "0"], ["bench", "scores", "--subjects", "1"],
                ["summarize"], ["datasets", "describe"], ["report", "x", "--pdf", "--bogus"]]


def fairbench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fairbench.cli", *args], capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("args", USAGE_ERRORS, ids=lambda a: " ".join(a) or "(none)")
def test_usage_errors_exit_2_with_the_usage(args):
    r = fairbench(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout
    assert "Usage: " in r.stderr + r.stdout


def test_help_documents_exit_statuses():
    for args in ([], ["run"], ["check-claims"]):
        r = fairbench(*args, "--help")
        assert r.returncode == 0
        text = " ".join(r.stdout.split())
        assert "0 ok; 1 a claim was refuted (check-claims) or a matcher failed its checks " \
               "(matchers check); 2 bad input or a usage error; 130 interrupted" in text


def test_ctrl_c_prints_its_line_and_exits_130(monkeypatch, tmp_path, capsys):
    from fairbench import cli

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr("fairbench.api.run", interrupted)
    monkeypatch.setattr("sys.argv", ["fairbench", "run", str(tmp_path / "c.yaml")])
    with pytest.raises(SystemExit) as e:
        cli.main()
    assert e.value.code == 130
    assert "interrupted: nothing was written to the results folder" in capsys.readouterr().err


def test_a_bad_file_is_one_message_and_exit_2(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("dataset: {name: london}\nverification: {target_fmrs: [0.1]}\n")
    r = fairbench("run", str(cfg), "-o", str(tmp_path / "out"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("error: ") and "verification.target_fmrs: unknown key" in r.stderr
    assert not (tmp_path / "out").exists()
