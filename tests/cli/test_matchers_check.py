"""``fairbench matchers check NAME``: exit 0 when every check passes, 1 when one fails,
2 on bad input (unknown name, bad params, no images), never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fairbench.cli.matchers import parse_params
from fairbench.errors import ConfigError
from fairbench.registry import matchers
from fairbench.testing import CHECKS
from tests import testing_toys as toys


@pytest.fixture()
def fairbench(monkeypatch, capsys):
    """``fairbench ARGS`` in-process: (exit status, stdout, stderr)."""
    from fairbench import cli

    def call(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["fairbench", *map(str, args)])
        try:
            cli.main()
            code = 0
        except SystemExit as e:
            code = int(e.code or 0)
        out = capsys.readouterr()
        return code, out.out, out.err

    return call


@pytest.fixture()
def noise(tmp_path: Path) -> Path:
    folder = tmp_path / "imgs"
    folder.mkdir()
    toys.synthetic_images(folder)
    return folder


@pytest.fixture()
def plugins():
    """The toy plugins, registered in-process for the test."""
    names = {"toy": toys.Toy, "toy-reversed": toys.Reversed}
    for n, cls in names.items():
        matchers.register(n, cls)
    yield names
    for n in names:
        matchers.unregister(n)


def test_a_conforming_plugin_passes_and_exits_0(fairbench, plugins, noise: Path) -> None:
    code, out, err = fairbench("matchers", "check", "toy", "--images", noise)
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[0] == "matcher 'toy': PASSED (13 passed, 0 failed, 0 skipped)"
    assert lines[1].startswith(f"inputs: 4 images from {noise} (img0.png, img1.png")
    assert [ln.split()[1] for ln in lines[2:]] == [c.name for c in CHECKS if c.applies is None]


def test_a_failed_check_exits_1_with_its_reason(fairbench, plugins, noise: Path) -> None:
    code, out, err = fairbench("matchers", "check", "toy-reversed", "--images", noise)
    assert code == 1 and "Traceback" not in out + err
    assert "FAILED (10 passed, 1 failed, 2 skipped)" in out
    assert "  FAIL  result_order               results do not follow the input order" in out


def test_params_are_passed_and_validated(fairbench, plugins, noise: Path) -> None:
    code, out, _ = fairbench("matchers", "check", "toy", "-p", "scale=2", "--images", noise,
                             "--max-images", "2")
    assert code == 0 and "inputs: 2 images" in out
    code, out, err = fairbench("matchers", "check", "toy", "-p", "scale=big", "--images", noise)
    assert code == 2 and not out
    assert err.startswith("error: invalid parameters for matcher 'toy'")
    assert "matcher.params.scale" in err and "Traceback" not in err


@pytest.mark.parametrize("args,message", [
    (["dlb"], "error: unknown matcher 'dlb'. Did you mean 'dlib'?"),
    (["toy", "--images", "/no/such/folder"], "error: images: no folder at /no/such/folder"),
    (["toy", "-p", "{scale: [1,"], "error: --params"),
    (["toy", "-p", "nothere.yaml"], "error: --params: no file at nothere.yaml"),
    (["toy", "-p", "[1, 2]"], "not key=value, a YAML mapping or a YAML file of one"),
])
def test_bad_input_exits_2_with_one_message(fairbench, plugins, args, message) -> None:
    code, out, err = fairbench("matchers", "check", *args)
    assert code == 2 and not out and "Traceback" not in err
    assert message in err, err


def test_no_images_and_no_dataset_is_a_clear_usage_message(fairbench, plugins, monkeypatch,
                                                           tmp_path: Path) -> None:
    monkeypatch.setenv("FAIRBENCH_DATA_ROOT", str(tmp_path / "datasets"))
    monkeypatch.setenv("FAIRBENCH_CACHE", str(tmp_path / "cache"))
    code, out, err = fairbench("matchers", "check", "toy")
    assert code == 2 and not out
    assert "matcher 'toy' reads images and none were given: pass --images DIR" in err
    assert "FAIRBENCH_DATA_ROOT" in err


def test_the_london_set_is_the_default(fairbench, plugins, monkeypatch, tmp_path: Path) -> None:
    front = tmp_path / "datasets" / "london" / "neutral_front"
    front.mkdir(parents=True)
    toys.synthetic_images(front)
    monkeypatch.setenv("FAIRBENCH_DATA_ROOT", str(tmp_path / "datasets"))
    code, out, _ = fairbench("matchers", "check", "toy")
    assert code == 0 and f"inputs: 4 images from {front}" in out


def test_onnx_checked_with_a_params_file(fairbench, models_dir: Path, london16: Path,
                                         tmp_path: Path) -> None:
    """A real built-in through the command, its params from a fairbench config file."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("matcher:\n  name: onnx\n  params:\n"
                   f"    model: {models_dir / 'mobileface.onnx'}\n"
                   '    input: {name: "data:0", size: 112}\n    output: "batchnorm0/add_1:0"\n'
                   f"    detector: {{model: {models_dir / 'yunet_s_640_640.onnx'}}}\n")
    code, out, err = fairbench("matchers", "check", "onnx", "-p", cfg, "-p",
                               "similarity=euclidean", "--images", london16, "--max-images", "3")
    assert code == 0, out + err
    assert "euclidean (euclidean distance, lower_is_more_alike)" in out


def test_parse_params_merges_in_order(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text("a: 1\nb: {c: 2}\n")
    assert parse_params([str(f), "b.d=x", "{e: [1, 2]}", "a=3"]) == \
        {"a": 3, "b": {"c": 2, "d": "x"}, "e": [1, 2]}
    assert parse_params(["input.name=data:0"]) == {"input": {"name": "data:0"}}
    with pytest.raises(ConfigError, match="empty key part"):
        parse_params(["a..b=1"])


def test_usage_and_help_through_the_real_command() -> None:
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "fairbench.cli", *args], text=True,
                              capture_output=True, timeout=120)

    r = run("matchers", "check")
    assert r.returncode == 2 and "Usage: " in r.stderr and "Traceback" not in r.stderr
    r = run("matchers", "check", "--help")
    assert r.returncode == 0 and "--images" in r.stdout and "--params" in r.stdout
    assert "Exit 0 when every check passes, 1 when one fails, 2 on bad input" in \
        " ".join(r.stdout.split())
