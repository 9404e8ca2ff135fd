"""Per-group thresholds against a brute force over every same-group impostor score.

Scores are exact in float32 (cosine from vectors of +-0.5 entries, euclidean from small
integer vectors), so they tie a lot. Group ``a`` is tight (its impostors score high and
set the global threshold), ``b`` is spread out (its own threshold lies far below the
engine's floor, so only a bin edge can be read), ``c`` has too few pairs for any target.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fairbench.core.comparisons import ScoredChunk
from fairbench.core.settings import Settings
from fairbench.engine.allpairs import count_verification
from fairbench.engine.listed import count_listed
from fairbench.kernels.prep import prepare, score_pairs
from fairbench.metrics.pergroup import per_group_thresholds
from fairbench.metrics.thresholds import verification_points
from fairbench.plan import make_plan

TARGETS = [1e-2, 1e-3]
S = Settings(replicates=0)


def people(kind: str, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """30 subjects in a, 30 in b (two images each, the second a small change of the
    first), 3 in c (one image each); one failed template in b."""
    rng = np.random.default_rng(seed)
    rows, embs = [], []
    for s, grp in enumerate(["a"] * 30 + ["b"] * 30 + ["c"] * 3):
        if kind == "cosine":
            v = np.zeros(16, np.float32)
            pool = 8 if grp == "a" else 16
            v[rng.choice(pool, 4, replace=False)] = (
                0.5 if grp == "a" else rng.choice([-0.5, 0.5], 4))
        else:
            v = rng.integers(0, 2, 8) if grp == "a" else rng.integers(-3, 4, 8)
            v = v.astype(np.float32)
        for k in range(1 if grp == "c" else 2):
            w = v.copy()
            if k:  # the same person, a little different
                w[rng.integers(len(w))] *= -1 if kind == "cosine" else 0
            rows.append({"image_id": f"{s}_{k}", "path": "", "subject_id": f"s{s:03d}",
                         "grp": grp, "sex": "fm"[s % 2]})
            embs.append(w)
    e = np.array(embs, dtype=np.float32)
    e[70] = np.nan
    return pd.DataFrame(rows), e


def brute_rank(imp: np.ndarray, f: float) -> tuple[int, float]:
    """m = floor(f n) and the (m+1)-th highest score, by sorting every score."""
    m = int(np.floor(f * len(imp)))
    return m, float(np.sort(imp)[::-1][m])


def all_pairs(kind: str, bins: int = 128):
    frame, emb = people(kind)
    plan = make_plan(frame, ["grp", "sex"])
    counts, failed = count_verification(emb, kind, plan, [], TARGETS, bins=bins, block=13)
    i, j = np.triu_indices(plan.n_images, k=1)
    s = score_pairs(prepare(emb, kind), i, j)
    mated = plan.subject[i] == plan.subject[j]
    pts = verification_points(counts, TARGETS, [], kind)
    table = per_group_thresholds(plan, counts, ~failed, failed, pts, S, ["grp", "sex"], kind)
    return frame, plan, counts, table, pts, i, j, s, mated


def check_against_brute(row, imp, gen, gp, binning, floor_bin, dtype):
    """Every number of one row from the group's own scores; returns its resolution."""
    f = row.target_fmr
    assert row.n_nonmated == len(imp) and row.n_mated == len(gen)
    # under the global threshold, counted directly
    assert row.global_fmr_errors == (imp >= gp.similarity).sum()
    assert row.global_fnmr_errors == (gen < gp.similarity).sum()
    assert row.global_threshold_native == gp.native
    if np.floor(f * len(imp)) < 1:
        assert not row.supported and row.note.startswith("not supported: needs at least")
        assert np.isnan(row.threshold_similarity) and np.isnan(row.group_fmr)
        assert pd.isna(row.group_fmr_errors) and np.isnan(row.fnmr_change)
        return "unsupported"
    m, rank = brute_rank(imp, f)
    exact = float(np.nextafter(dtype(rank), dtype(np.inf)))  # smallest t with FMR <= f
    assert (imp >= exact).sum() <= m < (imp >= rank).sum()  # ties never flatter
    t = row.threshold_similarity
    assert row.supported
    assert row.group_fmr_errors == (imp >= t).sum() <= m  # exact count, wherever t lies
    assert row.group_fnmr_errors == (gen < t).sum()
    assert row.group_fmr == pytest.approx((imp >= t).mean())
    assert row.fnmr_change == pytest.approx(row.group_fnmr - row.global_fnmr)
    b = int(binning.index(np.array([rank]))[0])
    if row.threshold_resolution == "exact":
        assert t == exact and row.note == "" and row.threshold_bin_width == 0
        return "exact"
    # bin resolution: the rank's bin was not kept, t is the lowest edge above it
    assert row.threshold_resolution == "bin" and row.note.startswith("bin resolution")
    assert b < floor_bin
    assert binning.index(np.array([t]))[0] == b + 1
    assert binning.index(np.array([np.nextafter(dtype(t), dtype(-np.inf))]))[0] == b
    assert exact <= t and (imp >= exact).sum() >= row.group_fmr_errors
    assert row.group_fnmr_lower_bound <= (gen < exact).mean() <= row.group_fnmr
    assert row.threshold_bin_width == pytest.approx((binning.hi - binning.lo) / binning.bins)
    return "bin"


@pytest.mark.parametrize("kind", ["cosine", "euclidean"])
def test_all_pairs_match_brute_force(kind):
    frame, plan, counts, table, pts, i, j, s, mated = all_pairs(kind)
    labels = {"grp": frame["grp"].to_numpy(), "sex": frame["sex"].to_numpy(),
              "grp|sex": (frame["grp"] + "|" + frame["sex"]).to_numpy()}
    assert set(table.attribute) == set(labels)  # not "all": its own threshold is the global
    seen = []
    for gp in pts:
        for view, lab in labels.items():
            for g in np.unique(lab):
                row = table[(table.attribute == view) & (table.group == g)
                            & (table.target_fmr == gp.target)].iloc[0]
                both = (lab[i] == g) & (lab[j] == g)
                res = check_against_brute(row, s[both & ~mated], s[both & mated], gp,
                                          counts.binning, counts.kept_floor_bin, np.float32)
                seen.append((view, g, gp.target, res))
    assert len(table) == len(seen)
    res = {(v, g, f): r for v, g, f, r in seen}
    assert res["grp", "a", 1e-2] == "exact"
    assert res["grp", "b", 1e-2] == "bin"  # far below the floor the global targets set
    assert res["grp", "c", 1e-2] == res["grp", "c", 1e-3] == "unsupported"
    assert res["grp|sex", "a|f", 1e-3] == "unsupported"  # 420 pairs for 1 in 1,000


def test_distance_thresholds_read_in_native_scale():
    """A distance matcher: native thresholds are distances (lower = match) and the counts
    read on that scale are the table's."""
    frame, plan, counts, table, pts, i, j, s, mated = all_pairs("euclidean")
    dist = -s.astype(np.float64)
    lab = frame["grp"].to_numpy()
    rows = table[(table.attribute == "grp") & table.supported]
    assert len(rows)
    for row in rows.itertuples():
        imp = (lab[i] == row.group) & (lab[j] == row.group) & ~mated
        assert row.threshold_native == -row.threshold_similarity
        assert (dist[imp] <= row.threshold_native).sum() == row.group_fmr_errors
        assert row.global_threshold_native == -row.global_threshold_similarity
    b = rows[(rows.group == "b") & (rows.target_fmr == 1e-2)].iloc[0]
    a = rows[(rows.group == "a") & (rows.target_fmr == 1e-2)].iloc[0]
    assert b.threshold_native > a.threshold_native  # the spread group needs a looser one
    assert b.threshold_resolution == "bin"
    lo, hi = (float(x) for x in b.note.split("[")[1].split("]")[0].split(", "))
    # the exact distance lies above the edge read: the table is never looser than exact
    assert lo == pytest.approx(b.threshold_native, rel=1e-5) and hi > lo


def listed(bins: int, window=None):
    """The same people as a comparison list (float64 scores rounded to 2 decimals)."""
    frame, emb = people("cosine")
    plan = make_plan(frame, ["grp"])
    i, j = np.triu_indices(plan.n_images, k=1)
    s = np.round(score_pairs(prepare(emb, "cosine"), i, j).astype(np.float64) * 0.97, 2)
    chunk = ScoredChunk(i, j, plan.subject[i], plan.subject[j], plan.stratum[i],
                        plan.stratum[j], np.where(np.isfinite(s), s, np.nan))
    counts, _ = count_listed(lambda: [chunk], plan.n_strata, plan.n_subjects, [], TARGETS,
                             bins, window)
    pts = verification_points(counts, TARGETS, [], "cosine")
    failed = np.zeros(plan.n_images, dtype=bool)
    table = per_group_thresholds(plan, counts, None, failed, pts, S, ["grp"], "cosine")
    mated = plan.subject[i] == plan.subject[j]
    return frame, plan, counts, table, pts, i, j, s, mated


def test_comparison_list_exact_where_the_bin_was_kept():
    """A list's float64 scores: b's own bin is below the floor (bin edge) until the engine
    keeps that bin whole, and then its threshold is exact."""
    frame, plan, counts, table, pts, i, j, s, mated = listed(64)
    lab = frame["grp"].to_numpy()
    both = (lab[i] == "b") & (lab[j] == "b")
    imp, gen = s[both & ~mated], s[both & mated]
    row = table[(table.group == "b") & (table.target_fmr == 1e-2)].iloc[0]
    assert check_against_brute(row, imp, gen, pts[0], counts.binning,
                               counts.kept_floor_bin, np.float64) == "bin"
    _, rank = brute_rank(imp, 1e-2)
    b = int(counts.binning.index(np.array([rank]))[0])
    slot = int(plan.stratum[np.flatnonzero(lab == "b")[0]])
    slot = slot * plan.n_strata - slot * (slot - 1) // 2  # the (b, b) slot, packed

    def keep_b(fp):
        P = fp.hist.shape[0]
        lo, hi = np.full(P, fp.binning.bins), np.full(P, -1)
        lo[slot] = hi[slot] = b
        return lo, hi

    frame, plan, counts, table, pts, i, j, s, mated = listed(64, keep_b)
    assert counts.listed is not None and counts.listed.window_lo[slot] == b
    row = table[(table.group == "b") & (table.target_fmr == 1e-2)].iloc[0]
    assert check_against_brute(row, imp, gen, pts[0], counts.binning,
                               counts.kept_floor_bin, np.float64) == "exact"
    assert row.threshold_similarity == np.nextafter(rank, np.inf)


def test_global_threshold_unsupported_is_said():
    """A target the pooled data cannot support leaves the global columns empty and says
    why, beside the group's own (also unsupported) threshold."""
    frame, emb = people("cosine")
    plan = make_plan(frame, ["grp"])
    counts, failed = count_verification(emb, "cosine", plan, [], [1e-5], bins=64)
    pts = verification_points(counts, [1e-5], [], "cosine")
    assert not pts[0].supported
    t = per_group_thresholds(plan, counts, ~failed, failed, pts, S, ["grp"], "cosine")
    assert len(t) == 3 and not t.supported.any()
    assert t.global_fmr.isna().all() and t.global_fnmr_errors.isna().all()
    assert t.note.str.contains("; global threshold not supported").all()


def test_a_run_writes_the_view_beside_the_global_one_only_when_asked(tmp_path):
    """threshold_policy: per_group adds tables/thresholds_per_group.csv (rebuilt the same by
    fairbench report, shown in the report); every other table keeps the global threshold."""
    import fairbench
    from fairbench.report.rebuild import build_report

    cfg = {"dataset": {"simulate": {"n_subjects": 60, "groups": 3, "dim": 16, "seed": 2}},
           "matcher": {"name": "simulated"},
           "verification": {"target_fmr": [1e-2], "bootstrap": {"replicates": 0},
                            "permutations": 0}}
    plain = fairbench.run(cfg, tmp_path / "a", progress=False)
    assert "thresholds_per_group" not in plain.tables
    cfg["verification"]["threshold_policy"] = "per_group"
    run = fairbench.run(cfg, tmp_path / "b", progress=False)
    path = run.run_dir / "tables" / "thresholds_per_group.csv"
    before = path.read_text()
    assert (run.tables["verification_by_group"].threshold_native.to_numpy() ==
            plain.tables["verification_by_group"].threshold_native.to_numpy()).all()
    t = run.tables["thresholds_per_group"]
    assert set(t.group) == {"g00", "g01", "g02"} and (t.data == "SIMULATED").all()
    build_report(run.run_dir)
    assert path.read_text() == before
    assert "Per-group thresholds by group" in (run.run_dir / "report.html").read_text()
