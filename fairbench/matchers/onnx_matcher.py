"""Any ONNX face-embedding model: YuNet detection, 5-point alignment, onnxruntime inference.

Everything that defines the model's input contract (tensor name, size, layout, colour order,
normalisation, output tensor) is a parameter, so a new model needs a config, not code.
Weights are pinned by sha256 when ``sha256`` is given; the file's checksum is always
recorded. Models load on first use; the constructor only validates and checks paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, PositiveInt

from fairbench.errors import MatcherError
from fairbench.matchers.align import align_face
from fairbench.matchers.base import (
    NO_FACE,
    FaceResult,
    Matcher,
    MatcherInfo,
    Similarity,
    StrictParams,
)
from fairbench.matchers.yunet import YuNetDetector, pick_face
from fairbench.onnxrt import OnnxModelSpec, open_session, preprocess, provider_note


class AlignSpec(StrictParams):
    """Alignment template and margin (see :mod:`fairbench.matchers.align`)."""

    template: Literal["arcface5"] = "arcface5"
    margin: float = Field(default=0.0, ge=0.0, lt=1.0)


class DetectorSpec(StrictParams):
    """The face detector and its settings."""

    name: Literal["yunet"] = "yunet"
    model: Path
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    score_threshold: float = Field(default=0.7, gt=0.0, le=1.0)
    nms_threshold: float = Field(default=0.3, gt=0.0, le=1.0)
    top_k: PositiveInt = 5000
    max_side: PositiveInt = 640


class OnnxParams(StrictParams, OnnxModelSpec):
    """Parameters of :class:`OnnxMatcher`: the common ONNX ones, the score, the alignment
    and the detector (relative paths resolve against the cwd)."""

    similarity: Similarity = "cosine"
    align: AlignSpec = AlignSpec()
    detector: DetectorSpec


class OnnxMatcher(Matcher):
    """Face embeddings from an ONNX model, with YuNet detection and ArcFace alignment."""

    name = "onnx"
    Params = OnnxParams
    parallelism = "threads"  # ONNX Runtime and OpenCV threads, sized to the machine

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        p: OnnxParams = self.params  # type: ignore[assignment]
        self.model_path = _existing(p.model, "matcher.params.model")
        self.detector = YuNetDetector(
            _existing(p.detector.model, "matcher.params.detector.model"),
            p.detector.score_threshold,
            p.detector.nms_threshold,
            p.detector.top_k,
            p.detector.max_side,
            p.detector.sha256,
            "matcher.params.detector.model",
        )
        self._session: Any = None
        self._model_sha: str | None = None
        self._embedding_size: int | None = None
        self._one_at_a_time = False

    # --- lazy loading -------------------------------------------------------------------
    def _load(self) -> Any:
        if self._session is not None:
            return self._session
        p: OnnxParams = self.params  # type: ignore[assignment]
        session, sha = open_session(self.model_path, p.sha256, p.providers,
                                    "matcher.params.model")
        self.detector.load()
        inputs = {i.name: i for i in session.get_inputs()}
        outputs = {o.name: o for o in session.get_outputs()}
        problems = []
        if p.input.name not in inputs:
            problems.append(f"matcher.params.input.name {p.input.name!r} not in {list(inputs)}")
        if p.output not in outputs:
            problems.append(f"matcher.params.output {p.output!r} not in {list(outputs)}")
        if problems:
            raise MatcherError(f"model {self.model_path.name} does not match params", problems)
        dim = outputs[p.output].shape[-1]
        self._embedding_size = dim if isinstance(dim, int) else None
        batch = inputs[p.input.name].shape[0]
        self._one_at_a_time = batch == 1
        self._model_sha, self._session = sha, session
        return session

    # --- the protocol -------------------------------------------------------------------
    def embed_batch(self, images: Sequence[np.ndarray]) -> list[FaceResult]:
        p: OnnxParams = self.params  # type: ignore[assignment]
        self._load()
        results: list[FaceResult] = []
        crops: list[np.ndarray] = []
        for img in images:
            dets = self.detector.detect(img)
            face = pick_face(dets)
            if face is None:
                results.append(FaceResult.failed(NO_FACE, n_faces=0))
                continue
            crops.append(align_face(img, face.landmarks, p.input.size, p.align.margin))
            results.append(
                FaceResult(detector_score=face.score, face_box=face.box, n_faces=len(dets))
            )
        if crops:
            embeddings = iter(self._infer(crops))
            for res in results:
                if res.failure_reason is None:
                    res.embedding = next(embeddings)
        return results

    def _infer(self, crops: list[np.ndarray]) -> np.ndarray:
        """Run aligned RGB crops through the model: (N, D) float32."""
        p: OnnxParams = self.params  # type: ignore[assignment]
        x = self.preprocess(np.stack(crops))
        if self._one_at_a_time:
            parts = [
                self._session.run([p.output], {p.input.name: x[k : k + 1]})[0]
                for k in range(len(x))
            ]
            out = np.concatenate(parts)
        else:
            out = self._session.run([p.output], {p.input.name: x})[0]
        return np.asarray(out, dtype=np.float32).reshape(len(crops), -1)

    def preprocess(self, crops: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) RGB uint8 -> the model's input tensor, per the ``input`` params."""
        return preprocess(crops, self.params.input)  # type: ignore[attr-defined]

    def info(self) -> MatcherInfo:
        import cv2
        import onnxruntime as ort

        p: OnnxParams = self.params  # type: ignore[assignment]
        session = self._load()
        if self._embedding_size is None:
            blank = np.zeros((1, p.input.size, p.input.size, 3), dtype=np.uint8)
            self._embedding_size = int(self._infer(list(blank)).shape[1])
        euclid = self.similarity == "euclidean"
        ran = list(session.get_providers())  # what ONNX Runtime really runs, not the request
        note = provider_note(p.providers, ran)
        return MatcherInfo(
            name=self.name,
            version=f"{self.model_path.name} on onnxruntime {ort.__version__}, "
            f"opencv {cv2.__version__}",
            weights_sha256={
                self.model_path.name: self._model_sha or "",
                self.detector.model.name: self.detector.sha256,
            },
            embedding_size=self._embedding_size,
            similarity=self.similarity,
            native_score="euclidean distance" if euclid else "cosine similarity",
            native_direction="lower_is_more_alike" if euclid else "higher_is_more_alike",
            providers=ran,
            details={
                "providers_requested": list(p.providers),
                **({"provider_note": note} if note else {}),
                "model": str(self.model_path),
                "detector": p.detector.name,
                "detector_model": str(self.detector.model),
                "face_selection": "largest box, ties by score",
                "alignment": f"{p.align.template}, margin {p.align.margin}",
            },
        )


def _existing(path: Path, key: str) -> Path:
    """``path`` resolved against the cwd; a MatcherError naming it and its key if missing."""
    resolved = Path(path).expanduser().resolve()
    if not resolved.is_file():
        raise MatcherError(f"{key}: model file not found: {resolved} (given as {path})")
    return resolved
