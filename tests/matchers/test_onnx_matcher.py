"""The ONNX matcher on real models: detection, separation of mates, failures, provenance."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from fairbench.errors import MatcherError
from fairbench.matchers.base import NO_FACE, FaceResult, decode_image
from fairbench.matchers.onnx_matcher import OnnxMatcher

REPO = Path(__file__).resolve().parents[2]
FACERES_SHA = "a87574f3b7ecb943090e8f9912faa5690f5ff1fbcc48be5dc3ba10b0adc44abd"


def faceres_params(models: Path, **over: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "model": str(models / "faceres.onnx"),
        "sha256": FACERES_SHA,
        "input": {"name": "input_1:0", "size": 224},
        "output": "global_pooling/Mean",
        "align": {"margin": 0.25},
        "detector": {"model": str(models / "yunet_s_640_640.onnx")},
    }
    params.update(over)
    return params


def mobileface_params(models: Path) -> dict[str, Any]:
    return {
        "model": str(models / "mobileface.onnx"),
        "input": {"name": "data:0", "size": 112},
        "output": "batchnorm0/add_1:0",
        "detector": {"model": str(models / "yunet_s_640_640.onnx")},
    }


@pytest.fixture(scope="module")
def london_images(london16: Path) -> tuple[list[np.ndarray], np.ndarray]:
    with open(london16 / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    images = [decode_image((london16 / r["file"]).read_bytes()) for r in rows]
    assert all(img is not None for img in images)
    return images, np.array([r["face_id"] for r in rows])  # type: ignore[return-value]


def embed_all(matcher: OnnxMatcher, images: list[np.ndarray]) -> list[FaceResult]:
    out: list[FaceResult] = []
    for k in range(0, len(images), 16):
        out += matcher.safe_embed_batch(images[k : k + 16])
    return out


def genuine_impostor(results: list[FaceResult], subjects: np.ndarray) -> tuple[np.ndarray, ...]:
    emb = np.stack([r.embedding for r in results])
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    sims = emb @ emb.T
    iu = np.triu_indices(len(emb), 1)
    same = (subjects[:, None] == subjects[None, :])[iu]
    return sims[iu][same], sims[iu][~same], sims


@pytest.fixture(scope="module")
def faceres_results(models_dir: Path, london_images: Any) -> list[FaceResult]:
    return embed_all(OnnxMatcher(**faceres_params(models_dir)), london_images[0])


def test_faceres_detects_every_london16_face(faceres_results: list[FaceResult]) -> None:
    assert len(faceres_results) == 32
    for r in faceres_results:
        assert r.acquired, r.failure_reason
        assert r.embedding is not None and r.embedding.shape == (1024,)
        assert r.n_faces == 1
        assert r.detector_score is not None and r.detector_score > 0.7
        x, y, w, h = r.face_box  # type: ignore[misc]
        assert min(x, y) >= 0 and max(x + w, y + h) <= 330 and w > 50  # 320 px images


def test_faceres_separates_mates_from_non_mates(
    faceres_results: list[FaceResult], london_images: Any
) -> None:
    subjects = london_images[1]
    genuine, impostor, sims = genuine_impostor(faceres_results, subjects)
    assert len(genuine) == 16 and len(impostor) == 480
    # measured: genuine mean 0.89 (min 0.79), impostor mean 0.43 (max 0.71)
    assert genuine.mean() > 0.8 and impostor.mean() < 0.55
    assert genuine.min() > impostor.max()  # zero-error threshold exists (EER 0)
    np.fill_diagonal(sims, -np.inf)
    assert (subjects[sims.argmax(axis=1)] == subjects).all()  # rank-1 100 %


def test_mobileface_runs_and_separates(models_dir: Path, london_images: Any) -> None:
    images, subjects = london_images
    matcher = OnnxMatcher(**mobileface_params(models_dir))
    results = embed_all(matcher, images)
    assert all(r.acquired for r in results)
    assert results[0].embedding.shape == (256,)  # type: ignore[union-attr]
    genuine, impostor, _ = genuine_impostor(results, subjects)
    # measured: genuine mean 0.73, impostor mean 0.14; weaker model, so some overlap
    assert genuine.mean() - impostor.mean() > 0.4
    assert matcher.info().embedding_size == 256


def test_blank_image_is_no_face(models_dir: Path, london_images: Any) -> None:
    matcher = OnnxMatcher(**faceres_params(models_dir))
    grey = np.full((320, 320, 3), 128, dtype=np.uint8)
    blank, face = matcher.safe_embed_batch([grey, london_images[0][0]])
    assert blank.failure_reason == NO_FACE and blank.n_faces == 0 and blank.embedding is None
    assert face.acquired


def test_large_image_detects_through_downscale(models_dir: Path, london_images: Any) -> None:
    import cv2

    matcher = OnnxMatcher(**faceres_params(models_dir))
    small = london_images[0][0]
    big = cv2.resize(small, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)  # 1280 px
    r_small, r_big = matcher.embed_batch([small, big])
    assert r_big.acquired
    assert np.allclose(np.array(r_big.face_box) / 4, r_small.face_box, atol=4)
    a, b = (r.embedding / np.linalg.norm(r.embedding) for r in (r_small, r_big))
    assert float(a @ b) > 0.9


def test_wrong_sha256_names_file_and_both_hashes(models_dir: Path) -> None:
    wrong = "0" * 64
    matcher = OnnxMatcher(**faceres_params(models_dir, sha256=wrong))
    with pytest.raises(MatcherError) as err:
        matcher.info()
    msg = err.value.render()
    assert "faceres.onnx" in msg and wrong in msg and FACERES_SHA in msg


def test_unknown_params_key_is_an_error() -> None:
    with pytest.raises(MatcherError) as err:
        OnnxMatcher(
            model="m.onnx",
            input={"name": "x", "size": 112, "sise": 3},
            output="y",
            detector={"model": "d.onnx"},
            colour="RGB",
        )
    msg = err.value.render()
    assert "matcher.params.colour" in msg and "matcher.params.input.sise" in msg


def test_missing_model_names_path_and_key(tmp_path: Path, models_dir: Path) -> None:
    missing = tmp_path / "nope.onnx"
    with pytest.raises(MatcherError) as err:
        OnnxMatcher(**faceres_params(models_dir, model=str(missing)))
    assert "matcher.params.model" in str(err.value) and str(missing) in str(err.value)


def test_info_records_provenance_and_providers(models_dir: Path) -> None:
    params = faceres_params(
        models_dir, providers=["NoSuchExecutionProvider", "CPUExecutionProvider"]
    )
    info = OnnxMatcher(**params).info()
    assert info.name == "onnx" and "onnxruntime" in info.version and "faceres" in info.version
    assert info.weights_sha256["faceres.onnx"] == FACERES_SHA
    assert info.weights_sha256["yunet_s_640_640.onnx"].startswith("8f2383e4dd3cfbb4")
    assert info.embedding_size == 1024 and info.providers == ["CPUExecutionProvider"]
    assert info.native_direction == "higher_is_more_alike"
    with pytest.raises(MatcherError, match="providers"):
        OnnxMatcher(**faceres_params(models_dir, providers=["NoSuchExecutionProvider"])).info()


def test_euclidean_similarity_is_per_instance(models_dir: Path) -> None:
    euclid = OnnxMatcher(**faceres_params(models_dir, similarity="euclidean"))
    cosine = OnnxMatcher(**faceres_params(models_dir))
    assert euclid.similarity == "euclidean" and cosine.similarity == "cosine"
    assert OnnxMatcher.similarity == "cosine"
    assert euclid.similarity == "euclidean" and cosine.similarity == "cosine"
    assert euclid.info().native_direction == "lower_is_more_alike"


def test_preprocess_follows_input_spec(models_dir: Path) -> None:
    spec = {
        "name": "input_1:0",
        "size": 2,
        "layout": "NCHW",
        "color": "BGR",
        "scale": 1 / 255,
        "mean": [0.5, 0.5, 0.0],
        "std": 0.5,
    }
    matcher = OnnxMatcher(**faceres_params(models_dir, input=spec))
    crops = np.zeros((1, 2, 2, 3), dtype=np.uint8)
    crops[..., 0] = 255  # red
    x = matcher.preprocess(crops)
    assert x.shape == (1, 3, 2, 2) and x.dtype == np.float32
    # channel 0 is blue after BGR: (0 - 0.5) / 0.5; channel 2 is red: (1 - 0) / 0.5
    assert np.allclose(x[0, :, 0, 0], [-1.0, -1.0, 2.0])


@pytest.mark.parametrize("name", ["faceres", "mobileface"])
def test_shipped_configs_build_and_pin_the_real_weights(name: str, models_dir: Path) -> None:
    cfg = yaml.safe_load((REPO / "configs" / f"london-{name}.yaml").read_text())
    params = cfg["matcher"]["params"]
    assert params["model"] == f"../shared/models/{name}.onnx"
    params["model"] = str(models_dir / f"{name}.onnx")
    params["detector"]["model"] = str(models_dir / Path(params["detector"]["model"]).name)
    info = OnnxMatcher(**params).info()  # raises on a sha256 mismatch
    assert info.weights_sha256[f"{name}.onnx"] == params["sha256"]
