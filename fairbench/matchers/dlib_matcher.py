"""dlib's face matcher: HOG detector, 5-point alignment, 128-d ResNet descriptor.

Native score is the euclidean distance between descriptors (lower = more alike; dlib's
customary threshold is 0.6). Only the 5-point landmark model is used: the 68-point model's
training data (iBUG 300-W) forbids commercial use.

Example::

    m = DlibMatcher(detect_max_side=640)
    [res] = m.embed_batch([rgb_image])
    res.embedding.shape  # (128,)
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from fairbench.errors import MatcherError
from fairbench.matchers.base import (
    NO_FACE,
    FaceResult,
    Matcher,
    MatcherInfo,
    StrictParams,
)
from fairbench.provenance import sha256_file

CHIP_SIZE = 150  # the ResNet model takes 150 x 150 chips cut the way get_face_chip cuts them


class DlibParams(StrictParams):
    """Parameters of :class:`DlibMatcher`."""

    detect_max_side: int = Field(640, ge=32)
    """Long side (px) of the copy the HOG detector runs on; larger images are downscaled."""
    upsample: int | None = Field(None, ge=0, le=3)
    """HOG upsampling steps; None = auto: 1 when doubling the image stays within
    ``detect_max_side`` (small images, whose faces may be under HOG's ~80 px minimum), else 0."""
    padding: float = Field(0.25, ge=0.0, le=2.0)
    """Context around the face in the aligned chip (dlib's default 0.25)."""
    num_jitters: int = Field(1, ge=1, le=100)
    """Jittered copies averaged per descriptor (1 = none; >1 is ~num_jitters times slower)."""
    landmarks_model: Path | None = None
    """Override of the packaged shape_predictor_5_face_landmarks.dat."""
    recognition_model: Path | None = None
    """Override of the packaged dlib_face_recognition_resnet_model_v1.dat."""
    sha256: dict[str, str] | None = None
    """Pinned sha256 per weight file name; a file that differs is refused."""


class DlibMatcher(Matcher):
    """dlib face recognition (the model behind the ``face_recognition`` package).

    Per image: detect on a copy downscaled to ``detect_max_side``, keep the largest face,
    find 5 landmarks on the full-resolution image, cut an aligned 150 px chip, and compute
    all chips' descriptors in one batched call.
    """

    name: ClassVar[str] = "dlib"
    Params: ClassVar[type[StrictParams]] = DlibParams
    similarity = "euclidean"
    params: DlibParams

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._models: tuple[Any, Any, Any] | None = None
        self._sha: dict[str, str] | None = None
        # dlib's detector and ResNet keep per-call state: one thread embeds at a time.
        self._lock = threading.Lock()

    # --- loading ------------------------------------------------------------------------
    def _weight_paths(self) -> tuple[Path, Path]:
        """The landmark and recognition .dat files; a missing one is a MatcherError."""
        lm, rec = self.params.landmarks_model, self.params.recognition_model
        if lm is None or rec is None:
            try:
                import face_recognition_models as frm
            except ImportError:
                raise MatcherError(
                    "matcher 'dlib' needs face-recognition-models for its default weights",
                    [
                        "pip install face-recognition-models, or set matcher.params."
                        "landmarks_model and matcher.params.recognition_model"
                    ],
                ) from None
            lm = lm or Path(frm.pose_predictor_five_point_model_location())
            rec = rec or Path(frm.face_recognition_model_location())
        paths = (Path(lm).expanduser(), Path(rec).expanduser())
        missing = [
            f"matcher.params.{key}: no file at {p}"
            for key, p in zip(("landmarks_model", "recognition_model"), paths)
            if not p.is_file()
        ]
        if missing:
            raise MatcherError("matcher 'dlib' cannot find its model files", missing)
        return paths

    def _load(self) -> tuple[Any, Any, Any]:
        """Detector, shape predictor and recognition model, loaded once."""
        if self._models is None:
            import dlib

            lm, rec = self._weight_paths()
            for p in (lm, rec):
                want = (self.params.sha256 or {}).get(p.name)
                if want is not None and (got := sha256_file(p)) != want.lower():
                    raise MatcherError(f"matcher.params.sha256: {p} has sha256 {got}, but the "
                                       f"config pins {want.lower()}; refusing to run on a "
                                       "different file")
            try:
                self._models = (
                    dlib.get_frontal_face_detector(),
                    dlib.shape_predictor(str(lm)),
                    dlib.face_recognition_model_v1(str(rec)),
                )
            except RuntimeError as exc:  # dlib's error for a corrupt or wrong .dat file
                raise MatcherError(f"matcher 'dlib' cannot load its models: {exc}") from None
        return self._models

    # --- embedding ----------------------------------------------------------------------
    def _upsample_for(self, long_side: int) -> int:
        if self.params.upsample is not None:
            return self.params.upsample
        return 1 if 2 * long_side <= self.params.detect_max_side else 0

    def _detect(self, img: np.ndarray) -> tuple[Any | None, FaceResult]:
        """The largest face's dlib rectangle in full-resolution pixels (None if no face),
        and its result so far: detector score, box and face count, or NO_FACE."""
        import cv2
        import dlib

        detector = self._load()[0]
        h, w = img.shape[:2]
        scale = min(1.0, self.params.detect_max_side / max(h, w))
        small = img
        if scale < 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            small = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        rects, scores, _ = detector.run(small, self._upsample_for(max(small.shape[:2])), 0.0)
        if len(rects) == 0:
            return None, FaceResult.failed(NO_FACE, n_faces=0)
        k = max(range(len(rects)), key=lambda i: rects[i].width() * rects[i].height())
        r = rects[k]
        box = (r.left() / scale, r.top() / scale, r.width() / scale, r.height() / scale)
        rect = dlib.rectangle(
            round(box[0]), round(box[1]), round(box[0] + box[2]), round(box[1] + box[3])
        )
        info = FaceResult(detector_score=float(scores[k]), face_box=box, n_faces=len(rects))
        return rect, info

    def embed_batch(self, images: Sequence[np.ndarray]) -> list[FaceResult]:
        """Detect, align and describe each image; descriptors are computed in one batch.
        Calls from several threads run one at a time (dlib's models are not thread-safe)."""
        with self._lock:
            return self._embed_batch(images)

    def _embed_batch(self, images: Sequence[np.ndarray]) -> list[FaceResult]:
        import dlib

        _, predictor, recognizer = self._load()
        results: list[FaceResult] = []
        chips: list[np.ndarray] = []
        where: list[int] = []
        for img in images:
            img = np.ascontiguousarray(img, dtype=np.uint8)
            rect, res = self._detect(img)
            results.append(res)
            if rect is None:
                continue
            shape = predictor(img, rect)
            chips.append(
                dlib.get_face_chip(img, shape, size=CHIP_SIZE, padding=self.params.padding)
            )
            where.append(len(results) - 1)
        if chips:
            descriptors = recognizer.compute_face_descriptor(chips, self.params.num_jitters)
            for k, d in zip(where, descriptors):
                results[k].embedding = np.asarray(d, dtype=np.float32)
        return results

    # --- metadata -----------------------------------------------------------------------
    def info(self) -> MatcherInfo:
        """Provenance and score semantics; weight checksums are computed once."""
        import dlib

        self._load()  # a missing, changed or broken weight file stops the run here
        if self._sha is None:
            self._sha = {p.name: sha256_file(p) for p in self._weight_paths()}
        p = self.params
        return MatcherInfo(
            name=self.name,
            version=f"dlib {dlib.__version__}",
            weights_sha256=dict(self._sha),
            embedding_size=128,
            similarity=self.similarity,
            native_score="euclidean distance",
            native_direction="lower_is_more_alike",
            providers=["cuda" if dlib.DLIB_USE_CUDA else "cpu"],
            details={
                "detector": "dlib HOG frontal_face_detector",
                "detect_max_side": p.detect_max_side,
                "upsample": p.upsample
                if p.upsample is not None
                else "auto: 1 if 2 x long side <= detect_max_side, else 0",
                "adjust_threshold": 0.0,
                "face_choice": "largest",
                "landmarks": "5-point",
                "chip_size": CHIP_SIZE,
                "padding": p.padding,
                "num_jitters": p.num_jitters,
                "customary_threshold": 0.6,
            },
        )
