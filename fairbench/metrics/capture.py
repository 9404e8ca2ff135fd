"""Capture, liveness and transaction rates per group, each with a Clopper-Pearson interval.

Plain counting on per-image (or per-transaction) outcome columns, so every number can be
checked by hand:

- FTA = images not acquired / images; FTE = subjects whose enrolment image was not
  acquired / subjects.
- BPCER (ISO/IEC 30107-3) = bona fide presentations with score < t / bona fide
  presentations; APCER per PAI species = attack presentations with score >= t / attack
  presentations of that species.
- Transaction (ISO/IEC 19795-1): a genuine attempt is rejected at the first failing stage
  (capture, then liveness, then 1:1 match); P(reject) = sum of the stage shares; over k
  independent attempts, P(at least one rejection) = 1 - (1 - p)^k.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from fairbench.metrics.intervals import clopper_pearson, rate

ALL = "all"
STAGES = ("capture", "liveness", "match")


def rate_cols(prefix: str, k: int, n: int, confidence: float = 0.95) -> dict[str, float | int]:
    """``{prefix}, {prefix}_ci_low, {prefix}_ci_high, n_{prefix}_errors`` for k of n."""
    lo, hi = clopper_pearson(k, n, confidence)
    return {prefix: float(rate(k, n)), f"{prefix}_ci_low": float(lo),
            f"{prefix}_ci_high": float(hi), f"n_{prefix}_errors": int(k)}


def _groups(frame: pd.DataFrame, attributes: Sequence[str]) -> list[tuple[str, str, np.ndarray]]:
    """(attribute, group, row mask): the whole set first, then each attribute's groups."""
    out = [(ALL, ALL, np.ones(len(frame), dtype=bool))]
    for a in attributes:
        col = frame[a].astype(str)
        for g in sorted(col.unique()):
            out.append((a, g, (col == g).to_numpy()))
    return out


def group_rates(
    frame: pd.DataFrame, error: str, attributes: Sequence[str], prefix: str,
    eligible: str | None = None, confidence: float = 0.95, n_name: str = "n_images",
) -> pd.DataFrame:
    """Per group: rows where ``eligible`` (all rows if None), and the share with ``error``."""
    err = frame[error].to_numpy(dtype=bool)
    ok = np.ones(len(frame), bool) if eligible is None else frame[eligible].to_numpy(bool)
    rows = []
    for attr, grp, m in _groups(frame, attributes):
        sel = m & ok
        n, k = int(sel.sum()), int((err & sel).sum())
        rows.append({"attribute": attr, "group": grp, n_name: n,
                     **rate_cols(prefix, k, n, confidence)})
    return pd.DataFrame(rows)


def fte_frame(images: pd.DataFrame, acquired: str = "acquired") -> pd.DataFrame:
    """One row per subject: its enrolment image (first listed) and whether it failed."""
    first = images.drop_duplicates("subject_id", keep="first").copy()
    first["fte"] = ~first[acquired].to_numpy(dtype=bool)
    return first


def pad_rates(
    scores: np.ndarray, presentation: Sequence[str], species: Sequence[str], threshold: float,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """BPCER over bona fide rows and APCER per PAI species over attack rows, at ``threshold``.

    A presentation is classified bona fide when its score >= threshold; a NaN score (no
    face to score) counts as classified attack, i.e. a bona fide error.
    """
    s = np.asarray(scores, dtype=float)
    pres = np.asarray(presentation, dtype=object)
    spec = np.asarray(species, dtype=object)
    accepted = np.where(np.isnan(s), False, s >= threshold)
    rows = []
    bona = pres == "bona_fide"
    k, n = int((~accepted & bona).sum()), int(bona.sum())
    rows.append({"metric": "BPCER", "pai_species": "", "n_presentations": n,
                 **_rename(rate_cols("rate", k, n, confidence))})
    for sp in sorted({str(x) for x in spec[pres == "attack"]}):
        m = (pres == "attack") & (spec == sp)
        k, n = int((accepted & m).sum()), int(m.sum())
        rows.append({"metric": "APCER", "pai_species": sp, "n_presentations": n,
                     **_rename(rate_cols("rate", k, n, confidence))})
    df = pd.DataFrame(rows)
    df.insert(0, "threshold", threshold)
    return df


def _rename(d: dict[str, float | int]) -> dict[str, float | int]:
    return {("n_errors" if k == "n_rate_errors" else k): v for k, v in d.items()}


def first_failure(captured: np.ndarray, live: np.ndarray, matched: np.ndarray) -> np.ndarray:
    """Stage at which each genuine attempt is rejected ('' when it passes all three)."""
    c, lv, m = (np.asarray(x, dtype=bool) for x in (captured, live, matched))
    out = np.full(len(c), "", dtype=object)
    out[~c] = "capture"
    out[c & ~lv] = "liveness"
    out[c & lv & ~m] = "match"
    return out


def repeated(p: float | np.ndarray, k: int) -> float | np.ndarray:
    """P(at least one rejection in k independent attempts) = 1 - (1 - p)^k."""
    return 1.0 - (1.0 - np.asarray(p, dtype=float)) ** k


def transaction_table(
    frame: pd.DataFrame, stage: str, attributes: Sequence[str], ks: Sequence[int] = (1, 5, 30),
    confidence: float = 0.95, stages: Sequence[str] = STAGES,
) -> pd.DataFrame:
    """Per group: P(rejected) with interval, its split by stage (shares of all attempts and
    conditional rates), and 1-(1-p)^k for each k (p the point estimate)."""
    st = frame[stage].astype(str).to_numpy()
    rows = []
    for attr, grp, m in _groups(frame, attributes):
        n = int(m.sum())
        k_rej = int((m & (st != "")).sum())
        row: dict[str, float | int | str] = {"attribute": attr, "group": grp,
                                             "n_transactions": n}
        row |= rate_cols("p_reject", k_rej, n, confidence)
        reached = n
        for s in stages:
            ks_ = int((m & (st == s)).sum())
            row[f"n_rejected_{s}"] = ks_
            row[f"share_{s}"] = float(rate(ks_, n))
            row[f"rate_{s}_given_reached"] = float(rate(ks_, reached))
            reached -= ks_
        for k in ks:
            row[f"p_reject_any_of_{k}"] = float(repeated(row["p_reject"], k))
        rows.append(row)
    return pd.DataFrame(rows)
