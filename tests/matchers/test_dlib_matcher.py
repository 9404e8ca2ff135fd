"""DlibMatcher on the london16 fixture: detection, score separation, failures, errors.

Bounds are measured values (dlib 20.0.1, default params) with a little slack: 32/32 faces
found; genuine distances 0.127-0.282; impostor distances 0.506-1.077 with 7 of 480 < 0.6.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest

from fairbench.errors import MatcherError
from fairbench.matchers.base import NO_FACE, FaceResult, build_matcher, decode_image
from fairbench.matchers.dlib_matcher import DlibMatcher


def load(path: Path) -> np.ndarray:
    img = decode_image(path.read_bytes())
    assert img is not None
    return img


@pytest.fixture(scope="module")
def matcher() -> DlibMatcher:
    return DlibMatcher()


@pytest.fixture(scope="module")
def embedded(london16: Path, matcher: DlibMatcher) -> dict[str, FaceResult]:
    """file name -> result for all 32 fixture images (embedded once: ~0.2 s per image)."""
    files = sorted(london16.glob("*.jpg"))
    results = matcher.embed_batch([load(f) for f in files])
    return {f.name: r for f, r in zip(files, results)}


def distances(embedded: dict[str, FaceResult]) -> tuple[np.ndarray, np.ndarray]:
    """Genuine (same face id) and impostor euclidean distances over all pairs."""
    genuine, impostor = [], []
    for a, b in itertools.combinations(sorted(embedded), 2):
        d = float(np.linalg.norm(embedded[a].embedding - embedded[b].embedding))
        (genuine if a[:3] == b[:3] else impostor).append(d)
    return np.array(genuine), np.array(impostor)


def test_finds_every_face(embedded: dict[str, FaceResult]) -> None:
    assert len(embedded) == 32
    for name, res in embedded.items():
        assert res.acquired, name
        assert res.embedding is not None and res.embedding.shape == (128,)
        assert res.n_faces == 1
        assert res.detector_score is not None and res.detector_score > 0.5
        x, y, w, h = res.face_box or (0, 0, 0, 0)
        assert 0 <= x <= 320 - w and 0 <= y <= 320 - h and w > 80


def test_genuine_close_impostor_far(embedded: dict[str, FaceResult]) -> None:
    genuine, impostor = distances(embedded)
    assert len(genuine) == 16 and len(impostor) == 480
    assert genuine.max() < 0.35  # measured 0.282
    assert impostor.min() > 0.45  # measured 0.506
    assert (impostor < 0.6).sum() <= 10  # measured 7 at dlib's customary threshold
    assert np.median(impostor) > 0.8  # measured 0.859
    assert genuine.max() < impostor.min()  # perfectly separated on this fixture


def test_deterministic(london16: Path, matcher: DlibMatcher) -> None:
    img = load(london16 / "001_neutral.jpg")
    a, b = matcher.embed_batch([img, img])
    assert a.embedding is not None and b.embedding is not None
    np.testing.assert_array_equal(a.embedding, b.embedding)


def test_grey_image_is_no_face(matcher: DlibMatcher) -> None:
    grey = np.full((240, 320, 3), 128, dtype=np.uint8)
    tiny = np.zeros((1, 1, 3), dtype=np.uint8)
    for res in matcher.embed_batch([grey, tiny]):
        assert res.failure_reason == NO_FACE
        assert res.n_faces == 0 and res.embedding is None


def test_batch_with_failures_keeps_order(london16: Path, matcher: DlibMatcher) -> None:
    grey = np.full((320, 320, 3), 128, dtype=np.uint8)
    face = load(london16 / "002_smiling.jpg")
    out = matcher.embed_batch([grey, face, grey])
    assert [r.acquired for r in out] == [False, True, False]


def test_two_faces_picks_the_larger(london16: Path, embedded: dict[str, FaceResult]) -> None:
    # The small face goes left; with upsample=1 HOG lists it first and scores it higher,
    # so only "largest face" picks the big one.
    big = load(london16 / "001_neutral.jpg")
    small = cv2.resize(load(london16 / "002_neutral.jpg"), (200, 200), interpolation=cv2.INTER_AREA)
    canvas = np.full((320, 520, 3), 128, dtype=np.uint8)
    canvas[60:260, :200] = small
    canvas[:, 200:] = big
    [res] = DlibMatcher(upsample=1).embed_batch([canvas])
    assert res.acquired and res.n_faces == 2
    assert res.face_box is not None and res.face_box[0] >= 200
    own = embedded["001_neutral.jpg"].embedding
    other = embedded["002_neutral.jpg"].embedding
    assert np.linalg.norm(res.embedding - own) < 0.2
    assert np.linalg.norm(res.embedding - other) > 0.6


def test_downscaled_detection_maps_box_back(london16: Path, matcher: DlibMatcher) -> None:
    img = load(london16 / "001_neutral.jpg")
    up = cv2.resize(img, (1280, 1280), interpolation=cv2.INTER_CUBIC)  # detected at 640 px
    [small], [large] = matcher.embed_batch([img]), matcher.embed_batch([up])
    assert small.face_box is not None and large.face_box is not None
    cx = small.face_box[0] + small.face_box[2] / 2
    cx_large = (large.face_box[0] + large.face_box[2] / 2) / 4
    assert abs(cx - cx_large) < 10
    assert np.linalg.norm(small.embedding - large.embedding) < 0.2


def test_unknown_param_is_matcher_error() -> None:
    with pytest.raises(MatcherError) as exc:
        DlibMatcher(upsampel=1)
    assert "upsampel" in exc.value.render()
    with pytest.raises(MatcherError):
        DlibMatcher(num_jitters=0)


def test_missing_landmarks_model_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "shape_predictor.dat"
    m = DlibMatcher(landmarks_model=missing)  # the constructor only stores params
    for call in (m.info, lambda: m.embed_batch([np.zeros((8, 8, 3), np.uint8)])):
        with pytest.raises(MatcherError) as exc:
            call()
        assert str(missing) in exc.value.render()
        assert "landmarks_model" in exc.value.render()


def test_info(matcher: DlibMatcher) -> None:
    info = matcher.info()
    assert info.name == "dlib" and info.version.startswith("dlib ")
    assert set(info.weights_sha256) == {
        "shape_predictor_5_face_landmarks.dat",
        "dlib_face_recognition_resnet_model_v1.dat",
    }
    assert all(len(h) == 64 for h in info.weights_sha256.values())
    assert info.embedding_size == 128
    assert info.similarity == "euclidean"
    assert info.native_direction == "lower_is_more_alike"
    assert info.providers in (["cpu"], ["cuda"])
    from fairbench.core.scale import from_native, to_native

    k = matcher.similarity
    assert to_native(from_native(0.6, k), k) == pytest.approx(0.6) and k == "euclidean"
    assert matcher.fingerprint() != DlibMatcher(padding=0.3).fingerprint()


def test_registry_builds_it() -> None:
    assert isinstance(build_matcher("dlib", {"detect_max_side": 480}), DlibMatcher)
