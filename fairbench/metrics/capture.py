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

from fairbench.core.settings import Settings
from fairbench.metrics.groups import ALL, joined
from fairbench.metrics.intervals import rate
from fairbench.metrics.rates import scalar_columns

STAGES = ("capture", "liveness", "match")


def _groups(frame: pd.DataFrame, attributes: Sequence[str]
            ) -> list[tuple[str, str, np.ndarray]]:
    """(attribute, group, row mask): the whole set first, then each breakdown's groups.

    An attribute may be an intersection (``eth|sex``); its groups are joined the same way
    as in the 1:1 tables.
    """
    out = [(ALL, ALL, np.ones(len(frame), dtype=bool))]
    for a in attributes:
        col = joined(frame, a.split("|"))
        for g in sorted(col.unique()):
            out.append((a, g, (col == g).to_numpy()))
    return out


def group_rates(
    frame: pd.DataFrame, error: str, attributes: Sequence[str], name: str,
    eligible: str | None = None, s: Settings | None = None,
) -> pd.DataFrame:
    """Per group: rows where ``eligible`` (all rows if None), and the share with ``error``,
    in the common rate columns of ``name`` (e.g. ``fta, ..., fta_errors, n_images``)."""
    err = frame[error].to_numpy(dtype=bool)
    ok = np.ones(len(frame), bool) if eligible is None else frame[eligible].to_numpy(bool)
    rows = []
    for attr, grp, m in _groups(frame, attributes):
        sel = m & ok
        rows.append({"attribute": attr, "group": grp,
                     **scalar_columns(name, int((err & sel).sum()), int(sel.sum()), s)})
    return pd.DataFrame(rows)


def fte_frame(images: pd.DataFrame, acquired: str = "acquired") -> pd.DataFrame:
    """One row per subject: its enrolment image (first listed) and whether it failed."""
    first = images.drop_duplicates("subject_id", keep="first").copy()
    first["fte"] = ~first[acquired].to_numpy(dtype=bool)
    return first


def pad_rates(
    scores: np.ndarray, presentation: Sequence[str], species: Sequence[str], threshold: float,
    s: Settings | None = None,
) -> pd.DataFrame:
    """APCER per PAI species over attack presentations at ``threshold`` (ISO/IEC 30107-3).

    A presentation is classified bona fide when its score >= threshold; a NaN score (no
    face to score) counts as classified attack.
    """
    sc = np.asarray(scores, dtype=float)
    pres = np.asarray(presentation, dtype=object)
    spec = np.asarray(species, dtype=object)
    accepted = np.where(np.isnan(sc), False, sc >= threshold)
    rows = []
    for sp in sorted({str(x) for x in spec[pres == "attack"]}):
        m = (pres == "attack") & (spec == sp)
        rows.append({"pai_species": sp, "threshold": threshold,
                     **scalar_columns("apcer", int((accepted & m).sum()), int(m.sum()), s)})
    return pd.DataFrame(rows)


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
    s: Settings | None = None, stages: Sequence[str] = STAGES,
) -> pd.DataFrame:
    """Per group: P(rejected) with interval, its split by stage (shares of all attempts and
    conditional rates), and 1-(1-p)^k for each k (p the point estimate)."""
    st = frame[stage].astype(str).to_numpy()
    rows = []
    for attr, grp, m in _groups(frame, attributes):
        n = int(m.sum())
        k_rej = int((m & (st != "")).sum())
        row: dict[str, float | int | str] = {"attribute": attr, "group": grp}
        row |= scalar_columns("p_reject", k_rej, n, s)
        reached = n
        for stg in stages:
            ks_ = int((m & (st == stg)).sum())
            row[f"n_rejected_{stg}"] = ks_
            row[f"share_{stg}"] = float(rate(ks_, n))
            row[f"rate_{stg}_given_reached"] = float(rate(ks_, reached))
            reached -= ks_
        for k in ks:
            row[f"p_reject_any_of_{k}"] = float(repeated(row["p_reject"], k))
        rows.append(row)
    return pd.DataFrame(rows)


def skin_tone_agreement(outcomes: pd.DataFrame, attributes: Sequence[str]) -> pd.DataFrame:
    """Derived tone against every other single attribute: ITA median and quartiles, and the
    share of each group's images in each derived tone group (so disagreement is visible)."""
    o = outcomes[outcomes["condition"] == "clean"]
    if "skin_tone_group" not in o:
        return pd.DataFrame()
    tones = sorted(o["skin_tone_group"].astype(str).unique())
    rows = []
    for attr in attributes:
        if attr == "skin_tone_group" or "|" in attr:
            continue
        for grp, g in o.groupby(o[attr].astype(str)):
            ita = g["skin_tone_ita"].astype(float)
            row: dict[str, object] = {
                "attribute": attr, "group": grp, "n_images": len(g),
                "n_ita_measured": int(ita.notna().sum()), "ita_median": ita.median(),
                "ita_q25": ita.quantile(0.25), "ita_q75": ita.quantile(0.75)}
            share = g["skin_tone_group"].astype(str).value_counts(normalize=True)
            row |= {f"share_{t}": float(share.get(t, 0.0)) for t in tones}
            rows.append(row)
    return pd.DataFrame(rows)


def skin_tone_confusion(outcomes: pd.DataFrame, attributes: Sequence[str]) -> pd.DataFrame:
    """Derived tone against every annotated scale put into the same groups (e.g. a card's
    Fitzpatrick grouping into lighter / medium / darker): the confusion counts and Cohen's
    kappa of the two labelings over the images where both are known."""
    from sklearn.metrics import cohen_kappa_score

    o = outcomes[outcomes["condition"] == "clean"]
    if "skin_tone_group" not in o:
        return pd.DataFrame()
    derived = o["skin_tone_group"].astype(str)
    tones = set(derived) - {"unknown"}
    rows = []
    for attr in attributes:
        if attr == "skin_tone_group" or "|" in attr or attr not in o:
            continue
        given = o[attr].astype(str)
        known = (given != "unknown") & (derived != "unknown")
        if not known.any() or not set(given[known]) <= tones | set(DEFAULT_TONES):
            continue  # another vocabulary (ethnicity): skin_tone_agreement shows it
        kappa = float(cohen_kappa_score(given[known], derived[known]))
        table = pd.crosstab(given[known], derived[known])
        for a in table.index:
            for d in table.columns:
                rows.append({"attribute": attr, "annotated": a, "derived": d,
                             "n_images": int(table.loc[a, d]), "kappa": kappa,
                             "n_compared": int(known.sum())})
    return pd.DataFrame(rows)


DEFAULT_TONES = ("lighter", "medium", "darker")
