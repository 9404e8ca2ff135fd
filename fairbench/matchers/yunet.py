"""YuNet face detection (OpenCV ``FaceDetectorYN``): boxes, 5 landmarks and scores.

Images larger than ``max_side`` are detected on a downscaled copy (YuNet is trained on
faces of moderate size and its cost grows with the pixel count); boxes and landmarks are
scaled back, so callers always see original pixel coordinates. The model loads on first
use.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fairbench.errors import MatcherError
from fairbench.provenance import sha256_file


@dataclass(frozen=True)
class Detection:
    """One face: box (x, y, w, h), landmarks (5 x 2: right eye, left eye, nose tip, right
    and left mouth corner, the subject's right/left) and confidence, in original pixels."""

    box: tuple[float, float, float, float]
    landmarks: np.ndarray
    score: float

    @property
    def area(self) -> float:
        return max(self.box[2], 0.0) * max(self.box[3], 0.0)


class YuNetDetector:
    """Detect faces in RGB uint8 images with YuNet."""

    def __init__(
        self,
        model: Path,
        score_threshold: float = 0.7,
        nms_threshold: float = 0.3,
        top_k: int = 5000,
        max_side: int = 640,
        expected_sha256: str | None = None,
        key: str = "detector model",
    ) -> None:
        self.model = Path(model)
        self.expected_sha256 = None if expected_sha256 is None else expected_sha256.lower()
        self.key = key
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.top_k = top_k
        self.max_side = max_side
        self._net: object | None = None
        self._sha256: str | None = None
        # One OpenCV net per detector: setInputSize + detect must not interleave across
        # threads (OpenCV's dnn asserts, or answers for the other image).
        self._lock = threading.Lock()

    @property
    def sha256(self) -> str:
        """sha256 of the model file (provenance), computed once."""
        if self._sha256 is None:
            self._sha256 = sha256_file(self.model)
        return self._sha256

    def load(self) -> None:
        """Check and load the model now: a wrong checksum or a file OpenCV cannot load is
        a :class:`~fairbench.errors.MatcherError` naming the config key, before any image."""
        self._detector()

    def _detector(self):  # -> cv2.FaceDetectorYN (no stable type stubs)
        if self._net is None:
            import cv2

            if not self.model.is_file():
                raise MatcherError(f"{self.key}: no file at {self.model}")
            if self.expected_sha256 is not None and self.sha256 != self.expected_sha256:
                raise MatcherError(f"{self.key}: {self.model} has sha256 {self.sha256}, but "
                                   f"the config pins {self.expected_sha256}; refusing to run "
                                   "on a different file")
            # OpenCV 5 warns on every create that its new graph engine ignores targets;
            # silence that one call, then restore the caller's log level.
            level = cv2.utils.logging.getLogLevel()
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
            try:
                self._net = cv2.FaceDetectorYN.create(
                    str(self.model),
                    "",
                    (320, 320),
                    self.score_threshold,
                    self.nms_threshold,
                    self.top_k,
                )
            except cv2.error as exc:
                raise MatcherError(f"{self.key}: OpenCV cannot load {self.model} as a YuNet "
                                   f"detector ({str(exc).strip().splitlines()[-1]})") from None
            finally:
                cv2.utils.logging.setLogLevel(level)
        return self._net

    def detect(self, image: np.ndarray) -> list[Detection]:
        """All faces in an RGB uint8 image, largest first (ties: higher score first)."""
        import cv2

        h, w = image.shape[:2]
        factor = min(1.0, self.max_side / max(h, w))
        bgr = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
        if factor < 1.0:
            size = (max(1, round(w * factor)), max(1, round(h * factor)))
            bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
            # exact per-axis factors, since the resized size was rounded
            fx, fy = bgr.shape[1] / w, bgr.shape[0] / h
        else:
            fx = fy = 1.0
        with self._lock:
            net = self._detector()
            net.setInputSize((bgr.shape[1], bgr.shape[0]))
            _, faces = net.detect(bgr)
        if faces is None:
            return []
        inv = np.array([1.0 / fx, 1.0 / fy])
        dets = [
            Detection(
                box=tuple(float(v) for v in row[:4] * np.tile(inv, 2)),  # type: ignore[arg-type]
                landmarks=row[4:14].reshape(5, 2).astype(np.float64) * inv,
                score=float(row[14]),
            )
            for row in np.asarray(faces, dtype=np.float64)
        ]
        return sorted(dets, key=lambda d: (-d.area, -d.score))


def pick_face(detections: list[Detection]) -> Detection | None:
    """The face to embed: the largest box (the subject in enrolment-style photos; a
    higher-scoring small face in the background should not win), ties by score."""
    if not detections:
        return None
    return max(detections, key=lambda d: (d.area, d.score))
