"""Faults: damaged cache entries, a full disk, and runs killed with SIGKILL at random points
of template extraction and of the folder write. Every time, the next run recovers by itself
and its tables equal those of a run that was never interrupted, byte for byte."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.hostile.conftest import onnx_config

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def faces(london16, london16_manifest, models_dir, tmp_path):
    """london16 with the fast ONNX model; a private template cache; a config file."""
    cfg = tmp_path / "c.yaml"
    text = onnx_config(models_dir, manifest=str(london16_manifest)).replace(
        "cache: {enabled: false}\n", "")
    text = text.replace("dataset: {", f"dataset: {{root: {london16}, ")
    cfg.write_text(text)
    env = {**os.environ, "FAIRBENCH_CACHE": str(tmp_path / "cache")}
    return cfg, env, tmp_path


def cli(args: list[str], env: dict, cwd: Path, prelude: str = "") -> subprocess.CompletedProcess:
    code = f"{prelude}\nfrom fairbench.cli import main\nimport sys\nsys.argv = ['fairbench', " \
           f"*{args!r}]\nmain()\n"
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def run_ok(cfg: Path, env: dict, out: Path) -> Path:
    r = cli(["run", str(cfg), "-o", str(out), "--no-progress", "--set", "matcher.batch_size=4"],
            env, cfg.parent)
    assert r.returncode == 0, r.stderr[-3000:]
    return Path(r.stdout.strip().splitlines()[-1])


def tables(run_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((run_dir / "tables").glob("*.csv"))}


KILL_EMBED = """
import os, signal
import fairbench.matchers.base as base
_real, _n = base.Matcher.embed_bytes, [0]
def embed_bytes(self, blobs, max_pixels=50_000_000):
    _n[0] += 1
    if _n[0] == {k}:
        os.kill(os.getpid(), signal.SIGKILL)
    return _real(self, blobs, max_pixels)
base.Matcher.embed_bytes = embed_bytes
"""

KILL_WRITE = """
import os, signal
import fairbench.results.folder as folder
_real, _n = folder.atomic_write, [0]
def atomic_write(path, write):
    _n[0] += 1
    if _n[0] == {k}:
        os.kill(os.getpid(), signal.SIGKILL)
    return _real(path, write)
folder.atomic_write = atomic_write
"""


COUNT_WRITES = """
import atexit, sys
import fairbench.results.folder as folder
_real, _n = folder.atomic_write, [0]
def atomic_write(path, write):
    _n[0] += 1
    return _real(path, write)
folder.atomic_write = atomic_write
atexit.register(lambda: print("WRITES", _n[0], file=sys.stderr))
"""


def count_writes(cfg: Path, env: dict, out: Path) -> int:
    r = cli(["run", str(cfg), "-o", str(out), "--no-progress", "--set", "matcher.batch_size=4"],
            env, cfg.parent, COUNT_WRITES)
    assert r.returncode == 0, r.stderr[-2000:]
    return int(r.stderr.split("WRITES")[-1].split()[0])


def test_killed_runs_leave_nothing_and_the_next_run_is_identical(faces):
    cfg, env, tmp = faces
    clean = tables(run_ok(cfg, {**env, "FAIRBENCH_CACHE": str(tmp / "other-cache")},
                          tmp / "clean"))
    rng = np.random.default_rng(7)
    out = tmp / "out"
    # 32 images in 8 batches; each killed run has cached what it finished, so the next one
    # embeds only the rest: kill at its first or second batch of new work
    kills = [(KILL_EMBED, int(k)) for k in rng.integers(1, 3, 3)]
    writes = count_writes(cfg, {**env, "FAIRBENCH_CACHE": str(tmp / "other-cache")},
                          tmp / "count")  # the files one run writes
    kills += [(KILL_WRITE, int(k)) for k in rng.integers(1, writes + 1, 3)]
    for prelude, k in kills:
        r = cli(["run", str(cfg), "-o", str(out), "--no-progress", "--set",
                 "matcher.batch_size=4"], env, cfg.parent, prelude.format(k=k))
        assert r.returncode == -signal.SIGKILL, (k, r.returncode, r.stderr[-2000:])
        finished = [p for p in out.iterdir() if not p.name.startswith(".")] \
            if out.exists() else []
        assert finished == []  # a killed run never leaves a folder that looks complete
    again = run_ok(cfg, env, out)
    assert tables(again) == clean
    assert [p.name for p in out.iterdir()] == [again.name]  # staging folders cleaned up


def test_damaged_cache_entries_are_recomputed(faces):
    cfg, env, tmp = faces
    first = run_ok(cfg, env, tmp / "a")
    entries = sorted((tmp / "cache").rglob("*.npz"))
    assert len(entries) == 32
    entries[0].write_bytes(entries[0].read_bytes()[:40])  # truncated
    entries[1].write_bytes(b"")  # empty
    z = dict(np.load(entries[2]))
    np.savez(entries[2], embedding=np.ones(7, np.float32), meta=z["meta"])  # wrong size
    second = run_ok(cfg, env, tmp / "b")
    assert tables(second) == tables(first)
    import json

    cap = json.loads((second / "run.json").read_text())["capture"]
    assert cap["cache_hits"] == 29 and cap["computed"] == 3
    third = run_ok(cfg, env, tmp / "c")  # the repaired entries are used again
    assert json.loads((third / "run.json").read_text())["capture"]["cache_hits"] == 32


FULL = """
import errno
import fairbench.results.folder as folder
_real = folder.atomic_write
def atomic_write(path, write):
    if {where!r} in str(path):
        raise OSError(errno.ENOSPC, "No space left on device")
    return _real(path, write)
folder.atomic_write = atomic_write
import fairbench.templates as t
t.atomic_write = atomic_write
"""


@pytest.mark.parametrize("where,says", [("cache", "cannot write the template cache"),
                                        ("counts.npz", "cannot write the run folder"),
                                        ("run.json", "cannot write the run folder")])
def test_a_full_disk_is_a_clear_message_with_nothing_left(faces, where, says):
    cfg, env, tmp = faces
    out = tmp / "out"
    r = cli(["run", str(cfg), "-o", str(out), "--no-progress"], env, cfg.parent,
            FULL.format(where=where))
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert says in r.stderr and "No space left on device" in r.stderr
    assert not out.exists() or list(out.iterdir()) == []
    leftovers = [p for p in (tmp / "cache").rglob("*") if p.name.endswith(".tmp")] \
        if (tmp / "cache").exists() else []
    assert leftovers == []
    assert errno.ENOSPC  # (the errno the disk gives)


def test_a_staging_folder_of_a_dead_run_is_removed_and_a_live_ones_kept(faces):
    cfg, env, tmp = faces
    out = tmp / "out"
    out.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    import socket

    for name, pid in ((".old-run.abc", dead), (".live-run.def", str(os.getpid()))):
        (out / name).mkdir()
        (out / name / "run.json").write_text("{}")
        (out / name / ".fairbench-staging").write_text(f"{pid} {socket.gethostname()}\n")
    r = cli(["run", str(cfg), "-o", str(out), "--no-progress"], env, cfg.parent)
    assert r.returncode == 0, r.stderr
    assert "left half-written by a run that was killed" in r.stderr
    names = sorted(p.name for p in out.iterdir())
    assert ".old-run.abc" not in names and ".live-run.def" in names
