"""FTA counting on no-face and unreadable images; the ONNX PAD plugin on a real face."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import pytest

from fairbench.capture.pad import OnnxPad, build_pad
from fairbench.capture.pipeline import run_capture
from fairbench.config import CaptureConfig
from fairbench.errors import MatcherError
from fairbench.matchers.base import NO_FACE, FaceResult, Matcher, MatcherInfo
from fairbench.matchers.yunet import YuNetDetector, pick_face


class _FlatIsNoFace(Matcher):
    """Stub matcher: a flat image has no face; anything else embeds as its mean colour."""

    name = "stub"

    def embed_batch(self, images: Sequence[np.ndarray]) -> list[FaceResult]:
        out = []
        for im in images:
            if im.std() < 3:
                out.append(FaceResult.failed(NO_FACE, n_faces=0))
            else:
                e = im.reshape(-1, 3).mean(axis=0).astype(np.float32) + 1
                out.append(FaceResult(embedding=e, detector_score=0.9,
                                      face_box=(0, 0, im.shape[1], im.shape[0]), n_faces=1))
        return out

    def info(self) -> MatcherInfo:
        return MatcherInfo("stub", "0", {}, 3, "cosine", "cosine similarity",
                           "higher_is_more_alike")


def _liveness(models: Path) -> dict[str, Any]:
    return {"model": models / "liveness.onnx",
            "input": {"name": "conv2d_1_input", "size": 32, "scale": 1 / 255},
            "output": "activation_6", "bona_fide_index": 0}


def test_fta_counts_no_face_and_unreadable(tmp_path: Path, models_dir: Path,
                                           london16: Path) -> None:
    flat = tmp_path / "flat.png"
    cv2.imwrite(str(flat), np.full((120, 120, 3), 128, np.uint8))
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image")
    face = london16 / "001_neutral.jpg"
    frame = pd.DataFrame({"image_id": ["f1", "f2", "flat", "junk", "missing"],
                          "subject_id": ["1", "1", "2", "2", "3"],
                          "eth": ["a", "a", "b", "b", "b"]})
    paths = [face, london16 / "001_smiling.jpg", flat, junk, tmp_path / "nope.jpg"]
    m = _FlatIsNoFace()
    clean = np.stack([r.embedding if r.acquired else np.full(3, np.nan, np.float32)
                      for r in m.embed_batch([cv2.imread(str(face))[..., ::-1]] * 2 +
                                             [np.full((4, 4, 3), 128, np.uint8)] * 3)])
    cfg = CaptureConfig(conditions=["clean", "blur"], detector_model=models_dir /
                        "yunet_s_640_640.onnx", liveness={"params": _liveness(models_dir)})
    res = run_capture(cfg, frame, paths, m, clean, "cosine", -1.0, ["eth"], progress=False)
    o = res.outcomes[res.outcomes["condition"] == "clean"].set_index("image_id")
    assert o.loc["flat", "failure_reason"] == NO_FACE
    assert o.loc["junk", "failure_reason"] == "unreadable_image"
    assert o.loc["missing", "failure_reason"] == "unreadable_image"
    t = res.tables["capture_by_group"].set_index(["condition", "attribute", "group"])
    assert t.loc[("clean", "all", "all"), "n_images"] == 5
    assert t.loc[("clean", "all", "all"), "fta_errors"] == 3
    assert t.loc[("clean", "eth", "a"), "fta"] == 0.0
    assert t.loc[("clean", "eth", "b"), "fta"] == 1.0
    fte = res.tables["fte_by_group"].set_index("group")
    assert fte.loc["all", "n_enrolment_attempts"] == 3 and fte.loc["all", "fte_errors"] == 2
    assert np.isfinite(res.images.loc[0, "skin_tone_ita"])  # a real face gets an ITA
    assert res.images.loc[0, "skin_tone_group"] in ("lighter", "medium", "darker")
    tr = res.tables["transaction_by_group"]
    assert set(tr["condition"]) == {"clean", "blur"}
    o = res.outcomes.set_index(["image_id", "condition"])
    assert o.loc[("f1", "blur"), "sharpness"] < o.loc[("f1", "clean"), "sharpness"]
    assert o.loc[("f1", "clean"), "face_px"] > 0


def test_onnx_pad_scores_a_face(models_dir: Path, london16: Path) -> None:
    img = cv2.imread(str(london16 / "001_neutral.jpg"))[..., ::-1].copy()
    face = pick_face(YuNetDetector(models_dir / "yunet_s_640_640.onnx").detect(img))
    assert face is not None
    pad = build_pad("onnx", _liveness(models_dir))
    s = pad.score([img, img], [face.box, face.box])
    assert s.shape == (2,) and np.all((s >= 0) & (s <= 1)) and s[0] == s[1]
    assert "CPUExecutionProvider" in pad.info()["providers"]


def test_onnx_pad_refuses_wrong_sha(models_dir: Path) -> None:
    pad = OnnxPad(**_liveness(models_dir), sha256="0" * 64)
    with pytest.raises(MatcherError, match="sha256"):
        pad.score([np.zeros((40, 40, 3), np.uint8)])


def test_skin_tone_agreement_table() -> None:
    from fairbench.metrics.capture import skin_tone_agreement

    out = pd.DataFrame({"condition": ["clean"] * 4 + ["blur"],
                        "eth": ["x", "x", "y", "y", "y"],
                        "skin_tone_ita": [-40.0, -20.0, 60.0, np.nan, 0.0],
                        "skin_tone_group": ["darker", "darker", "lighter", "unknown", "x"]})
    t = skin_tone_agreement(out, ["eth", "skin_tone_group"]).set_index("group")
    assert t.loc["x", "ita_median"] == -30.0 and t.loc["x", "share_darker"] == 1.0
    assert t.loc["y", "n_ita_measured"] == 1 and t.loc["y", "share_unknown"] == 0.5


def test_skin_tone_confusion_with_an_annotated_scale() -> None:
    """An annotated scale grouped into the derived tone groups: confusion counts and
    Cohen's kappa equal a hand computation; an attribute of another vocabulary is left to
    the agreement table."""
    import pandas as pd

    from fairbench.metrics.capture import skin_tone_confusion

    derived = ["lighter", "lighter", "medium", "darker", "darker", "medium", "unknown"]
    given = ["lighter", "medium", "medium", "darker", "medium", "medium", "darker"]
    out = pd.DataFrame({"condition": "clean", "skin_tone_group": derived,
                        "fitz_tone": given, "eth": ["white"] * 7})
    t = skin_tone_confusion(out, ["fitz_tone", "eth", "skin_tone_group"])
    assert set(t.attribute) == {"fitz_tone"}
    assert t.n_compared.iloc[0] == 6
    cell = t.set_index(["annotated", "derived"]).n_images
    assert cell[("medium", "lighter")] == 1 and cell[("medium", "darker")] == 1
    # kappa by hand: observed 4/6 agreement; expected from the marginals
    n = 6
    pa = {"lighter": 1, "medium": 4, "darker": 1}
    pd_ = {"lighter": 2, "medium": 2, "darker": 2}
    pe = sum(pa[k] * pd_[k] for k in pa) / n**2
    assert t.kappa.iloc[0] == pytest.approx((4 / 6 - pe) / (1 - pe))
