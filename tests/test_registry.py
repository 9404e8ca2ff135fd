"""The plugin registry: built-ins via entry points, in-process plugins, did-you-mean."""

from __future__ import annotations

import numpy as np
import pytest

from fairbench.errors import MatcherError
from fairbench.matchers.base import FaceResult, Matcher, MatcherInfo, StrictParams, build_matcher
from fairbench.registry import BUILTINS, UnknownPluginError, matchers


class FakeParams(StrictParams):
    dim: int = 4


class FakeMatcher(Matcher):
    name = "fake"
    Params = FakeParams

    def embed_batch(self, images):
        return [FaceResult(embedding=np.full(self.params.dim, img.mean(), np.float32))
                for img in images]

    def info(self):
        return MatcherInfo("fake", "1", {}, self.params.dim, "cosine", "cosine similarity",
                           "higher_is_more_alike")


def test_builtins_are_listed():
    assert set(BUILTINS["fairbench.matchers"]) <= set(matchers.names())


def test_unknown_name_suggests_close_ones():
    with pytest.raises(UnknownPluginError, match="Did you mean 'dlib'"):
        matchers.get("dlibb")


def test_in_process_plugin_goes_through_the_same_path():
    matchers.register("fake", FakeMatcher)
    try:
        m = build_matcher("fake", {"dim": 3})
        assert isinstance(m, FakeMatcher) and m.params.dim == 3
        with pytest.raises(MatcherError, match="matcher.params.colour"):
            build_matcher("fake", {"colour": "red"})
    finally:
        matchers.unregister("fake")


def test_a_raising_image_is_isolated_and_recorded():
    class Flaky(FakeMatcher):
        def embed_batch(self, images):
            if any(img.mean() > 100 for img in images):
                raise ValueError("model exploded")
            return super().embed_batch(images)

    m = Flaky()
    imgs = [np.zeros((4, 4, 3), np.uint8), np.full((4, 4, 3), 200, np.uint8)]
    out = m.safe_embed_batch(imgs)
    assert out[0].acquired
    assert not out[1].acquired and "model exploded" in out[1].failure_reason
