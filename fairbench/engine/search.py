"""1:N searches over a search plan: streamed top-k, collapsed to ranked gallery subjects.

Ranks follow one documented, conservative rule that does not depend on gallery order: a
gallery subject's score is its best image's score, and the mate's rank is 1 + the number
of non-mated subjects scoring at or above the mate (a tie with a non-mate ranks the mate
after it). The kernel is asked for ``candidates * per + 1`` images (``per`` the most
gallery images of one subject), which is enough to decide every rank up to
``candidates`` exactly, ties at the end of the list included: if the mate ties with the
last image listed, at least ``candidates`` non-mated subjects score as high, so the mate is
not listed whatever lies beyond.
"""

from __future__ import annotations

import numpy as np

from fairbench.core.codes import Plan
from fairbench.core.search import SearchOutcomes
from fairbench.kernels.prep import failed_rows
from fairbench.kernels.search import search_topk


def outcomes_from_topk(
    probe: np.ndarray, probe_subject: np.ndarray, mated: np.ndarray, scores: np.ndarray,
    gallery_index: np.ndarray, gallery_subject: np.ndarray, candidates: int,
    probe_failed: np.ndarray, mate_enrolled: np.ndarray,
) -> SearchOutcomes:
    """Collapse each probe's top-k images into ranked subjects (see the module docstring).

    Among non-mated subjects tied for the best score, the one with the lowest subject code
    is reported as the false candidate.
    """
    P, k = scores.shape
    mate_rank = np.zeros(P, dtype=np.int64)
    mate_score = np.full(P, -np.inf, dtype=np.float32)
    nm_score = np.full(P, -np.inf, dtype=np.float32)
    nm_subj = np.full(P, -1, dtype=np.int64)
    for p in range(P):
        best: dict[int, float] = {}
        for c in range(k):
            g = gallery_index[p, c]
            if g < 0 or not np.isfinite(scores[p, c]):
                break
            best.setdefault(int(gallery_subject[g]), float(scores[p, c]))  # descending
        mate = int(probe_subject[p])
        others = {s: v for s, v in best.items() if s != mate}
        if others:
            top = max(others.values())
            nm_score[p] = top
            nm_subj[p] = min(s for s, v in others.items() if v == top)
        if mate in best:
            ms = best[mate]
            rank = 1 + sum(v >= ms for v in others.values())
            if rank <= candidates:
                mate_rank[p], mate_score[p] = rank, ms
    return SearchOutcomes(probe, mated, mate_rank, mate_score, nm_score, nm_subj,
                          probe_failed, mate_enrolled)


def run_searches(emb: np.ndarray, plan: Plan, gallery: np.ndarray, probes: np.ndarray,
                 mated: np.ndarray, candidates: int, kind: str, storage: str = "float32",
                 failed: np.ndarray | None = None) -> SearchOutcomes:
    """Search every probe against the gallery images and collapse to subject ranks.

    ``failed`` (per image) marks templates that cannot be scored; by default it is read
    from the embeddings as the kernels read them.
    """
    failed = failed_rows(emb, kind) if failed is None else failed
    per = int(np.bincount(plan.subject[gallery]).max()) if len(gallery) else 1
    k = max(1, min(len(gallery), candidates * per + 1))
    scores, gidx = search_topk(emb[probes], emb[gallery], k, kind, storage=storage)
    ok_gallery = np.zeros(plan.n_subjects, dtype=bool)
    ok_gallery[plan.subject[gallery[~failed[gallery]]]] = True
    subj = plan.subject[probes]
    return outcomes_from_topk(probes, subj, mated, scores, gidx, plan.subject[gallery],
                              candidates, failed[probes], mated & ok_gallery[subj])
