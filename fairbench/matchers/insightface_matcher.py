"""InsightFace matcher: SCRFD detection + ArcFace recognition from a local model pack.

The pack is a directory such as ``buffalo_l`` (``det_10g.onnx`` + ``w600k_r50.onnx``; its
landmark and gender/age models are ignored). It is checked before insightface sees it, so a
missing or incomplete pack is a clear :class:`MatcherError`, never a download attempt.

Example::

    m = InsightFaceMatcher(pack="models/buffalo_l", sha256={"w600k_r50.onnx": "4c06..."})
    [res] = m.embed_batch([rgb_image])
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, field_validator

from fairbench.errors import MatcherError
from fairbench.matchers.base import (
    NO_FACE,
    FaceResult,
    Matcher,
    MatcherInfo,
    StrictParams,
)
from fairbench.matchers.insightface_pack import (
    DETECTION,
    EXPECTED,
    RECOGNITION,
    check_sha256,
    find_pack_files,
)
from fairbench.onnxrt import usable_providers
from fairbench.provenance import sha256_file

logger = logging.getLogger(__name__)



class InsightFaceParams(StrictParams):
    """Parameters of :class:`InsightFaceMatcher` (unknown keys are errors)."""

    pack: Path
    det_size: tuple[int, int] = (640, 640)
    det_thresh: float = Field(0.5, gt=0.0, le=1.0)
    providers: list[str] = Field(default_factory=lambda: ["CPUExecutionProvider"], min_length=1)
    sha256: dict[str, str] | None = None

    @field_validator("det_size")
    @classmethod
    def _positive(cls, v: tuple[int, int]) -> tuple[int, int]:
        if min(v) <= 0:
            raise ValueError("det_size must be two positive integers [width, height]")
        return v

    @field_validator("sha256")
    @classmethod
    def _hex(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        if v is None:
            return None
        out = {name: h.strip().lower() for name, h in v.items()}
        bad = [
            n for n, h in out.items() if len(h) != 64 or any(c not in "0123456789abcdef" for c in h)
        ]
        if bad:
            raise ValueError(f"not 64 hex digits for: {', '.join(bad)}")
        return out


@dataclass
class _Loaded:
    """The prepared insightface pipeline and what a run records about it."""

    det: Any
    rec: Any
    files: dict[str, Path]  # task -> file used
    weights_sha256: dict[str, str]
    embedding_size: int
    providers: list[str]


class InsightFaceMatcher(Matcher):
    """InsightFace's own detect-align-embed pipeline on a local pack; the largest face wins.

    Embeddings are insightface's raw ``face.embedding`` (float32, not normalised); scores are
    cosine similarity, as insightface compares them.
    """

    name: ClassVar[str] = "insightface"
    Params: ClassVar[type[StrictParams]] = InsightFaceParams
    parallelism = "threads"  # ONNX Runtime sessions, in this process
    similarity = "cosine"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._loaded: _Loaded | None = None

    # --- loading ------------------------------------------------------------------------
    def _load(self) -> _Loaded:
        if self._loaded is None:
            self._loaded = _load(self.params)  # type: ignore[arg-type]
        return self._loaded

    # --- protocol -----------------------------------------------------------------------
    def embed_batch(self, images: Sequence[np.ndarray]) -> list[FaceResult]:
        """Detect in each RGB image, embed its largest face; no face is ``NO_FACE``."""
        from insightface.app.common import Face

        m = self._load()
        results: list[FaceResult] = []
        for rgb in images:
            bgr = np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1])  # insightface wants BGR
            bboxes, kpss = m.det.detect(bgr, max_num=0, metric="default")
            if bboxes.shape[0] == 0:
                results.append(FaceResult.failed(NO_FACE, n_faces=0))
                continue
            areas = (bboxes[:, 2] - bboxes[:, 0]) * (bboxes[:, 3] - bboxes[:, 1])
            i = int(np.argmax(areas))  # ties keep the more confident (detections are sorted)
            x1, y1, x2, y2, score = (float(v) for v in bboxes[i, :5])
            face = Face(bbox=bboxes[i, :4], kps=kpss[i], det_score=bboxes[i, 4])
            m.rec.get(bgr, face)  # the same call FaceAnalysis.get makes, for one face only
            results.append(
                FaceResult(
                    embedding=np.asarray(face.embedding, dtype=np.float32).reshape(-1),
                    detector_score=score,
                    face_box=(x1, y1, x2 - x1, y2 - y1),
                    n_faces=int(bboxes.shape[0]),
                )
            )
        return results

    def info(self) -> MatcherInfo:
        """Version, sha256 of the two .onnx files used, embedding size, sessions' providers."""
        import insightface

        m = self._load()
        p: InsightFaceParams = self.params  # type: ignore[assignment]
        return MatcherInfo(
            name=self.name,
            version=f"insightface {insightface.__version__}",
            weights_sha256=dict(m.weights_sha256),
            embedding_size=m.embedding_size,
            similarity=self.similarity,
            native_score="cosine similarity",
            native_direction="higher_is_more_alike",
            providers=list(m.providers),
            details={
                "pack": str(p.pack.resolve()),
                "detector": m.files[DETECTION].name,
                "recogniser": m.files[RECOGNITION].name,
                "det_size": list(p.det_size),
                "det_input_size": [int(v) for v in m.det.input_size],
                "det_thresh": p.det_thresh,
            },
        )


def _load(p: InsightFaceParams) -> _Loaded:
    """Check the pack, then build and prepare insightface's FaceAnalysis offline."""
    pack = p.pack.expanduser().resolve()
    files = find_pack_files(pack)
    if p.sha256:
        check_sha256(pack, p.sha256)
    providers = usable_providers(p.providers)
    try:
        from insightface.app import FaceAnalysis

        # ``name`` is an existing directory, so FaceAnalysis never calls its downloader.
        app = FaceAnalysis(
            name=str(pack), allowed_modules=[DETECTION, RECOGNITION], providers=providers
        )
        # ctx_id >= 0: a negative id would make insightface force the CPU provider.
        app.prepare(ctx_id=0, det_thresh=p.det_thresh, det_size=tuple(p.det_size))
    except MatcherError:
        raise
    except Exception as exc:  # insightface asserts and raises many kinds; all mean "bad pack"
        raise MatcherError(
            f"insightface could not load model pack {pack}: {type(exc).__name__}: {exc}",
            [f"expected {EXPECTED}"],
        ) from exc
    det, rec = app.models.get(DETECTION), app.models.get(RECOGNITION)
    if det is None or rec is None:
        raise MatcherError(
            f"insightface found no {DETECTION if det is None else RECOGNITION} model in {pack}",
            [f"expected {EXPECTED}"],
        )
    if not getattr(det, "use_kps", False):
        raise MatcherError(
            f"detector {Path(det.model_file).name} in {pack} gives no landmarks",
            ["ArcFace alignment needs SCRFD's 5 keypoints (a 9- or 15-output model)"],
        )
    used = {DETECTION: Path(det.model_file), RECOGNITION: Path(rec.model_file)}
    if {t: f.resolve() for t, f in used.items()} != {t: f.resolve() for t, f in files.items()}:
        logger.warning("insightface chose %s; fairbench's check expected %s", used, files)
    sessions = [det.session, rec.session]
    actual = list(dict.fromkeys(prov for s in sessions for prov in s.get_providers()))
    return _Loaded(
        det=det,
        rec=rec,
        files=used,
        weights_sha256={f.name: sha256_file(f) for f in used.values()},
        embedding_size=_embedding_size(rec),
        providers=actual,
    )


def _embedding_size(rec: Any) -> int:
    """Width of the recogniser's output; run it once on a blank crop if the graph hides it."""
    size = rec.output_shape[-1] if rec.output_shape else None
    if isinstance(size, int) and size > 0:
        return size
    w, h = rec.input_size
    return int(np.asarray(rec.get_feat(np.zeros((h, w, 3), np.uint8))).reshape(-1).size)
