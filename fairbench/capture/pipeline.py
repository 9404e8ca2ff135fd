"""The capture stage of a 1:1 run: stress conditions, skin tone, liveness, transactions.

For every image: decode once, YuNet face box and landmarks (skin patches, PAD crops), ITA.
For every condition: transform, embed with the run's matcher, apply the acquisition rule,
score liveness; probes (each subject's images after the first) are compared with the
subject's clean enrolment template (the first listed image) at the run's threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from fairbench.capture import skin, stress
from fairbench.capture.pad import PadPlugin, build_pad
from fairbench.config import CaptureConfig
from fairbench.core.operating import OperatingPoint
from fairbench.core.settings import Settings
from fairbench.errors import ConfigError
from fairbench.kernels.prep import prepare, score_pairs
from fairbench.matchers.base import FaceResult, Matcher, decode_image, read_bytes
from fairbench.matchers.images import MAX_PIXELS
from fairbench.matchers.yunet import YuNetDetector, pick_face
from fairbench.metrics import capture as cm
from fairbench.metrics.groups import ALL, JOIN, attribute_sets

SKIN_COLS = ("skin_tone_ita", "skin_tone_band", "skin_tone_group")


@dataclass
class CaptureResult:
    """Per-image outcomes (long: image x condition) and the tables built from them."""

    images: pd.DataFrame  # one row per image: ITA, bands, clean liveness score
    outcomes: pd.DataFrame  # one row per (image, condition)
    tables: dict[str, pd.DataFrame]  # capture_by_group, liveness_by_group, ... (non-empty)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def label_sources(self) -> dict[str, str]:
        """Label sources of the derived attributes this stage adds (empty without ITA)."""
        if "skin_tone_group" not in self.images:
            return {}
        return {"skin_tone_group": f"derived ({skin.METHOD_VERSION})"}


def acquisition_rule(cfg: CaptureConfig) -> str:
    """The rule deciding 'acquired', printed beside every capture table."""
    a = cfg.acquisition
    return (f"matcher produced a template and detector score >= {a.min_detector_score:g} "
            f"and face box shorter side >= {a.min_face_px:g} px")


def _acquired(res: FaceResult, cfg: CaptureConfig) -> tuple[bool, str]:
    if not res.acquired:
        return False, res.failure_reason or "error: unknown"
    a = cfg.acquisition
    if res.detector_score is not None and res.detector_score < a.min_detector_score:
        return False, "low_detector_score"
    if res.face_box is not None and min(res.face_box[2], res.face_box[3]) < a.min_face_px:
        return False, "face_too_small"
    return True, ""


def sharpness(image: np.ndarray, box: tuple[float, float, float, float]) -> float:
    """Variance of the Laplacian of the grey face box, resized to 112 px (size-neutral)."""
    import cv2

    x, y, w, h = (int(round(v)) for v in box)
    face = image[max(0, y):max(0, y) + max(h, 1), max(0, x):max(0, x) + max(w, 1)]
    if face.size == 0:
        return float("nan")
    grey = cv2.cvtColor(cv2.resize(face, (112, 112), interpolation=cv2.INTER_AREA),
                        cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def preflight(cfg: CaptureConfig) -> tuple[YuNetDetector, PadPlugin | None]:
    """The capture stage's models, checked and loaded now (a run stops before any image
    when one is missing, changed or broken)."""
    det = YuNetDetector(Path(cfg.detector_model), expected_sha256=cfg.detector_sha256,
                        key="capture.detector_model")
    det.load()
    pad: PadPlugin | None = None
    if cfg.liveness is not None:
        pad = build_pad(cfg.liveness.name, cfg.liveness.params)
        pad.info()  # loads the model
    return det, pad


def run_capture(
    cfg: CaptureConfig, frame: pd.DataFrame, paths: list[Path | None], matcher: Matcher,
    clean_embeddings: np.ndarray, similarity: str, threshold: float, attributes: list[str],
    s: Settings | None = None, progress: bool = True, max_pixels: int = MAX_PIXELS,
) -> CaptureResult:
    """Measure capture, liveness and transactions; ``threshold`` is internal similarity."""
    det, pad = preflight(cfg)
    conds = ["clean", *[c for c in cfg.conditions if c != "clean"]]
    for c in conds:
        stress.apply(c, np.zeros((8, 8, 3), np.uint8))  # unknown names fail before work
    n = len(frame)
    img_rows, out_rows = [], []
    embs: list[np.ndarray] = []
    dim = clean_embeddings.shape[1]
    for k in tqdm(range(n), desc="capture", unit="img", disable=not progress):
        data = read_bytes(paths[k])
        img = decode_image(data, max_pixels) if data is not None else None
        face = pick_face(det.detect(img)) if img is not None else None
        ita = skin.measure_ita(img, face.landmarks) if img is not None and face else np.nan
        img_rows.append({"skin_tone_ita": ita, "yunet_score": face.score if face else np.nan})
        box = face.box if face else None
        stressed = [stress.apply(c, img, cfg.seed + k, box) for c in conds] if img is not None \
            else []
        results = matcher.safe_embed_batch(stressed) if stressed else []
        for ci, c in enumerate(conds):
            res = results[ci] if results else FaceResult.failed("unreadable_image")
            ok, reason = _acquired(res, cfg)
            live = np.nan
            if ok and pad is not None:
                fb = res.face_box
                if fb is None:
                    f2 = pick_face(det.detect(stressed[ci]))
                    fb = f2.box if f2 else None
                live = float(pad.score([stressed[ci]], [fb])[0])
            e = res.embedding if ok and res.embedding is not None else np.full(dim, np.nan)
            embs.append(np.asarray(e, dtype=np.float32))
            fb = res.face_box
            out_rows.append({"row": k, "condition": c, "acquired": ok, "failure_reason": reason,
                             "detector_score": res.detector_score, "liveness_score": live,
                             "face_px": min(fb[2], fb[3]) if fb else np.nan,
                             "sharpness": sharpness(stressed[ci], fb) if fb else np.nan})
    images = pd.DataFrame(img_rows)
    if cfg.skin_tone is not None and cfg.skin_tone.enabled:
        images["skin_tone_band"] = [skin.ita_band(v) for v in images["skin_tone_ita"]]
        images["skin_tone_group"] = [skin.tone_group(v, cfg.skin_tone.groups)
                                     for v in images["skin_tone_ita"]]
        attributes = [*attributes, "skin_tone_group"]
    else:
        images = images.drop(columns=["skin_tone_ita"])
    base = frame.reset_index(drop=True)
    attr_frame = pd.concat([base, images], axis=1)
    out = pd.DataFrame(out_rows)
    out = pd.concat([out, attr_frame.loc[out["row"]].reset_index(drop=True)], axis=1)
    _match(out, np.stack(embs), clean_embeddings, similarity, threshold, base)
    _liveness(out, cfg)
    return _tables(cfg, out, attr_frame, attributes, conds, s or Settings(), pad)


def _match(out: pd.DataFrame, embs: np.ndarray, clean: np.ndarray, kind: str,
           threshold: float, base: pd.DataFrame) -> None:
    """Add enrolment row, probe flag, mated score and match outcome to ``out`` in place."""
    enrol_row = base.groupby("subject_id", sort=False).head(1)
    first = dict(zip(enrol_row["subject_id"], enrol_row.index))
    enrol = np.array([first[s] for s in out["subject_id"]])
    out["is_probe"] = enrol != out["row"].to_numpy()
    n_out = len(embs)
    both = prepare(np.concatenate([embs, clean]), kind)
    s = score_pairs(both, np.arange(n_out), n_out + enrol)
    clean_ok = np.all(np.isfinite(clean), axis=1)
    out["enrolled"] = clean_ok[enrol]
    out["mated_score"] = np.where(out["is_probe"], s, np.nan)
    out["matched"] = s >= threshold
    out["match_error"] = ~out["matched"]
    out["fta_error"] = ~out["acquired"].astype(bool)


def _liveness(out: pd.DataFrame, cfg: CaptureConfig) -> None:
    t = cfg.liveness.threshold if cfg.liveness is not None else -np.inf
    s = out["liveness_score"].to_numpy(dtype=float)
    out["live"] = np.where(np.isnan(s), cfg.liveness is None, s >= t)
    out["bpcer_error"] = ~out["live"].astype(bool)


def _tables(cfg: CaptureConfig, out: pd.DataFrame, attr_frame: pd.DataFrame,
            attributes: list[str], conds: list[str], s: Settings,
            pad: PadPlugin | None) -> CaptureResult:
    bona = (out["presentation"] == "bona_fide") if "presentation" in out else \
        pd.Series(True, index=out.index)
    out["bona_fide"] = bona.to_numpy()
    out["probe_ok"] = out["is_probe"] & out["acquired"] & out["enrolled"] & out["bona_fide"]
    out["captured_bona"] = out["acquired"] & out["bona_fide"]
    live_ok = out["live"].astype(bool)
    out["stage"] = cm.first_failure(out["acquired"], live_ok, out["matched"])
    out.loc[~out["enrolled"], "stage"] = "enrol"
    cap, liv, tra = [], [], []
    for c in conds:
        o = out[out["condition"] == c].reset_index(drop=True)
        fta = cm.group_rates(o, "fta_error", attributes, "fta", "bona_fide", s)
        fnmr = cm.group_rates(o, "match_error", attributes, "fnmr_vs_clean", "probe_ok", s)
        t = fta.merge(fnmr, on=["attribute", "group"])
        t.insert(0, "condition", c)
        t["condition_description"] = stress.describe(c)
        cap.append(t)
        if pad is not None:
            b = cm.group_rates(o, "bpcer_error", attributes, "bpcer", "captured_bona", s)
            b.insert(0, "condition", c)
            liv.append(b)
        tr = o[o["is_probe"] & o["bona_fide"]].reset_index(drop=True)
        tt = cm.transaction_table(tr, "stage", attributes, cfg.transaction_k, s,
                                  stages=("enrol", *cm.STAGES))
        tt.insert(0, "condition", c)
        tra.append(tt)
    rule = acquisition_rule(cfg)
    capture_t = pd.concat(cap, ignore_index=True)
    capture_t["acquisition_rule"] = rule
    live_t = pd.concat(liv, ignore_index=True) if liv else pd.DataFrame()
    apcer = pd.DataFrame()
    if pad is not None:
        assert cfg.liveness is not None
        validation = "validated" if cfg.liveness.validated else "UNVALIDATED"
        live_t["threshold"] = cfg.liveness.threshold
        live_t["validation"] = validation
        clean = out[out["condition"] == "clean"]
        if "presentation" in clean and "attack_species" in clean:
            apcer = cm.pad_rates(clean["liveness_score"], clean["presentation"],
                                 clean["attack_species"], cfg.liveness.threshold, s)
            apcer["validation"] = validation
    clean = out[out["condition"] == "clean"].reset_index(drop=True)
    fte = cm.group_rates(cm.fte_frame(clean), "fte", attributes, "fte", s=s)
    images = attr_frame[[c for c in attr_frame.columns if c in (*SKIN_COLS, "yunet_score")]]
    images = images.assign(liveness_score=clean["liveness_score"].to_numpy())
    summary = {
        "conditions": conds, "acquisition_rule": rule, "seed": cfg.seed,
        "attributes": attributes,
        "skin_tone_method": skin.METHOD_VERSION if "skin_tone_group" in attributes else None,
        "liveness": None if pad is None else {**pad.info(), "threshold": cfg.liveness.threshold,
                                              "validated": cfg.liveness.validated},
    }
    tables = {"capture_by_group": capture_t, "liveness_by_group": live_t,
              "apcer_by_species": apcer, "transaction_by_group": pd.concat(tra, ignore_index=True),
              "fte_by_group": fte, "skin_tone_agreement": cm.skin_tone_agreement(out, attributes),
              "skin_tone_confusion": cm.skin_tone_confusion(out, attributes)}
    return CaptureResult(images, out, {k: v for k, v in tables.items() if len(v)}, summary)


def capture_stage(config: Any, ds: Any, matcher: Matcher, embeddings: np.ndarray,
                  points: list[OperatingPoint], similarity: str, label_sources: dict[str, str],
                  progress: bool = True) -> CaptureResult:
    """Run :func:`run_capture` for a 1:1 run at its chosen operating point.

    The operating point is ``capture.target_fmr`` when given, else the first supported
    target-FMR threshold of the run; breakdowns are the run's attributes and their
    intersections, joined with ``|`` as in the 1:1 tables.
    """
    cfg: CaptureConfig = config.capture
    pts = [p for p in points if p.kind == "target_fmr" and p.supported]
    if cfg.target_fmr is not None:
        pts = [p for p in pts if p.matches("target_fmr", cfg.target_fmr)]
    if not pts:
        raise ConfigError("capture: no supported target-FMR threshold to read matches at",
                          [f"capture.target_fmr={cfg.target_fmr}",
                           f"verification.target_fmr={config.verification.target_fmr}"])
    thr = pts[0]
    paths = [r.path for r in ds.manifest.records()]
    attrs = [JOIN.join(a) for a in attribute_sets(ds.attributes, config.dataset.intersections)]
    res = run_capture(cfg, ds.manifest.frame.copy(), paths, matcher, embeddings, similarity,
                      float(thr.similarity), attrs, config.settings(), progress,
                      config.dataset.max_image_pixels)
    res.summary["operating_point"] = thr.to_dict()
    sources = {**label_sources, **res.label_sources, ALL: ""}
    for t in res.tables.values():
        if "attribute" in t:
            t.insert(2, "label_source", [" | ".join(sources.get(p, "unspecified")
                                                    for p in str(a).split(JOIN)) if a != ALL
                                         else "" for a in t["attribute"]])
    return res


def notes(cap: CaptureResult) -> list[str]:
    """Plain-language labels every reader of the capture tables must see."""
    s = cap.summary
    out = [f"capture: acquired means {s['acquisition_rule']}; stress conditions "
           f"{', '.join(s['conditions'])} (seed {s['seed']})."]
    if s.get("skin_tone_method"):
        out.append(f"skin_tone_group is DERIVED, not self-reported: {s['skin_tone_method']}.")
    live = s.get("liveness")
    if live and not live.get("validated"):
        out.append("liveness: the PAD model is UNVALIDATED (a toy model for plumbing); "
                   "BPCER/APCER figures are not evidence about any deployed system.")
    return out


OUTCOME_COLUMNS = ["image_id", "subject_id", "condition", "acquired", "failure_reason",
                   "detector_score", "face_px", "sharpness", "liveness_score", "mated_score",
                   "stage"]
