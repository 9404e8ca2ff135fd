"""Face matchers: one protocol (:class:`~fairbench.matchers.base.Matcher`), many back ends."""

from fairbench.matchers.base import FaceResult, ImageRecord, Matcher, MatcherInfo, build_matcher

__all__ = ["FaceResult", "ImageRecord", "Matcher", "MatcherInfo", "build_matcher"]
