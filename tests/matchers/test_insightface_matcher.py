"""InsightFaceMatcher on a tiny model pack built here with ``onnx.helper`` (no downloads).

The fake SCRFD detector ignores pixel values and, for any input size, reports two faces at
fixed places in the detector's frame: a small very confident one (stride 8) and a larger,
slightly less confident one (stride 32). The fake ArcFace recogniser is average-pool +
flatten + a fixed random matrix, so different crops give different embeddings.
"""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper

from fairbench.errors import MatcherError
from fairbench.matchers.base import NO_FACE, ImageRecord
from fairbench.matchers.insightface_matcher import InsightFaceMatcher

EMB = 24
DET_SIZE = [320, 320]
ARCFACE_5 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)
#: stride -> (grid x, grid y, score, half box side in stride units)
FACES = {8: (4, 4, 0.95, 2.0), 32: (5, 5, 0.9, 2.0)}
#: In a 320 x 320 image (detector scale 1): small face box and large face box, x1 y1 x2 y2.
SMALL_BOX = (16.0, 16.0, 48.0, 48.0)
LARGE_BOX = (96.0, 96.0, 224.0, 224.0)


# --- model builders -------------------------------------------------------------------------
def _const(name: str, value: np.ndarray | float) -> onnx.NodeProto:
    arr = np.asarray(value, dtype=np.float32)
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(arr, name))


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def make_scrfd(path: Path, with_kps: bool = True) -> Path:
    """SCRFD-style detector: input 1x3xHxW; per stride 8/16/32 scores (2n x 1), boxes
    (2n x 4) and, with ``with_kps``, 5 keypoints (2n x 10), n = (H/s)(W/s), 2 anchors.

    Only the first anchor at ``FACES[stride]``'s grid cell scores above zero; every anchor
    gets the same box and landmark offsets (an ArcFace-template face filling its box).
    """
    nodes: list[onnx.NodeProto] = []
    scores, boxes, kpss = [], [], []
    for s in (8, 16, 32):
        gx, gy, score, half = FACES.get(s, (0, 0, 0.0, 1.0))
        t = f"s{s}_"
        kps = ((ARCFACE_5 - 56.0) / 56.0 * half).reshape(1, 10)
        nodes += [
            helper.make_node(
                "AveragePool", ["input.1"], [t + "pool"], kernel_shape=[s, s], strides=[s, s]
            ),
            helper.make_node("ReduceMean", [t + "pool"], [t + "mean"], axes=[1], keepdims=1),
            _const(t + "zero_c", 0.0),
            _const(t + "one_c", 1.0),
            helper.make_node("Mul", [t + "mean", t + "zero_c"], [t + "zeros"]),
            helper.make_node("Add", [t + "zeros", t + "one_c"], [t + "ones"]),
            helper.make_node("CumSum", [t + "ones", "axis3"], [t + "cx"]),
            helper.make_node("CumSum", [t + "ones", "axis2"], [t + "cy"]),
            _const(t + "gx", gx + 1.0),
            _const(t + "gy", gy + 1.0),
            helper.make_node("Equal", [t + "cx", t + "gx"], [t + "ex"]),
            helper.make_node("Equal", [t + "cy", t + "gy"], [t + "ey"]),
            helper.make_node("And", [t + "ex", t + "ey"], [t + "hit_b"]),
            helper.make_node("Cast", [t + "hit_b"], [t + "hit"], to=TensorProto.FLOAT),
            _const(t + "score", score),
            helper.make_node("Mul", [t + "hit", t + "score"], [t + "pos"]),
            helper.make_node("Reshape", [t + "pos", "col"], [t + "a0"]),
            helper.make_node("Reshape", [t + "zeros", "col"], [t + "a1"]),
            helper.make_node("Concat", [t + "a0", t + "a1"], [t + "pair"], axis=1),
            helper.make_node("Reshape", [t + "pair", "col"], [f"score_{s}"]),
            helper.make_node("Mul", [f"score_{s}", t + "zero_c"], [t + "z2"]),
            helper.make_node("Add", [t + "z2", t + "one_c"], [t + "ones2"]),
            _const(t + "box_c", np.full((1, 4), half)),
            helper.make_node("Mul", [t + "ones2", t + "box_c"], [f"bbox_{s}"]),
            _const(t + "kps_c", kps),
            helper.make_node("Mul", [t + "ones2", t + "kps_c"], [f"kps_{s}"]),
        ]
        scores.append(helper.make_tensor_value_info(f"score_{s}", TensorProto.FLOAT, [f"n{s}", 1]))
        boxes.append(helper.make_tensor_value_info(f"bbox_{s}", TensorProto.FLOAT, [f"n{s}", 4]))
        kpss.append(helper.make_tensor_value_info(f"kps_{s}", TensorProto.FLOAT, [f"n{s}", 10]))
    inits = [
        numpy_helper.from_array(np.array(3, np.int64), "axis3"),
        numpy_helper.from_array(np.array(2, np.int64), "axis2"),
        numpy_helper.from_array(np.array([-1, 1], np.int64), "col"),
    ]
    x = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, "H", "W"])
    outputs = scores + boxes + (kpss if with_kps else [])
    graph = helper.make_graph(nodes, "fake_scrfd", [x], outputs, initializer=inits)
    return _save(graph, path)


def make_arcface(path: Path, dim: int = EMB, seed: int = 0) -> Path:
    """ArcFace-style recogniser: N x 3 x 112 x 112 -> N x dim (pool 8, flatten, matmul)."""
    w = np.random.default_rng(seed).standard_normal((3 * 14 * 14, dim)).astype(np.float32)
    nodes = [
        helper.make_node(
            "AveragePool", ["data"], ["pool"], kernel_shape=[8, 8], strides=[8, 8], name="pool"
        ),
        helper.make_node("Flatten", ["pool"], ["flat"], axis=1, name="flatten"),
        helper.make_node("MatMul", ["flat", "W"], ["fc1"], name="fc"),
    ]
    x = helper.make_tensor_value_info("data", TensorProto.FLOAT, ["N", 3, 112, 112])
    y = helper.make_tensor_value_info("fc1", TensorProto.FLOAT, ["N", dim])
    graph = helper.make_graph(nodes, "fake_arcface", [x], [y], [numpy_helper.from_array(w, "W")])
    return _save(graph, path)


def make_pack(root: Path, *, det: bool = True, rec: bool = True, kps: bool = True) -> Path:
    """A buffalo_l-like folder: det_10g.onnx and w600k_r50.onnx (either may be left out)."""
    root.mkdir(parents=True, exist_ok=True)
    if det:
        make_scrfd(root / "det_10g.onnx", with_kps=kps)
    if rec:
        make_arcface(root / "w600k_r50.onnx")
    return root


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def noise(seed: int, h: int = 320, w: int = 320) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# --- fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pack(tmp_path_factory.mktemp("packs") / "buffalo_fake")


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt by insightface to download (or open a socket) fails the test."""
    import insightface.app.face_analysis as fa
    import insightface.model_zoo.model_zoo as mz

    def boom(*a: object, **k: object) -> None:
        raise AssertionError("tried to download or connect")

    monkeypatch.setattr(fa, "ensure_available", boom)
    monkeypatch.setattr(mz, "download_onnx", boom)
    monkeypatch.setattr(socket.socket, "connect", boom)


@pytest.fixture(scope="module")
def matcher(pack: Path) -> InsightFaceMatcher:
    return InsightFaceMatcher(pack=str(pack), det_size=DET_SIZE)


# --- behaviour ------------------------------------------------------------------------------
def test_constructor_only_stores_params(pack: Path) -> None:
    m = InsightFaceMatcher(pack=str(pack / "not-there"))  # no check, no loading yet
    assert m._loaded is None
    assert m.params.det_size == (640, 640) and m.params.providers == ["CPUExecutionProvider"]


def test_embeds_largest_face_offline(matcher: InsightFaceMatcher) -> None:
    a, b = noise(1), noise(2)
    r1, r2, r3 = matcher.embed_batch([a, a.copy(), b])
    assert r1.acquired and r1.embedding is not None and r1.embedding.shape == (EMB,)
    assert r1.embedding.dtype == np.float32
    assert cosine(r1.embedding, r2.embedding) == pytest.approx(1.0, abs=1e-6)
    assert cosine(r1.embedding, r3.embedding) < 0.99
    # the larger, less confident face is chosen; box is x, y, w, h
    assert r1.n_faces == 2
    assert r1.detector_score == pytest.approx(0.9)
    x1, y1, x2, y2 = LARGE_BOX
    assert r1.face_box == pytest.approx((x1, y1, x2 - x1, y2 - y1), abs=1e-3)


def test_box_is_in_original_image_pixels(matcher: InsightFaceMatcher) -> None:
    (res,) = matcher.embed_batch([noise(3, 160, 160)])  # detector scale 2
    x1, y1, x2, y2 = (v / 2 for v in LARGE_BOX)
    assert res.face_box == pytest.approx((x1, y1, x2 - x1, y2 - y1), abs=1e-3)


def test_rgb_is_converted_to_bgr(pack: Path, matcher: InsightFaceMatcher) -> None:
    from insightface.app import FaceAnalysis

    rgb = noise(4)
    app = FaceAnalysis(
        name=str(pack),
        allowed_modules=["detection", "recognition"],
        providers=["CPUExecutionProvider"],
    )
    app.prepare(ctx_id=0, det_thresh=0.5, det_size=tuple(DET_SIZE))
    faces = app.get(rgb[:, :, ::-1].copy())
    ref = max(faces, key=lambda f: (f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1]))
    (res,) = matcher.embed_batch([rgb])
    np.testing.assert_allclose(res.embedding, ref.embedding, rtol=1e-5, atol=1e-6)
    (swapped,) = matcher.embed_batch([rgb[:, :, ::-1].copy()])
    assert not np.allclose(swapped.embedding, ref.embedding)


def test_embed_records_reads_files(matcher: InsightFaceMatcher, tmp_path: Path) -> None:
    import cv2

    rgb = noise(5)
    cv2.imwrite(str(tmp_path / "a.png"), rgb[:, :, ::-1])
    (tmp_path / "bad.png").write_bytes(b"not an image")
    recs = [ImageRecord("a", tmp_path / "a.png", "s"), ImageRecord("b", tmp_path / "bad.png", "s")]
    good, bad = matcher.embed_records(recs)
    (direct,) = matcher.embed_batch([rgb])
    np.testing.assert_array_equal(good.embedding, direct.embedding)
    assert bad.failure_reason == "unreadable_image"


def test_no_face(pack: Path) -> None:
    m = InsightFaceMatcher(pack=str(pack), det_size=DET_SIZE, det_thresh=0.99)
    (res,) = m.embed_batch([noise(6)])
    assert res.failure_reason == NO_FACE and res.n_faces == 0 and res.embedding is None


def test_info_records_versions_weights_and_providers(
    pack: Path, matcher: InsightFaceMatcher
) -> None:
    import insightface

    info = matcher.info()
    assert info.name == "insightface"
    assert info.version == f"insightface {insightface.__version__}"
    assert info.weights_sha256 == {
        "det_10g.onnx": sha(pack / "det_10g.onnx"),
        "w600k_r50.onnx": sha(pack / "w600k_r50.onnx"),
    }
    assert info.embedding_size == EMB
    assert info.similarity == "cosine"
    assert info.native_score == "cosine similarity"
    assert info.native_direction == "higher_is_more_alike"
    assert info.providers == ["CPUExecutionProvider"]
    assert info.details["detector"] == "det_10g.onnx"
    assert info.details["recogniser"] == "w600k_r50.onnx"
    assert len(matcher.fingerprint()) == 64


def test_only_available_providers_are_requested(pack: Path) -> None:
    wanted = ["NoSuchExecutionProvider", "CPUExecutionProvider"]
    m = InsightFaceMatcher(pack=str(pack), det_size=DET_SIZE, providers=wanted)
    assert m.info().providers == ["CPUExecutionProvider"]
    with pytest.raises(MatcherError, match="none of the requested providers"):
        InsightFaceMatcher(pack=str(pack), providers=["NoSuchExecutionProvider"]).info()


def test_pinned_sha256(pack: Path) -> None:
    good = {
        "det_10g.onnx": sha(pack / "det_10g.onnx"),
        "w600k_r50.onnx": sha(pack / "w600k_r50.onnx"),
    }
    m = InsightFaceMatcher(pack=str(pack), det_size=DET_SIZE, sha256=good)
    assert m.info().weights_sha256 == good
    wrong = {**good, "w600k_r50.onnx": "0" * 64}
    with pytest.raises(MatcherError, match="pinned sha256") as exc:
        InsightFaceMatcher(pack=str(pack), sha256=wrong).embed_batch([noise(7)])
    assert "w600k_r50.onnx" in exc.value.render()


# --- broken packs ---------------------------------------------------------------------------
def test_missing_pack_names_expected_files(tmp_path: Path) -> None:
    where = tmp_path / "buffalo_l"
    with pytest.raises(MatcherError) as exc:
        InsightFaceMatcher(pack=str(where)).embed_batch([noise(8)])
    text = exc.value.render()
    assert str(where) in text
    assert "det_10g.onnx" in text and "w600k_r50.onnx" in text
    assert "SCRFD" in text and "ArcFace" in text


def test_pack_without_recogniser(tmp_path: Path) -> None:
    pack = make_pack(tmp_path / "half", rec=False)
    (pack / "README.txt").write_text("not a model")
    with pytest.raises(MatcherError, match="no recognition model") as exc:
        InsightFaceMatcher(pack=str(pack)).info()
    assert "det_10g.onnx: detection" in exc.value.render()


def test_empty_pack(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(MatcherError, match="no detection and no recognition") as exc:
        InsightFaceMatcher(pack=str(tmp_path / "empty")).info()
    assert "no .onnx files" in exc.value.render()


def test_corrupt_onnx_file(tmp_path: Path) -> None:
    pack = make_pack(tmp_path / "corrupt")
    (pack / "w600k_r50.onnx").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(MatcherError, match="w600k_r50.onnx"):
        InsightFaceMatcher(pack=str(pack)).info()


def test_detector_without_keypoints(tmp_path: Path) -> None:
    pack = make_pack(tmp_path / "nokps", kps=False)
    with pytest.raises(MatcherError, match="no landmarks"):
        InsightFaceMatcher(pack=str(pack), det_size=DET_SIZE).info()


def test_insightface_errors_become_matcher_errors(
    pack: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import insightface.app

    def fails(*a: object, **k: object) -> None:
        raise AssertionError()  # what FaceAnalysis does when it finds no detector

    monkeypatch.setattr(insightface.app, "FaceAnalysis", fails)
    with pytest.raises(MatcherError, match="insightface could not load model pack"):
        InsightFaceMatcher(pack=str(pack)).info()


@pytest.mark.parametrize(
    "params",
    [
        {"det_size": [0, 640]},
        {"det_thresh": 0.0},
        {"sha256": {"a.onnx": "xyz"}},
        {"bogus": 1},
        {"providers": []},
    ],
)
def test_bad_params(pack: Path, params: dict[str, object]) -> None:
    with pytest.raises(MatcherError, match="invalid parameters"):
        InsightFaceMatcher(pack=str(pack), **params)


def test_pack_is_required() -> None:
    with pytest.raises(MatcherError, match="invalid parameters"):
        InsightFaceMatcher()


def test_fake_models_are_tiny(pack: Path) -> None:
    """Keeps the suite fast: the fake pack stays well under a megabyte."""
    assert sum(f.stat().st_size for f in pack.glob("*.onnx")) < 1_000_000
    assert onnxruntime.InferenceSession(str(pack / "det_10g.onnx")).get_outputs()[0].shape[1] == 1
