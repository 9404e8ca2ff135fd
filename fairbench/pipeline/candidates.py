"""The 1:N pipeline over a vendor's candidate lists: searches -> outcomes -> 1:N tables.

A vendor's own search engine returns, per search, ranked candidates with scores. Given the
gallery it searched, every search becomes the same :class:`SearchOutcomes` a fairbench
search yields, so FPIR, FNIR and rank-R per group, the thresholds and the report are
computed identically. Candidates are collapsed to subjects (a subject's best score) and
ranked by score with fairbench's conservative rule (a mate tied with a non-mate ranks
after it), not by the file's own rank column, so ties cannot flatter the engine. A search
is mated when its probe's subject is enrolled in the gallery (subject ids from the
manifest). Acquisition is not measured: no probe counts as failed.
"""

from __future__ import annotations

import time
from functools import partial

import numpy as np

from fairbench.core.comparisons import Keys
from fairbench.core.scale import NEGATED
from fairbench.core.search import SearchOutcomes
from fairbench.data.scorefiles import candidate_chunks, gallery_ids, search_list
from fairbench.errors import DataError
from fairbench.matchers.scores import ScoresMatcher
from fairbench.metrics.tables import identification_results
from fairbench.pipeline.inputs import Inputs, no_templates
from fairbench.pipeline.parts import RunParts, base_record
from fairbench.pipeline.scores import mark_record
from fairbench.pipeline.verification import write_config, write_csv
from fairbench.plan.listed import Samples
from fairbench.results.arrays import StoredCodes, save_search


def outcomes_of(search_probe: np.ndarray, probe_subject: np.ndarray, enrolled: np.ndarray,
                row_search: np.ndarray, row_subject: np.ndarray, row_score: np.ndarray
                ) -> SearchOutcomes:
    """Each search's outcome from its candidate rows (see the module docstring).

    Among non-mated subjects tied for the best score the lowest subject code is reported.
    """
    S = len(search_probe)
    ps = probe_subject
    mated = enrolled[ps] if S else np.zeros(0, dtype=bool)
    mate_score = np.full(S, -np.inf)
    nm_score = np.full(S, -np.inf)
    nm_subj = np.full(S, -1, dtype=np.int64)
    rank = np.zeros(S, dtype=np.int64)
    if len(row_search):
        # one row per (search, subject): the subject's best score
        order = np.lexsort((-row_score, row_subject, row_search))
        k, c, s = row_search[order], row_subject[order], row_score[order]
        first = np.r_[True, (k[1:] != k[:-1]) | (c[1:] != c[:-1])]
        k, c, s = k[first], c[first], s[first]
        is_mate = c == ps[k]
        np.maximum.at(mate_score, k[is_mate], s[is_mate])
        nm = ~is_mate
        np.maximum.at(nm_score, k[nm], s[nm])
        best = nm & (s == nm_score[k])  # lowest subject code among tied best non-mates
        cand = np.full(S, np.iinfo(np.int64).max)
        np.minimum.at(cand, k[best], c[best])
        nm_subj = np.where(np.isfinite(nm_score), cand, -1)
        listed = np.zeros(S, dtype=bool)
        listed[k[is_mate]] = True
        ahead = np.zeros(S, dtype=np.int64)
        np.add.at(ahead, k[nm], (s[nm] >= mate_score[k[nm]]).astype(np.int64))
        rank = np.where(listed & mated, 1 + ahead, 0)
        mate_score = np.where(rank > 0, mate_score, -np.inf)
    return SearchOutcomes(search_probe.astype(np.int64), mated, rank, mate_score, nm_score,
                          nm_subj, np.zeros(S, dtype=bool), mated.copy())


def _searches(samples: Samples, matcher: ScoresMatcher, search_ids: dict[str, int],
              probe_of: list[int]) -> tuple[list[np.ndarray], list[np.ndarray],
                                            list[np.ndarray]]:
    """Read the candidate rows: (search code, candidate subject, internal score) chunks."""
    rows_k, rows_c, rows_s = [], [], []
    kind = matcher.info().similarity
    source = str(matcher.p.path)

    def register(sid: Keys, probe: np.ndarray) -> np.ndarray:
        """Search codes per row; a search naming two probes is a problem."""
        code = np.array([search_ids.setdefault(v, len(search_ids)) for v in sid.values],
                        dtype=np.int64)
        probe_of.extend([-2] * (len(search_ids) - len(probe_of)))
        per_row = code[sid.codes]
        for r in np.flatnonzero(np.array(probe_of, dtype=np.int64)[per_row] == -2):
            if probe_of[per_row[r]] == -2:
                probe_of[per_row[r]] = int(probe[r])
        expected = np.array(probe_of, dtype=np.int64)[per_row]
        clash = (probe >= 0) & (expected >= 0) & (probe != expected)
        for r in np.flatnonzero(clash)[:5]:
            samples._problem(f"{source}: search {sid.values[sid.codes[r]]!r} names two "
                             "probes")
        return per_row

    if matcher.p.searches is not None:
        sid, pid = search_list(matcher.p)
        register(Keys.of(sid), samples.lookup(Keys.of(pid), "probe", False))
    for sid, pid, _rank, cid, score, line in candidate_chunks(matcher.p):
        k = register(sid, samples.lookup(pid, "probe", False))
        some = np.array([v != "" for v in cid.values], dtype=bool)[cid.codes]
        if not some.any():
            continue
        named = Keys(cid.codes[some], cid.values)
        c = samples.lookup(named, "candidate", True)
        bad = np.isnan(score[some])
        for r in np.flatnonzero(bad)[:5]:
            samples._problem(f"{source} line {line + int(np.flatnonzero(some)[r])}: a "
                             "candidate without a score")
        ok = (c >= 0) & ~bad
        s = score[some][ok]
        rows_k.append(k[some][ok])
        rows_c.append(c[ok])
        rows_s.append(-s if kind in NEGATED else s)
    return rows_k, rows_c, rows_s


def candidate_identification(inp: Inputs, progress: bool = True) -> RunParts:
    """Read gallery, searches and candidates; tabulate one 1:N run."""
    config, ds, matcher = inp.config, inp.dataset, inp.matcher
    assert isinstance(matcher, ScoresMatcher)
    ic = config.identification
    if matcher.p.format != "candidates" or ic is None:
        raise DataError(f"matcher.params.format: {matcher.p.format!r} is a 1:1 format; "
                        "under mode: identification give format: candidates")
    t = time.perf_counter()
    kind = inp.similarity
    samples = Samples(ds.manifest.frame, ds.attributes, ds.banded, ds.manifest.keyed_by,
                      kind, str(matcher.p.path))
    listed = gallery_ids(matcher.p)
    if not listed:
        raise DataError(f"{matcher.p.gallery}: the gallery lists no one (one enrolled image "
                        "or subject id per line)")
    gal = samples.lookup(Keys.of(listed), "gallery", True)
    search_ids: dict[str, int] = {}
    probe_of: list[int] = []
    rows_k, rows_c, rows_s = _searches(samples, matcher, search_ids, probe_of)
    subj_of = np.array(samples.subject, dtype=np.int64)
    gallery_subjects = np.unique(subj_of[gal[gal >= 0]])
    cand_subject = [subj_of[c] for c in rows_c]
    enrolled = np.zeros(len(samples.codes.subjects), dtype=bool)
    enrolled[gallery_subjects] = True
    in_gallery = set(gal[gal >= 0].tolist())
    for k in sorted(set(probe_of) & in_gallery)[:5]:
        samples._problem(f"probe {samples.key[k]!r} is itself in the gallery "
                         f"{matcher.p.gallery}: a search must not find its own image")
    for c in np.unique(np.concatenate(rows_c)) if rows_c else []:
        whole = samples.origin[c] == "model" and enrolled[subj_of[c]]
        if c not in in_gallery and not whole:
            samples._problem(f"candidate {samples.key[c]!r} is not in the gallery "
                             f"{matcher.p.gallery}")
    if samples.problems:
        raise DataError(f"{matcher.p.path}: candidate lists that do not match the manifest "
                        f"{ds.manifest.source} and gallery {matcher.p.gallery}",
                        samples.messages())
    probes = np.array(probe_of, dtype=np.int64)
    if not len(probes):
        raise DataError(f"{matcher.p.path}: no searches")
    out = outcomes_of(probes, subj_of[probes], enrolled,
                      np.concatenate(rows_k) if rows_k else np.zeros(0, np.int64),
                      np.concatenate(cand_subject) if cand_subject else np.zeros(0, np.int64),
                      np.concatenate(rows_s) if rows_s else np.zeros(0))
    plan = samples.plan(np.zeros(0, np.int64), np.zeros(0, np.int64))
    inp.timings["scoring"] = time.perf_counter() - t
    inp.templates = no_templates(plan.n_images)
    t = time.perf_counter()
    size = len(gallery_subjects)
    res = identification_results(plan, {"main": out}, {"main": size}, [],
                                 ic.model_dump(mode="json"), config.settings(), ds.attributes,
                                 ds.label_sources, kind, matcher.p.simulated,
                                 ds.consent_warning)
    inp.timings["metrics"] = time.perf_counter() - t
    tables = {"identification_by_group": res.tables.by_group,
              "identification_false_candidates": res.tables.false_candidates}
    n_rows = int(sum(len(k) for k in rows_k))
    record = base_record(
        inp, "identification", "-1n",
        {"gallery_subjects": size, "gallery_images": int((gal >= 0).sum()),
         "mated_searches": int(out.mated.sum()), "nonmated_searches": int((~out.mated).sum()),
         "candidate_rows": n_rows},
        res.points, res.tables.by_group, {"identification_by_group": res.tables.by_group},
        [f"searches read from the candidate list {matcher.p.path}: acquisition was not "
         "measured by this run; ranks follow fairbench's conservative rule over the listed "
         "scores"])
    record["capture"]["measured"] = False
    mark_record(record, matcher.p.simulated)
    n = plan.n_images
    role = np.full(n, "probe", dtype=object)
    role[gal[gal >= 0]] = "gallery"
    codes = StoredCodes(plan, np.ones(n, dtype=bool), np.zeros(n, dtype=bool), samples.ids())
    files = {"samples.csv": partial(write_csv, samples.frame_of_samples()),
             "search.npz": lambda p: save_search(p, codes, {"main": out}, role.astype(str),
                                                 {"main": size}),
             "config.yaml": partial(write_config, record["config"])}
    return RunParts(record, tables, res.tables.replicates, files, (codes, {"main": out},
                                                                   {"main": size}))
