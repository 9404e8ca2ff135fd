"""1:N identification runs: plan, streamed searches, thresholds, per-group tables, sweeps.

Called by :func:`fairbench.api.run` when ``mode: identification``; shares the dataset,
matcher and template steps with 1:1 runs but writes its own results and report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fairbench.config import Config
from fairbench.kernels.search import search_topk
from fairbench.matchers.base import from_native, to_native
from fairbench.metrics.groups import View, make_views
from fairbench.metrics.identification import (
    IdThreshold,
    SearchOutcomes,
    id_thresholds,
    identification_tables,
    outcomes_from_topk,
)
from fairbench.plan import Plan, make_plan
from fairbench.search_plan import GALLERY, MATED, NONMATED, SearchPlan, make_search_plan


@dataclass
class IdentificationResult:
    plan: Plan
    search_plan: SearchPlan
    outcomes: SearchOutcomes
    thresholds: list[IdThreshold]
    by_group: pd.DataFrame
    false_candidates: pd.DataFrame
    sweeps: pd.DataFrame
    gallery_size: int


def _search(
    emb: np.ndarray, plan: Plan, gallery: np.ndarray, probes: np.ndarray, mated: np.ndarray,
    candidates: int, kind: str, storage: str,
) -> SearchOutcomes:
    per = np.bincount(plan.subject[gallery]).max() if len(gallery) else 1
    k = max(1, min(len(gallery), candidates * int(per)))
    scores, gidx = search_topk(emb[probes], emb[gallery], k, kind, storage=storage)
    return outcomes_from_topk(probes, plan.subject[probes], mated, scores, gidx,
                              plan.subject[gallery], candidates)


def _candidate_groups(views: Sequence[View], plan: Plan, gallery: np.ndarray) -> dict:
    """Each subject's group in each view, from its first gallery image (-1 if none)."""
    out = {}
    for v in views:
        g = np.full(len(plan.subjects), -1, dtype=np.int64)
        g[plan.subject[gallery[::-1]]] = v.image_group[gallery[::-1]]
        out[v.name] = g
    return out


def _reference(views: Sequence[View], cfg: dict[str, str], out: SearchOutcomes
               ) -> tuple[View, str | None]:
    """The view and group whose FPIR sets NIST's demographic threshold."""
    for v in views:
        if v.name in cfg:
            return v, cfg[v.name]
    v = views[0]
    pg = v.image_group[out.probe[~out.mated]]
    counts = np.bincount(pg, minlength=len(v.groups))
    known = [g for g in range(len(v.groups)) if v.is_known(g)]
    if not known or counts[known].max() == 0:
        return v, None
    return v, v.groups[max(known, key=lambda g: (counts[g], v.groups[g]))]


def run_identification(config: Config, frame: pd.DataFrame, attributes: list[str],
                       embeddings: np.ndarray, kind: str,
                       label_sources: dict[str, str]) -> IdentificationResult:
    """Plan, search, threshold and tabulate one 1:N run (plus gallery sweeps)."""
    ic = config.identification
    plan = make_plan(frame, attributes)
    sp = make_search_plan(plan, frame, ic.nonmated_share, ic.seed, ic.gallery.per_subject,
                          ic.gallery.select)
    views = make_views(plan, attributes, config.dataset.intersections)
    gallery = sp.indices(GALLERY)
    probes = np.r_[sp.indices(MATED), sp.indices(NONMATED)]
    mated = np.r_[np.ones(len(sp.indices(MATED)), bool), np.zeros(len(sp.indices(NONMATED)),
                                                                  bool)]
    out = _search(embeddings, plan, gallery, probes, mated, ic.candidates, kind, ic.storage)
    ref_view, ref_group = _reference(views, ic.reference_group, out)
    thresholds = id_thresholds(
        out, ref_view.image_group[out.probe], ref_view.groups, ic.target_fpir, ref_group,
        ic.reference_fpir, ic.fixed_thresholds, lambda s: to_native(s, kind),  # type: ignore
        lambda v: from_native(v, kind))  # type: ignore[arg-type]
    settings = {"confidence": ic.confidence, "min_errors": ic.min_errors,
                "replicates": ic.bootstrap.replicates, "seed": ic.bootstrap.seed}
    n_gallery_subjects = int(sp.enrolled.sum())
    cand = _candidate_groups(views, plan, gallery)
    by_group, false_cands = identification_tables(
        plan, out, views, thresholds, ic.rank, n_gallery_subjects, settings, label_sources,
        cand)
    sweeps = _sweeps(config, plan, sp, views, embeddings, kind, thresholds, label_sources)
    return IdentificationResult(plan, sp, out, thresholds, by_group, false_cands, sweeps,
                                n_gallery_subjects)


def _sweeps(config: Config, plan: Plan, sp: SearchPlan, views: Sequence[View],
            emb: np.ndarray, kind: str, thresholds: list[IdThreshold],
            label_sources: dict[str, str]) -> pd.DataFrame:
    """FPIR and FNIR as the gallery grows, and as one group is over-represented in it."""
    ic = config.identification
    rng = np.random.default_rng(ic.seed + 1)
    enrolled = np.flatnonzero(sp.enrolled)
    first = np.full(len(plan.subjects), plan.n_images, dtype=np.int64)
    np.minimum.at(first, plan.subject, np.arange(plan.n_images))
    strat = plan.stratum[first]
    settings = {"confidence": ic.confidence, "min_errors": ic.min_errors, "replicates": 0,
                "seed": 0}
    single = [v for v in views if len(v.attributes) == 1]
    rows = []

    def one(keep: np.ndarray, label: dict[str, Any]) -> None:
        gal = sp.indices(GALLERY)
        gal = gal[keep[plan.subject[gal]]]
        mp = sp.indices(MATED)
        mp = mp[keep[plan.subject[mp]]]  # mated only when the mate is still enrolled
        nmp = sp.indices(NONMATED)
        probes = np.r_[mp, nmp]
        mated = np.r_[np.ones(len(mp), bool), np.zeros(len(nmp), bool)]
        if len(gal) == 0:
            return
        out = _search(emb, plan, gal, probes, mated, ic.candidates, kind, ic.storage)
        df, _ = identification_tables(plan, out, single, thresholds, ic.rank, int(keep.sum()),
                                      settings, label_sources)
        for k, v in label.items():
            df.insert(0, k, v)
        rows.append(df)

    for f in ic.gallery_fractions:
        keep = np.zeros(len(plan.subjects), bool)
        for s in np.unique(strat[enrolled]):
            members = enrolled[strat[enrolled] == s]
            n = max(1, int(np.ceil(f * len(members))))
            keep[rng.permutation(members)[:n]] = True
        one(keep, {"sweep": "gallery_size", "fraction": f, "over_represented": ""})
    if ic.makeup is not None and single:
        attr = ic.makeup.attribute or single[0].name
        view = next((v for v in single if v.name == attr), None)
        if view is not None:
            sg = view.image_group[first]
            for g, name in enumerate(view.groups):
                own = enrolled[sg[enrolled] == g]
                rest = enrolled[sg[enrolled] != g]
                if len(own) == 0 or len(rest) == 0:
                    continue
                m = min(len(rest), int(round(len(own) * (1 - ic.makeup.share)
                                             / ic.makeup.share)))
                keep = np.zeros(len(plan.subjects), bool)
                keep[own] = True
                keep[rng.permutation(rest)[:m]] = True
                one(keep, {"sweep": "makeup", "fraction": len(own) / keep.sum(),
                           "over_represented": f"{attr}={name}"})
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
