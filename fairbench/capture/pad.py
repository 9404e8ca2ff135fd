"""Presentation-attack detection (liveness) plugins: ``score(images) -> bona fide score``.

A plugin implements :meth:`PadPlugin.score` on RGB uint8 images (face boxes optional);
higher means more likely bona fide. :class:`OnnxPad` runs any ONNX classifier on a face
crop, configured like the ONNX matcher (model, sha256, input contract, output, and which
output column is the bona fide class). Models load on first use; providers are recorded.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from fairbench.errors import MatcherError
from fairbench.matchers.base import StrictParams
from fairbench.onnxrt import OnnxModelSpec, open_session, preprocess

Box = tuple[float, float, float, float]


class PadPlugin(ABC):
    """Base for liveness / PAD plugins; ``Params`` validates the config's ``params``."""

    name: ClassVar[str] = "pad"
    Params: ClassVar[type[StrictParams]] = StrictParams

    def __init__(self, **params: Any) -> None:
        self.params = self.Params.model_validate(params)

    @abstractmethod
    def score(self, images: Sequence[np.ndarray],
              boxes: Sequence[Box | None] | None = None) -> np.ndarray:
        """Bona fide score per image (higher = more likely a live, bona fide face)."""

    def info(self) -> dict[str, Any]:
        """Provenance: name, params and whatever the plugin adds."""
        return {"name": self.name, "params": self.params.model_dump(mode="json")}


class OnnxPadParams(StrictParams, OnnxModelSpec):
    """Parameters of :class:`OnnxPad`: the common ONNX ones, and which output is bona fide."""

    bona_fide_index: int = Field(0, ge=0)  # output column holding the bona fide class
    crop_margin: float = Field(0.0, ge=0.0, le=1.0)  # box grown by this share on each side


class OnnxPad(PadPlugin):
    """A bona fide score from an ONNX classifier run on the (square) face crop."""

    name = "onnx"
    Params = OnnxPadParams

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        p: OnnxPadParams = self.params  # type: ignore[assignment]
        self.model_path = Path(p.model).expanduser().resolve()
        if not self.model_path.is_file():
            raise MatcherError(f"capture.liveness.params.model: file not found: {self.model_path}")
        self._session: Any = None
        self._sha: str | None = None

    def _load(self) -> Any:
        if self._session is None:
            p: OnnxPadParams = self.params  # type: ignore[assignment]
            self._session, self._sha = open_session(self.model_path, p.sha256, p.providers,
                                                    "capture.liveness.params.model")
        return self._session

    def crop(self, image: np.ndarray, box: Box | None) -> np.ndarray:
        """Square crop around ``box`` (grown by ``crop_margin``), resized to the input size."""
        import cv2

        p: OnnxPadParams = self.params  # type: ignore[assignment]
        h, w = image.shape[:2]
        if box is None:
            x, y, bw, bh = 0.0, 0.0, float(w), float(h)
        else:
            x, y, bw, bh = box
        side = max(bw, bh) * (1 + 2 * p.crop_margin)
        cx, cy = x + bw / 2, y + bh / 2
        x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
        x1, y1 = int(min(w, cx + side / 2)), int(min(h, cy + side / 2))
        face = image[y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)]
        s = p.input.size
        return cv2.resize(face, (s, s), interpolation=cv2.INTER_AREA)

    def preprocess(self, crops: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) RGB uint8 -> input tensor per ``input`` (as the ONNX matcher)."""
        return preprocess(crops, self.params.input)  # type: ignore[attr-defined]

    def score(self, images: Sequence[np.ndarray],
              boxes: Sequence[Box | None] | None = None) -> np.ndarray:
        if len(images) == 0:
            return np.zeros(0)
        p: OnnxPadParams = self.params  # type: ignore[assignment]
        sess = self._load()
        bx = list(boxes) if boxes is not None else [None] * len(images)
        x = self.preprocess(np.stack([self.crop(im, b) for im, b in zip(images, bx)]))
        out = np.concatenate([sess.run([p.output], {p.input.name: x[k:k + 1]})[0]
                              for k in range(len(x))])
        out = np.asarray(out, dtype=np.float64).reshape(len(x), -1)
        if p.bona_fide_index >= out.shape[1]:
            raise MatcherError(f"bona_fide_index {p.bona_fide_index} but the output has "
                               f"{out.shape[1]} columns")
        return out[:, p.bona_fide_index]

    def info(self) -> dict[str, Any]:
        sess = self._load()
        return {**super().info(), "model_sha256": self._sha,
                "providers": list(sess.get_providers())}


def build_pad(name: str, params: dict[str, Any]) -> PadPlugin:
    """A PAD plugin by registry name (built-ins and ``fairbench.pad`` entry points)."""
    from fairbench.registry import pad

    return pad.get(name)(**params)
