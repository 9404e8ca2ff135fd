"""ONNX Runtime providers: run.json records the ones that really ran, and a requested
provider that did not run (CUDA on a CPU-only onnxruntime) is said in a note."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort
import pytest

import tests.matchers.test_onnx_matcher as onnx_tests
from fairbench.matchers.onnx_matcher import OnnxMatcher
from fairbench.onnxrt import provider_note

GPU = ["CUDAExecutionProvider", "CPUExecutionProvider"]


@pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(),
                    reason="onnxruntime-gpu is installed: CUDA really runs here")
def test_a_gpu_provider_that_did_not_run_is_recorded_as_such(models_dir: Path) -> None:
    info = OnnxMatcher(**onnx_tests.faceres_params(models_dir, providers=GPU)).info()
    assert info.providers == ["CPUExecutionProvider"]  # what ran, not what was asked
    assert info.details["providers_requested"] == GPU
    note = info.details["provider_note"]
    assert note.startswith("ONNX Runtime did not run CUDAExecutionProvider (requested: "
                           "CUDAExecutionProvider, CPUExecutionProvider; ran: "
                           "CPUExecutionProvider)")
    assert "onnxruntime-gpu package instead of onnxruntime" in note


def test_the_cpu_provider_alone_needs_no_note(models_dir: Path) -> None:
    info = OnnxMatcher(**onnx_tests.faceres_params(models_dir)).info()
    assert info.providers == ["CPUExecutionProvider"]
    assert "provider_note" not in info.details


def test_provider_note_names_every_provider_that_did_not_run() -> None:
    assert provider_note(GPU, GPU) is None
    note = provider_note(["TensorrtExecutionProvider", "CUDAExecutionProvider",
                          "CPUExecutionProvider"], ["CUDAExecutionProvider",
                                                    "CPUExecutionProvider"])
    assert note.startswith("ONNX Runtime did not run TensorrtExecutionProvider (")
    assert "onnxruntime-gpu" in note
    assert "onnxruntime-gpu" not in provider_note(["OpenVINOExecutionProvider"], ["CPU"])


def test_the_note_reaches_run_json(tmp_path: Path) -> None:
    import fairbench
    from fairbench.config import load_config_dict
    from fairbench.data.load import simulated_dataset
    from fairbench.matchers.precomputed import InMemoryMatcher

    cfg = {"dataset": {"simulate": {"n_subjects": 60, "dim": 8}}, "matcher": {"name": "simulated"},
           "verification": {"bootstrap": {"replicates": 5}, "permutations": 0}}
    ds, sim = simulated_dataset(load_config_dict(cfg, source="<t>").dataset)
    note = provider_note(GPU, ["CPUExecutionProvider"])
    m = InMemoryMatcher(ds.manifest.frame["image_id"].tolist(), sim, "cosine",
                        details={"provider_note": note})
    run = fairbench.run(cfg, tmp_path, progress=False, matcher=m)
    assert note in run.record["notes"]
