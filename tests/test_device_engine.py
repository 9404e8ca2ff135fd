"""The device knob end to end: config, the engine's branch, run.json, and the clear error
when a GPU is asked for and missing (no silent fallback to the CPU)."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

import fairbench
from fairbench.config import load_config_dict
from fairbench.engine.allpairs import count_verification
from fairbench.engine.search import run_searches
from fairbench.errors import ConfigError
from fairbench.kernels.device import DeviceUnavailable, array_module, cuda_problem
from fairbench.pipeline.devices import check_devices
from fairbench.plan import make_plan
from tests.generated import generated

SIM = {"dataset": {"simulate": {"n_subjects": 120, "groups": 3, "dim": 16, "seed": 4,
                                "images_per_subject": 3}},
       "matcher": {"name": "simulated"}}


@pytest.mark.parametrize("kind", ["cosine", "euclidean"])
def test_count_verification_on_the_numpy_device_equals_the_cpu_kernel(kind):
    frame, emb = generated(kind, n_subjects=70, seed=9)
    plan = make_plan(frame, ["grp", "sex"])
    args = (emb, kind, plan, [0.25 if kind == "cosine" else -2.0], [0.05, 0.01])
    cpu, f1 = count_verification(*args, bins=64, block=16, threads=2)
    dev, f2 = count_verification(*args, bins=64, block=16, device="numpy")
    assert np.array_equal(cpu.hist, dev.hist) and np.array_equal(f1, f2)
    assert np.array_equal(cpu.mated_s.view(np.uint32), dev.mated_s.view(np.uint32))
    assert cpu.kept_floor_bin == dev.kept_floor_bin
    key = lambda c: sorted(zip(c.kept_i.tolist(), c.kept_j.tolist(), c.kept_s.tolist()))  # noqa: E731
    assert key(cpu) == key(dev) and len(cpu.kept_s) > 0


def test_run_searches_on_the_numpy_device_equals_the_cpu_kernel():
    frame, emb = generated("cosine", n_subjects=200, seed=1)
    plan = make_plan(frame, ["grp"])
    first = np.r_[True, plan.subject[1:] != plan.subject[:-1]]
    gallery, probes = np.flatnonzero(first), np.flatnonzero(~first)
    mated = np.ones(len(probes), bool)
    a = run_searches(emb, plan, gallery, probes, mated, 5, "cosine")
    b = run_searches(emb, plan, gallery, probes, mated, 5, "cosine", device="numpy")
    for f in ("mate_rank", "mate_score", "nonmate_score", "nonmate_subject"):
        assert np.array_equal(getattr(a, f), getattr(b, f)), f


def test_precision_needs_the_gpu_and_unknown_devices_are_refused():
    with pytest.raises(ConfigError, match="precision: tf32 is for device: cuda"):
        load_config_dict({**SIM, "verification": {"precision": "tf32"}}, source="<t>")
    with pytest.raises(ConfigError, match="device"):
        load_config_dict({**SIM, "verification": {"device": "gpu"}}, source="<t>")
    cfg = load_config_dict({**SIM, "verification": {"device": "cuda", "precision": "float16"}},
                           source="<t>")
    assert cfg.verification.precision == "float16"


def test_cuda_without_cupy_is_a_config_error_saying_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # as if CuPy were not installed
    assert 'pip install "fairbench[gpu]"' in cuda_problem()
    with pytest.raises(DeviceUnavailable, match="CuPy is not installed"):
        array_module("cuda")
    cfg = load_config_dict({**SIM, "verification": {"device": "cuda"}}, source="<t>")
    with pytest.raises(ConfigError) as e:
        check_devices(cfg)
    assert "verification.device: cuda cannot run here" in str(e.value)
    assert 'pip install "fairbench[gpu]"' in str(e.value)


def test_cuda_with_cupy_but_no_gpu_is_a_config_error(monkeypatch):
    def no_gpu():
        raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

    fake = types.SimpleNamespace(__version__="13.0.0", cuda=types.SimpleNamespace(
        runtime=types.SimpleNamespace(getDeviceCount=no_gpu)))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    assert "finds no usable CUDA GPU (cudaErrorNoDevice" in cuda_problem()
    cfg = load_config_dict({**SIM, "identification": {"device": "cuda"}}, source="<t>")
    with pytest.raises(ConfigError, match="identification.device: cuda cannot run here"):
        check_devices(cfg)
    fake.cuda.runtime.getDeviceCount = lambda: 1  # a GPU, but the run asks for a cluster
    cfg = load_config_dict({**SIM, "verification": {"device": "cuda"},
                            "executor": {"name": "ray"}}, source="<t>")
    with pytest.raises(ConfigError, match="not through executor 'ray'"):
        check_devices(cfg)


def test_the_cli_exits_2_before_any_work(tmp_path, monkeypatch, fairbench_cmd):
    monkeypatch.setitem(sys.modules, "cupy", None)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("dataset: {simulate: {n_subjects: 50}}\nmatcher: {name: simulated}\n"
                   "verification: {device: cuda}\n")
    got = fairbench_cmd("run", cfg, "-o", tmp_path / "o", "--no-progress")
    assert got.code == 2 and "Traceback" not in got.err, got.err
    assert 'pip install "fairbench[gpu]"' in got.err
    assert not (tmp_path / "o").exists()


def test_run_json_records_the_kernel_that_ran(tmp_path):
    run = fairbench.run({**SIM, "verification": {"bootstrap": {"replicates": 10},
                                                 "permutations": 0}},
                        tmp_path / "a", progress=False)
    rec = run.record["provenance"]["kernels"]["verification"]
    assert rec == {"device": "cpu", "precision": "float32", "kernel": "fairbench.kernels.stream",
                   "tail": "pairs"}  # auto: these pairs fit
