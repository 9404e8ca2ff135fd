"""The plugin registry: built-ins via entry points, in-process plugins, did-you-mean."""

from __future__ import annotations

import numpy as np
import pytest

from fairbench import registry
from fairbench.errors import MatcherError
from fairbench.matchers.base import FaceResult, Matcher, MatcherInfo, StrictParams, build_matcher
from fairbench.registry import UnknownPluginError, matchers


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


BUILTIN_MATCHERS = {"dlib", "onnx", "insightface", "precomputed", "http", "scores"}


def test_builtins_come_from_the_installed_entry_points():
    """The built-ins are exactly fairbench's own declared entry points, each loading a
    Matcher subclass of that name (no second list in the code to drift from it)."""
    from importlib.metadata import entry_points

    own = {ep.name: ep for ep in entry_points(group="fairbench.matchers")
           if registry._is_own(ep)}
    assert set(own) == BUILTIN_MATCHERS
    for name in BUILTIN_MATCHERS:
        cls = matchers.get(name)
        assert isinstance(cls, type) and issubclass(cls, Matcher) and cls.name == name
    assert set(registry.pad.names()) >= {"onnx"}


def fake_entry_point(name: str, value: str, dist_name: str):
    """An entry point that another distribution declares (attached as importlib does)."""
    from importlib.metadata import EntryPoint

    class Dist:
        metadata = {"Name": dist_name}

    Dist.name = dist_name
    return EntryPoint(name, value, "fairbench.matchers")._for(Dist())


def test_disable_plugins_trusts_only_the_fairbench_distribution(monkeypatch):
    """A third-party entry point is ignored under FAIRBENCH_DISABLE_PLUGINS=1 even when its
    target lies in the fairbench namespace (a name prefix is no proof of origin)."""
    from importlib import metadata

    real = metadata.entry_points
    evil = fake_entry_point("sneaky", "fairbench.matchers.dlib_matcher:DlibMatcher", "evil")

    def eps(group=None):
        found = list(real(group=group))
        return found + ([evil] if group == "fairbench.matchers" else [])

    monkeypatch.setattr(registry, "entry_points", eps)
    assert "sneaky" in matchers.names()
    monkeypatch.setenv("FAIRBENCH_DISABLE_PLUGINS", "1")
    assert "sneaky" not in matchers.names()
    assert set(matchers.names()) >= BUILTIN_MATCHERS


def test_decorator_registers_an_in_process_plugin():
    @matchers.plugin("decorated")
    class Decorated(FakeMatcher):
        name = "decorated"

    try:
        assert isinstance(build_matcher("decorated", {}), Decorated)
    finally:
        matchers.unregister("decorated")


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
    imgs = [np.full((4, 4, 3), 10, np.uint8), np.full((4, 4, 3), 200, np.uint8)]
    out = m.safe_embed_batch(imgs)
    assert out[0].acquired
    assert not out[1].acquired and "model exploded" in out[1].failure_reason
