"""Nothing leaves the machine: a real ONNX session under fairbench writes no telemetry file
and makes no name look-up (ONNX Runtime alone does both, about 10 s in: the control; both run
until the control has been seen to look up, plus a margin), and a
whole run writes nothing outside its results folder, its cache and the documented library
caches."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LONGEST_S = 180  # ONNX Runtime's telemetry looked up its host 9 s after start here
MARGIN_S = 15  # how long both keep running after the control's first look-up
# ONNX Runtime turns its telemetry off by itself where one of these is set (they are named
# in its library); both sessions run without them, as on a user's machine.
CI_VARIABLES = ("CI", "TF_BUILD", "GITHUB_ACTIONS", "GITLAB_CI", "CIRCLECI", "TRAVIS",
                "JENKINS_URL", "CODEBUILD_BUILD_ID", "BUILDKITE", "TEAMCITY_VERSION",
                "APPVEYOR", "BITBUCKET_BUILD_NUMBER")


def strace() -> str:
    path = shutil.which("strace")
    if path:
        return path
    msg = "strace not found; install it (apt-get install strace; .ci/run does)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(msg)
    pytest.skip(msg)


SESSION = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import numpy as np
    if sys.argv[1] == "fairbench":
        import fairbench  # noqa: F401  (switches telemetry off before onnxruntime loads)
        from fairbench.onnxrt import open_session
        s, _ = open_session(Path(sys.argv[2]), None, ["CPUExecutionProvider"], "model")
    else:
        import onnxruntime as ort
        s = ort.InferenceSession(sys.argv[2], providers=["CPUExecutionProvider"])
    s.run(None, {s.get_inputs()[0].name: np.zeros((1, 112, 112, 3), np.float32)})
    stop, deadline = Path(sys.argv[3]), time.monotonic() + float(sys.argv[4])
    while not stop.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
""")


def traced(tmp: Path, who: str, model: Path) -> subprocess.Popen:
    home = tmp / f"home-{who}"
    home.mkdir()
    (tmp / "session.py").write_text(SESSION)
    env = {k: v for k, v in os.environ.items()
           if k not in ("ORT_DISABLE_TELEMETRY", *CI_VARIABLES)}
    env.update(HOME=str(home), PYTHONPATH=str(REPO))
    return subprocess.Popen([strace(), "-f", "-qq", "-e", "trace=connect,sendto",
                             "-o", str(tmp / f"trace-{who}.txt"), sys.executable,
                             str(tmp / "session.py"), who, str(model), str(tmp / "stop"),
                             str(LONGEST_S)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def lookups(trace: Path) -> list[str]:
    """Connections to a DNS port, and any connection beyond the machine's own sockets."""
    lines = trace.read_text().splitlines()
    return [ln for ln in lines if "htons(53)" in ln or ("AF_INET" in ln and "127.0.0.1" not in ln)]


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_an_onnx_session_sends_and_writes_nothing(models_dir, tmp_path):
    model = models_dir / "mobileface.onnx"
    ours, control = (traced(tmp_path, who, model) for who in ("fairbench", "plain"))
    deadline, seen = time.monotonic() + LONGEST_S, None
    while time.monotonic() < deadline and control.poll() is None:
        trace = tmp_path / "trace-plain.txt"
        if seen is None and trace.exists() and lookups(trace):
            seen = time.monotonic()
        if seen is not None and time.monotonic() > seen + MARGIN_S:
            break
        time.sleep(0.5)
    (tmp_path / "stop").touch()
    for p in (ours, control):
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err[-2000:]
    # the control shows what the test would catch: ONNX Runtime alone does both
    assert lookups(tmp_path / "trace-plain.txt"), "the control made no look-up: the test " \
        "cannot tell whether telemetry is off"
    assert any("Microsoft" in f for f in files_under(tmp_path / "home-plain"))
    assert lookups(tmp_path / "trace-fairbench.txt") == []
    assert files_under(tmp_path / "home-fairbench") == []


def test_a_run_writes_only_where_the_readme_says(london16, london16_manifest, models_dir,
                                                 tmp_path):
    """A whole ONNX run and its report, with HOME and the working folder empty: files appear
    only in the results folder, the template cache, and matplotlib's and fontconfig's own
    caches (numba's cache lives beside fairbench's installed modules)."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    cfg = work / "cfg.yaml"
    cfg.write_text(textwrap.dedent(f"""
        dataset: {{manifest: {london16_manifest}, root: {london16}, attributes: [eth]}}
        matcher:
          name: onnx
          params:
            model: {models_dir / 'mobileface.onnx'}
            input: {{name: "data:0", size: 112}}
            output: "batchnorm0/add_1:0"
            detector: {{model: {models_dir / 'yunet_s_640_640.onnx'}}}
        verification: {{target_fmr: [0.1], bootstrap: {{replicates: 20}}}}
    """))
    env = {k: v for k, v in os.environ.items()
           if k not in ("ORT_DISABLE_TELEMETRY", "FAIRBENCH_CACHE", "MPLCONFIGDIR",
                        "XDG_CACHE_HOME", *CI_VARIABLES)}
    env["HOME"] = str(home)
    for args in (["run", str(cfg), "-o", "out", "--no-progress"], ["report"]):
        if args == ["report"]:
            args = ["report", str(next((work / "out").iterdir()))]
        r = subprocess.run([sys.executable, "-m", "fairbench.cli", *args], cwd=work, env=env,
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
    outside = [f for f in files_under(work) if not f.startswith(("out/", "cfg.yaml"))]
    assert outside == []
    allowed = (".cache/fairbench/templates/", ".cache/matplotlib/", ".cache/fontconfig/",
               ".config/matplotlib/")
    assert [f for f in files_under(home) if not f.startswith(allowed)] == []
