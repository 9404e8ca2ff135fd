"""1:N searches over a search plan: streamed top-k, collapsed to ranked gallery subjects.

Ranks follow one documented, conservative rule that does not depend on gallery order: a
gallery subject's score is its best image's score, and the mate's rank is 1 + the number
of non-mated subjects scoring at or above the mate (a tie with a non-mate ranks the mate
after it). The kernel is asked for ``candidates * per + 1`` images (``per`` the most
gallery images of one subject), which is enough to decide every rank up to
``candidates`` exactly, ties at the end of the list included: if the mate ties with the
last image listed, at least ``candidates`` non-mated subjects score as high, so the mate is
not listed whatever lies beyond.

Given a remote executor (a Ray cluster), the search is cut into tasks of whole kernel
blocks (gallery shards of whole gallery blocks, probe chunks of whole probe blocks): each
task's top-k is the local kernel's over its shard, and :func:`merge_topk` keeps the best
``k`` by the kernel's own order (higher score, then lower gallery index), which is a total
order, so the merged lists equal the local ones bit for bit, ties included.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fairbench.core.codes import Plan
from fairbench.core.search import SearchOutcomes
from fairbench.executors.base import Executor
from fairbench.kernels.prep import failed_rows
from fairbench.kernels.search import merge_topk, search_topk

GALLERY_BLOCK = 4096  # the kernel's gallery block: shards are whole blocks (same tiles)
PROBE_BLOCK = 256  # the kernel's probe block: probe chunks are whole blocks


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


def _cuts(n: int, block: int, parts: int) -> list[tuple[int, int]]:
    """``[0, n)`` in at most ``parts`` ranges of whole ``block``s (the last may be short)."""
    blocks = -(-n // block)
    per = -(-blocks // max(1, parts))
    return [(a * block, min(n, (a + per) * block)) for a in range(0, blocks, per)]


def _shard(shared: tuple[np.ndarray, np.ndarray, int, str, str],
           item: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """One task: probes p0:p1 against gallery rows g0:g1, one core; gallery indices global."""
    probes, gallery, k, kind, storage = shared
    p0, p1, g0, g1 = item
    s, i = search_topk(probes[p0:p1], gallery[g0:g1], k, kind, block=GALLERY_BLOCK,
                       probe_block=PROBE_BLOCK, threads=1, storage=storage)
    return s, np.where(i >= 0, i + g0, -1)


def sharded_topk(executor: Executor, probes: np.ndarray, gallery: np.ndarray, k: int,
                 kind: str, storage: str = "float32") -> tuple[np.ndarray, np.ndarray]:
    """:func:`search_topk` as tasks over gallery shards (and probe chunks), merged exactly
    (see the module docstring)."""
    n_p, n_g = len(probes), len(gallery)
    want = 2 * executor.parallelism()
    shards = _cuts(n_g, GALLERY_BLOCK, want)
    chunks = _cuts(n_p, PROBE_BLOCK, max(1, want // len(shards)))
    shared: Any = executor.put((probes, gallery, k, kind, storage))
    tasks = [(p0, p1, g0, g1) for p0, p1 in chunks for g0, g1 in shards]
    best: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(chunks)
    for t, (s, i) in executor.imap(_shard, tasks, shared):
        c = t // len(shards)  # each shard's list folds into its probe chunk's as it comes:
        have = best[c]  # the best k of a union is the best k of the best k's, in any order
        best[c] = (s, i) if have is None else merge_topk(
            np.concatenate([have[0], s], axis=1), np.concatenate([have[1], i], axis=1), k)
    done = [b for b in best if b is not None]
    assert len(done) == len(chunks)
    return np.concatenate([b[0] for b in done]), np.concatenate([b[1] for b in done])


def run_searches(emb: np.ndarray, plan: Plan, gallery: np.ndarray, probes: np.ndarray,
                 mated: np.ndarray, candidates: int, kind: str, storage: str = "float32",
                 failed: np.ndarray | None = None, executor: Executor | None = None,
                 device: str = "cpu", precision: str = "float32") -> SearchOutcomes:
    """Search every probe against the gallery images and collapse to subject ranks.

    ``failed`` (per image) marks templates that cannot be scored; by default it is read
    from the embeddings as the kernels read them. A remote ``executor`` runs the search
    as shard tasks (:func:`sharded_topk`, same lists); ``device="cuda"`` runs it on this
    machine's GPU (:func:`fairbench.kernels.device.search.device_search_topk`).
    """
    failed = failed_rows(emb, kind) if failed is None else failed
    per = int(np.bincount(plan.subject[gallery]).max()) if len(gallery) else 1
    k = max(1, min(len(gallery), candidates * per + 1))
    if device != "cpu":
        from fairbench.kernels.device.search import device_search_topk

        scores, gidx = device_search_topk(emb[probes], emb[gallery], k, kind, device=device,
                                          storage=storage, precision=precision)
    elif executor is not None and executor.remote and len(gallery) and len(probes):
        scores, gidx = sharded_topk(executor, emb[probes], emb[gallery], k, kind, storage)
    else:
        scores, gidx = search_topk(emb[probes], emb[gallery], k, kind, block=GALLERY_BLOCK,
                                   probe_block=PROBE_BLOCK, storage=storage)
    ok_gallery = np.zeros(plan.n_subjects, dtype=bool)
    ok_gallery[plan.subject[gallery[~failed[gallery]]]] = True
    subj = plan.subject[probes]
    return outcomes_from_topk(probes, subj, mated, scores, gidx, plan.subject[gallery],
                              candidates, failed[probes], mated & ok_gallery[subj])
