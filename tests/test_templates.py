"""Template extraction: cache reuse across runs, recorded failures, resumability."""

from __future__ import annotations

import numpy as np
import pytest

from fairbench.matchers.base import NO_FACE, UNREADABLE, FaceResult, ImageRecord
from fairbench.templates import TemplateCache, extract_templates
from tests.test_registry import FakeMatcher


class Counting(FakeMatcher):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.calls = 0

    def embed_batch(self, images):
        self.calls += len(images)
        return [FaceResult.failed(NO_FACE, n_faces=0) if img.mean() < 1 else
                FaceResult(embedding=np.full(4, img.mean(), np.float32), detector_score=0.9)
                for img in images]


@pytest.fixture()
def images(tmp_path):
    import cv2

    paths = []
    for k, v in enumerate([0, 50, 120, 200]):
        p = tmp_path / f"{k}.png"
        cv2.imwrite(str(p), np.full((8, 8, 3), v, np.uint8))
        paths.append(p)
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    paths.append(tmp_path / "corrupt.jpg")
    return [ImageRecord(p.stem, p, f"s{k}") for k, p in enumerate(paths)]


def test_outcomes_are_recorded_and_cached(images, tmp_path):
    m = Counting()
    cache = TemplateCache(tmp_path / "cache", m.fingerprint())
    t1 = extract_templates(m, images, cache, batch_size=2, progress=False)
    assert t1.acquired.tolist() == [False, True, True, True, False]
    assert t1.failure_reason == [NO_FACE, "", "", "", UNREADABLE]
    assert np.isnan(t1.embeddings[0]).all() and t1.n_faces[0] == 0
    assert m.calls == 4 and t1.cache_hits == 0
    m2 = Counting()
    t2 = extract_templates(m2, images, cache, batch_size=2, progress=False)
    assert m2.calls == 0 and t2.cache_hits == 5
    np.testing.assert_array_equal(t1.embeddings, t2.embeddings)
    assert t2.failure_reason == t1.failure_reason


def test_interrupted_run_resumes(images, tmp_path):
    class Dies(Counting):
        def embed_batch(self, imgs):
            if self.calls >= 2:
                raise KeyboardInterrupt
            return super().embed_batch(imgs)

    m = Dies()
    cache = TemplateCache(tmp_path / "cache", m.fingerprint())
    with pytest.raises(KeyboardInterrupt):
        extract_templates(m, images, cache, batch_size=2, progress=False)
    m2 = Counting()
    t = extract_templates(m2, images, cache, batch_size=2, progress=False)
    assert t.cache_hits == 2 and m2.calls == 2  # the first batch was kept, the rest redone
    assert not list((tmp_path / "cache").rglob("*.tmp"))


def test_different_params_do_not_share_cache(images, tmp_path):
    a, b = Counting(dim=4), Counting(dim=5)
    assert a.fingerprint() != b.fingerprint()


def test_fingerprint_depends_on_file_content_not_path(tmp_path, monkeypatch):
    from fairbench.matchers.precomputed import PrecomputedMatcher

    e = tmp_path / "a" / "emb.npz"
    e.parent.mkdir()
    np.savez(e, image_ids=np.array(["x"]), embeddings=np.ones((1, 3), np.float32))
    monkeypatch.chdir(tmp_path)
    a = PrecomputedMatcher(path=str(e)).fingerprint()
    b = PrecomputedMatcher(path="a/../a/emb.npz").fingerprint()
    assert a == b
    np.savez(e, image_ids=np.array(["x"]), embeddings=np.zeros((1, 3), np.float32))
    assert PrecomputedMatcher(path=str(e)).fingerprint() != a
