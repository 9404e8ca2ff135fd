"""The executor seam without Ray: config, registry, the clear 'install Ray' error, and the
exact reductions the kernels hand a remote executor (checked with an in-process one)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from fairbench.config import ExecutorConfig, load_config_dict
from fairbench.errors import ConfigError
from fairbench.executors import LocalExecutor, open_executor
from fairbench.registry import executors

SIM = {"dataset": {"simulate": {"n_subjects": 300, "groups": 3, "dim": 16, "seed": 2}},
       "matcher": {"name": "simulated"}}


class InlineRemote(LocalExecutor):
    """Runs here, but says it is remote: kernels then cut their work into bands and shards
    exactly as for a cluster, so the reductions are checked without starting one."""

    name = "inline-remote"
    remote = True

    def __init__(self, parallel: int = 3, **_: object) -> None:
        self.parallel = parallel
        self.calls = 0

    def parallelism(self) -> int:
        return self.parallel

    def imap(self, fn, items, shared=None):  # type: ignore[no-untyped-def]
        """Calls finish last to first: every caller must put them back in order."""
        self.calls += len(items)
        for k in reversed(range(len(items))):
            yield k, fn(shared, items[k])


def test_the_section_is_strict_and_names_its_key():
    cfg = load_config_dict({**SIM, "executor": {"name": "ray", "address": "ray://head:10001",
                                                "num_cpus": 8}})
    assert cfg.executor.address == "ray://head:10001" and cfg.executor.num_cpus == 8
    bad = [({"name": "local", "address": "auto"}, "executor: .*executor.address is for a"),
           ({"name": "ray", "address": "head:10001"}, "executor.address: String should"),
           ({"name": "ray", "num_cpus": 0}, "executor.num_cpus: Input should be greater"),
           ({"name": "ray", "nodes": 3}, "executor.nodes: unknown key")]
    for section, msg in bad:
        with pytest.raises(ConfigError) as e:
            load_config_dict({**SIM, "executor": section})
        assert e.match(msg), e.value.render()
    with pytest.raises(ConfigError, match="executor.name: unknown executor 'rey'. Did you "
                                          "mean 'ray'"):
        open_executor(ExecutorConfig(name="rey"))


def test_the_executor_is_recorded_but_not_hashed():
    a = load_config_dict(dict(SIM))
    b = load_config_dict({**SIM, "executor": {"name": "ray", "address": "auto"}})
    assert a.hash() == b.hash()
    assert b.resolved()["executor"] == {"name": "ray", "address": "auto", "num_cpus": None}
    assert a.resolved()["executor"]["name"] == "local"
    c = load_config_dict({**SIM, "verification": {"histogram_bins": 128}})
    assert c.hash() != a.hash()  # what the run computes still changes the hash


def test_builtins_load_through_entry_points():
    assert {"local", "ray"} <= set(executors.names())
    assert executors.get("local") is LocalExecutor


def test_local_executor_maps_in_order_and_builds_state_once():
    built = []

    def make():
        built.append(1)
        return {"scale": 3}

    with open_executor() as ex:
        assert ex.map(lambda s, x: s + x, [1, 2, 3], shared=10) == [11, 12, 13]
        assert ex.map_with_state(make, lambda st, x: st["scale"] * x, [1, 2]) == [3, 6]
        assert ex.map_with_state(make, lambda st, x: x, []) == []
        assert built == [1]
        assert ex.record() == {"name": "local", "cpus": ex.parallelism(), "nodes_used": 1}


def test_the_local_executor_and_the_kernels_count_the_cpus_this_process_may_use(
        monkeypatch):
    """Under ``taskset`` or a container's cpuset the affinity mask, not the host's CPU
    count, sizes the local executor and the pass's threads (the host's count would run
    more threads than cores)."""
    import os

    from fairbench.core import cpus
    from fairbench.kernels import stream as K

    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {3}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert cpus.cores() == 1 and LocalExecutor().parallelism() == 1
    started = []
    monkeypatch.setattr(K, "run_workers", lambda work, threads: started.append(threads))
    x = np.eye(3, dtype=np.float32)
    inp = K.prepare_stream(x, "cosine", np.array([0, 0, 1]), np.array([0, 0, 0]))
    K.stream(inp, np.zeros((1, 1), np.int64), 1, -1.0, 1.0, 8, 7, block=2)
    assert started == [1]
    monkeypatch.delattr(os, "sched_getaffinity")  # a platform without affinity masks
    assert cpus.cores() == 64


def test_ray_missing_is_one_clear_message_and_exit_2(monkeypatch, tmp_path, fairbench_cmd):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    cfg = tmp_path / "c.yaml"
    cfg.write_text("dataset: {simulate: {n_subjects: 50}}\nmatcher: {name: simulated}\n"
                   "executor: {name: ray, address: local}\n")
    got = fairbench_cmd("run", cfg, "-o", tmp_path / "o", "--no-progress")
    assert got.code == 2, got.err
    assert "Traceback" not in got.err
    assert 'executor.name: ray needs Ray, which is not installed here: pip install ' \
           '"fairbench[ray]" (from a checkout: pip install -e ".[ray]")' in got.err
    assert not (tmp_path / "o").exists()


@pytest.fixture()
def inline(monkeypatch):
    ex = InlineRemote()
    executors.register("inline-remote", lambda **_: ex)
    yield ex
    executors.unregister("inline-remote")


def _tables(run) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {k: v.to_csv(index=False, lineterminator="\n") for k, v in run.tables.items()}


def test_row_bands_through_an_executor_give_the_local_counts(inline, monkeypatch, tmp_path):
    """Both passes as bands (a sampled floor in the top bin forces the second, exact pass),
    failed templates included: counts and tables equal local."""
    import fairbench
    from fairbench.engine import allpairs
    from fairbench.engine.allpairs import count_verification
    from fairbench.kernels.stream import row_bands
    from fairbench.plan import make_plan

    monkeypatch.setattr(allpairs, "_estimated_floor", lambda binning, *a:
                        binning.bins - 1)
    cfg = {**SIM, "verification": {"target_fmr": [1e-2, 1e-3], "block_size": 64,
                                   "fixed_thresholds": [0.05], "bootstrap": {"replicates": 20},
                                   "permutations": 9}}
    local = fairbench.run(cfg, tmp_path / "a", progress=False)
    remote = fairbench.run({**cfg, "executor": {"name": "inline-remote"}}, tmp_path / "b",
                           progress=False)
    bands = row_bands(600, 64, 2 * inline.parallelism())
    assert len(bands) == 6 and inline.calls == 2 * len(bands)  # two passes, six bands each
    assert _tables(local) == _tables(remote)
    (_, ca), (_, cb) = local.arrays, remote.arrays
    assert np.array_equal(ca.hist, cb.hist)
    assert np.array_equal(ca.mated_s, cb.mated_s) and ca.kept_floor_bin == cb.kept_floor_bin
    key = lambda c: sorted(zip(c.kept_i.tolist(), c.kept_j.tolist(), c.kept_s.tolist()))  # noqa: E731
    assert key(ca) == key(cb)
    assert remote.record["provenance"]["executor"]["name"] == "inline-remote"

    rng = np.random.default_rng(0)
    import pandas as pd

    n = 400
    frame = pd.DataFrame({"subject_id": (np.arange(n) // 2).astype(str),
                          "image_id": np.arange(n).astype(str), "g": rng.integers(0, 2, n)})
    plan = make_plan(frame, ["g"], {})
    emb = rng.standard_normal((n, 8)).astype(np.float32)
    emb[[3, 200]] = np.nan
    two = 2 * plan.n_strata * (plan.n_strata + 1) // 2 * 256 * 8  # bytes of two histograms
    for kind in ("cosine", "euclidean"):
        whole, fa = count_verification(emb, kind, plan, [], [0.05], 256, 64, threads=2)
        before = inline.calls
        # the driver sums bands as they come: two histograms at once, however many bands
        parts, fb = count_verification(emb, kind, plan, [], [0.05], 256, 64, executor=inline,
                                       max_hist_bytes=two)
        # two passes (the patched floor), each over the bands of two per CPU
        assert inline.calls - before == 2 * len(row_bands(400, 64, 6)) > 2 * 2
        assert np.array_equal(whole.hist, parts.hist)
        assert np.array_equal(whole.mated_s, parts.mated_s) and np.array_equal(fa, fb)
        assert key(whole) == key(parts)


def test_people_tail_bands_merge_to_the_local_records(inline):
    """verification.tail: people as row bands: a pair of (person, stratum) met in several
    bands becomes one record again, so the records equal the local pass's, weights too."""
    import pandas as pd

    from fairbench.engine.allpairs import count_verification
    from fairbench.kernels.stream import row_bands
    from fairbench.plan import make_plan

    rng = np.random.default_rng(3)
    n = 360
    frame = pd.DataFrame({"subject_id": (np.arange(n) // 6).astype(str),  # 6 images a person
                          "image_id": np.arange(n).astype(str), "g": rng.integers(0, 2, n)})
    plan = make_plan(frame, ["g"], {})
    emb = rng.integers(-2, 3, (n, 6)).astype(np.float32)
    emb[7] = np.nan
    rec = lambda c: sorted(zip(c.kept_i.tolist(), c.kept_j.tolist(), c.kept_s.tolist(),  # noqa: E731
                               c.kept_w.tolist()))
    for kind in ("cosine", "euclidean"):
        whole, fa = count_verification(emb, kind, plan, [], [0.05, 0.01], 128, 32, threads=2,
                                       tail="people")
        before = inline.calls
        parts, fb = count_verification(emb, kind, plan, [], [0.05, 0.01], 128, 32,
                                       executor=inline, tail="people")
        assert inline.calls - before == 2 * len(row_bands(n, 32, 6))  # counting, then keeping
        assert np.array_equal(whole.hist, parts.hist) and np.array_equal(fa, fb)
        assert np.array_equal(whole.kept_exact, parts.kept_exact)
        assert (whole.kept_w > 1).any() and rec(whole) == rec(parts)


@pytest.mark.parametrize("kind", ["cosine", "euclidean"])
def test_gallery_shards_merge_to_the_local_top_k_ties_included(monkeypatch, kind):
    """Integer templates tie everywhere: the merged lists equal the local kernel's bit for
    bit (shards of several whole blocks, probe chunks, failed rows on both sides)."""
    from fairbench.engine import search as es
    from fairbench.kernels.search import search_topk

    monkeypatch.setattr(es, "GALLERY_BLOCK", 32)
    monkeypatch.setattr(es, "PROBE_BLOCK", 16)
    rng = np.random.default_rng(1)
    gallery = rng.integers(-1, 2, (300, 4)).astype(np.float32)
    probes = rng.integers(-1, 2, (90, 4)).astype(np.float32)
    gallery[[5, 77]] = np.nan
    probes[4] = np.nan
    gallery[9] = 0
    for k in (1, 7, 40):
        want = search_topk(probes, gallery, k, kind, block=32, probe_block=16, threads=2)
        got = es.sharded_topk(InlineRemote(parallel=4), probes, gallery, k, kind)
        assert np.array_equal(want[0], got[0]) and np.array_equal(want[1], got[1]), k
        if k > 1:  # the case is really one of ties, across shards
            starts = [a for a, _ in es._cuts(300, 32, 8)]
            assert len(starts) > 2
            shard = np.searchsorted(starts, want[1], side="right")
            tied = (want[0][:, :-1] == want[0][:, 1:]) & np.isfinite(want[0][:, 1:])
            assert (tied & (shard[:, :-1] != shard[:, 1:])).any()


def test_a_1n_run_through_an_executor_gives_the_local_tables(inline, monkeypatch, tmp_path):
    import fairbench
    from fairbench.engine import search as es

    monkeypatch.setattr(es, "GALLERY_BLOCK", 64)  # several shards on a small gallery
    cfg = {"dataset": {"simulate": {"n_subjects": 400, "groups": 3, "dim": 8, "seed": 3,
                                    "images_per_subject": 3}},
           "matcher": {"name": "simulated"}, "identification": {"bootstrap": {"replicates": 20}}}
    local = fairbench.run(cfg, tmp_path / "a", progress=False)
    remote = fairbench.run({**cfg, "executor": {"name": "inline-remote"}}, tmp_path / "b",
                           progress=False)
    assert inline.calls > 4
    assert _tables(local) == _tables(remote)
