"""The Ray executor on a local cluster: every table equal to the local executor's, a killed
worker (task or actor) retried with identical counts, Ctrl-C leaving no Ray process behind,
and Ray's usage statistics off. One cluster (2 CPUs) serves the module; the Ctrl-C test
starts its own in a child process."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from functools import partial
from pathlib import Path

import pytest

from tests.executors.ray_support import need_ray

ray = need_ray()

import fairbench  # noqa: E402  (after the skip: fairbench switches Ray's statistics off)
from fairbench.executors.ray import RayExecutor  # noqa: E402
from fairbench.registry import executors  # noqa: E402

RAY = {"name": "ray", "address": "local"}
SIM_1TO1 = {"dataset": {"simulate": {"n_subjects": 1200, "groups": 3, "dim": 32, "seed": 4}},
            "matcher": {"name": "simulated"},
            "verification": {"target_fmr": [1e-2, 1e-3], "block_size": 128,
                             "bootstrap": {"replicates": 20}, "permutations": 9}}
SIM_1TON = {"dataset": {"simulate": {"n_subjects": 1500, "groups": 3, "dim": 16, "seed": 5,
                                     "images_per_subject": 3}},
            "matcher": {"name": "simulated"},
            "identification": {"bootstrap": {"replicates": 20}}}


@pytest.fixture(scope="module")
def cluster():
    """A local 2-CPU cluster in this process; every run below joins it (``address: local``
    keeps a connection the process already has)."""
    assert os.environ.get("RAY_USAGE_STATS_ENABLED") == "0"  # set by `import fairbench`
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level=logging.WARNING, object_store_memory=200 * 2**20)
    # the workers cannot import tests/: they get this module's functions by value
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield ray
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    ray.shutdown()


def usage_stats_enabled() -> bool:
    try:
        from ray._common.usage import usage_lib
    except ImportError:  # Ray before 2.44
        from ray._private.usage import usage_lib  # type: ignore[no-redef]
    return bool(usage_lib.usage_stats_enabled())


def _stats_where_it_runs(shared, item):  # a task: what a worker of the cluster sees
    return os.environ.get("RAY_USAGE_STATS_ENABLED"), usage_stats_enabled()


def test_usage_statistics_are_off_here_and_in_the_cluster(cluster, monkeypatch):
    from fairbench.privacy import quiet_dependencies

    assert not usage_stats_enabled()
    with RayExecutor() as ex:
        assert ex.map(_stats_where_it_runs, [0, 1]) == [("0", False)] * 2
    monkeypatch.delenv("RAY_USAGE_STATS_ENABLED")
    quiet_dependencies()
    assert os.environ["RAY_USAGE_STATS_ENABLED"] == "0"
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "1")  # a user's explicit choice is kept
    quiet_dependencies()
    assert os.environ["RAY_USAGE_STATS_ENABLED"] == "1"


def csv_tables(run_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((run_dir / "tables").glob("*.csv"))}


def same_as_local(cfg: dict, tmp_path: Path, executor: dict | None = None,
                  **far_sections: dict) -> fairbench.Run:
    """Run ``cfg`` locally and through ``executor`` (with ``far_sections`` replacing the
    config's: a cache of its own); every CSV table identical bytes."""
    local = fairbench.run(cfg, tmp_path / "local", progress=False)
    far = fairbench.run({**cfg, "executor": executor or RAY, **far_sections}, tmp_path / "ray",
                        progress=False)
    a, b = csv_tables(local.run_dir), csv_tables(far.run_dir)
    assert a and a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == []
    assert far.record["config_hash"] == local.record["config_hash"]
    return far


def test_a_1to1_run_through_ray_gives_the_local_tables(cluster, tmp_path):
    run = same_as_local(SIM_1TO1, tmp_path)
    ex = run.record["provenance"]["executor"]
    assert ex["name"] == "ray" and ex["ray_version"] == ray.__version__
    assert ex["tasks"] >= 3 and ex["cluster_cpus"] == 2 and ex["nodes_used"] == 1
    assert run.record["config"]["executor"] == {"name": "ray", "address": "local",
                                                "num_cpus": None}
    fairbench.load(run.run_dir)  # run.json validates with its executor record
    assert ray.is_initialized()  # the fixture's connection is left open


def test_a_1ton_run_through_ray_gives_the_local_tables(cluster, tmp_path):
    run = same_as_local(SIM_1TON, tmp_path)
    assert run.record["provenance"]["executor"]["tasks"] >= 4


def test_london_onnx_runs_through_ray_give_the_local_tables(cluster, london16,
                                                             london16_manifest, models_dir,
                                                             tmp_path):
    """Real templates (the ONNX mobileface matcher on the london16 fixture), 1:1 and 1:N:
    the Ray run extracts its templates in actors (a model loaded once per actor) into a
    cache of its own, which the workers write."""
    base = {"dataset": {"manifest": str(london16_manifest), "root": str(london16),
                        "attributes": ["eth", "sex"]},
            "matcher": {"name": "onnx", "params": {
                "model": str(models_dir / "mobileface.onnx"),
                "input": {"name": "data:0", "size": 112}, "output": "batchnorm0/add_1:0",
                "detector": {"model": str(models_dir / "yunet_s_640_640.onnx")}}}}
    one = {**base, "verification": {"target_fmr": [0.1, 0.01], "block_size": 16,
                                    "bootstrap": {"replicates": 20}, "permutations": 9}}
    cache = tmp_path / "ray-cache"
    run = same_as_local(one, tmp_path / "1to1", cache={"dir": str(cache)})
    assert run.record["capture"]["extraction"]["mode"] == "executor"
    n = run.record["dataset"]["n_images"]
    assert run.record["capture"]["computed"] == n and run.record["capture"]["cache_hits"] == 0
    assert run.record["provenance"]["executor"]["actors"] >= 1
    assert len(list(cache.rglob("*.npz"))) == n  # written by the actors
    many = {**base, "identification": {"bootstrap": {"replicates": 20}, "candidates": 5}}
    same_as_local(many, tmp_path / "1toN", cache={"dir": str(tmp_path / "ray-cache-1n")})


def test_http_embed_calls_are_made_from_the_ray_actors(cluster, london16, london16_manifest,
                                                        tmp_path):
    """An http matcher (mode: embed) extracts through the actors too: every image is sent
    once per run, and the tables equal the local executor's."""
    from tests.matchers.http_server import FaceServer

    with FaceServer() as srv:
        cfg = {"dataset": {"manifest": str(london16_manifest), "root": str(london16),
                           "attributes": ["eth"]},
               "matcher": {"name": "http", "batch_size": 4, "params": {
                   "url": srv.url, "model": "test-server v1", "embedding_size": 8,
                   "concurrency": 2}},
               "verification": {"target_fmr": [0.1], "bootstrap": {"replicates": 20},
                                "permutations": 9},
               "cache": {"dir": str(tmp_path / "local-cache")}}
        run = same_as_local(cfg, tmp_path, cache={"dir": str(tmp_path / "ray-cache")})
        n = run.record["dataset"]["n_images"]
        assert len(srv.calls) == 2 * n and set(srv.counts().values()) == {2}
    assert run.record["capture"]["extraction"]["mode"] == "executor"
    assert run.record["provenance"]["executor"]["actors"] >= 1


def _die_once(marker: str, fn, shared, item):  # type: ignore[no-untyped-def]
    """``fn``, except that the first call anywhere kills its worker process outright."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return fn(shared, item)
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    os._exit(1)


class DyingRay(RayExecutor):
    """Ray whose first task's worker dies in the middle of the run."""

    marker = ""

    def imap(self, fn, items, shared=None):  # type: ignore[no-untyped-def]
        return super().imap(partial(_die_once, self.marker, fn), items, shared)


def test_a_killed_worker_is_retried_and_the_counts_are_identical(cluster, tmp_path):
    DyingRay.marker = str(tmp_path / "died")
    executors.register("dying-ray", DyingRay)
    try:
        run = same_as_local(SIM_1TO1, tmp_path, {"name": "dying-ray", "address": "local"})
    finally:
        executors.unregister("dying-ray")
    pid = int(Path(DyingRay.marker).read_text())  # a worker really died in the run
    assert not Path(f"/proc/{pid}").exists()
    assert run.record["provenance"]["executor"]["tasks"] >= 3
    assert run.record["comparisons"]["mated"] == 1200


def test_a_worker_that_keeps_dying_is_one_clear_error(cluster, tmp_path):
    from fairbench.errors import FairbenchError

    with RayExecutor(max_retries=0) as ex, pytest.raises(FairbenchError) as e:
        ex.map(partial(_die_once, str(tmp_path / "died"), _stats_where_it_runs), [0, 1])
    assert e.match("a Ray worker died running one task, 1 attempt in all \\(WorkerCrashedError")


class _Counter:
    def __init__(self) -> None:
        self.pid = os.getpid()


def _dies_first(marker: str, state: _Counter, item: int) -> tuple[int, int]:
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return item * item, state.pid
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    os._exit(1)


def test_a_killed_actor_is_restarted_and_its_call_retried(cluster, tmp_path):
    marker = tmp_path / "died"
    with RayExecutor() as ex:
        out = ex.map_with_state(_Counter, partial(_dies_first, str(marker)), list(range(12)))
    assert [v for v, _ in out] == [k * k for k in range(12)]
    dead = int(marker.read_text())
    assert dead not in {pid for _, pid in out}  # the call ran again in a rebuilt actor
    assert not Path(f"/proc/{dead}").exists()


def _boom(shared, item):
    from fairbench.errors import DataError

    raise DataError(f"bad item {item}")


def test_a_fairbench_error_in_a_task_arrives_as_itself(cluster):
    from fairbench.errors import DataError

    with RayExecutor() as ex, pytest.raises(DataError, match="bad item 0"):
        ex.map(_boom, [0])


def _family(root: int) -> dict[int, str]:
    """Every live descendant of ``root``: pid -> command line."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(d))
    out, todo = {}, [root]
    while todo:
        for c in children.get(todo.pop(), []):
            cmd = _cmdline(c)
            if cmd is not None:
                out[c] = cmd
            todo.append(c)
    return out


def _cmdline(pid: int) -> str | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None
    return None if state == "Z" else raw.replace(b"\0", b" ").decode(errors="replace")


@pytest.mark.parametrize("to", ["driver", "process group"])
def test_ctrl_c_exits_130_and_leaves_no_ray_process(tmp_path, to):
    """``fairbench run`` on its own private cluster, interrupted while tasks run (SIGINT to
    the driver, or to its whole process group as a terminal's Ctrl-C does)."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(textwrap.dedent("""
        dataset: {simulate: {n_subjects: 15000, groups: 3, dim: 256, seed: 0}}
        matcher: {name: simulated}
        verification: {target_fmr: [1.0e-3], block_size: 512, permutations: 0}
        executor: {name: ray, address: local, num_cpus: 2}
    """))
    p = subprocess.Popen([sys.executable, "-m", "fairbench.cli", "run", str(cfg), "-o",
                          str(tmp_path / "out"), "--no-progress"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    seen: dict[int, str] = {}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and p.poll() is None:
        seen.update(_family(p.pid))
        if any(c.startswith("ray::_call") for c in seen.values()):
            break
        time.sleep(0.1)
    assert any(c.startswith("ray::_call") for c in seen.values()), (seen, p.poll())
    assert any("raylet" in c for c in seen.values())
    seen.update(_family(p.pid))
    if to == "driver":
        p.send_signal(signal.SIGINT)
    else:
        os.killpg(p.pid, signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err[-3000:]
    assert "Traceback" not in err
    assert "interrupted: nothing was written to the results folder" in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    left = {}
    for _ in range(100):  # Ray's processes may take a moment to exit
        left = {pid: cmd for pid, cmd in seen.items() if _cmdline(pid) is not None}
        if not left:
            break
        time.sleep(0.1)
    assert left == {}, left
