"""1:N candidate lists from a vendor's engine: FPIR, FNIR and rank per group equal a brute
force over the list, with tied scores, repeated subjects, empty searches and searches that
appear only in the search list; bad lists are one clear error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fairbench
from fairbench.errors import DataError
from tests import scorefixtures as sf

L = 4  # candidates the engine returns


def engine(tmp, seed=0, distance=False):
    """A manifest, a gallery (one image of 3 of every 5 people), probes, and the top-L
    candidates by a noisy score rounded to one decimal (many ties)."""
    rng = np.random.default_rng(seed)
    subjects = sf.people(45)
    man = sf.images(subjects, per=3)
    man.to_csv(tmp / "images.csv", index=False)
    enrolled = [s for k, s in enumerate(subjects.subject_id) if k % 5 not in (0, 3)]
    gallery = [f"{s}_0" for s in enrolled]
    (tmp / "gallery.txt").write_text("\n".join(gallery) + "\n")
    gsub = {g: g.split("_")[0] for g in gallery}
    probes = [i for i in man.image_id if not i.endswith("_0") or i.split("_")[0] not in
              enrolled]
    rows, searches = [], []
    for k, p in enumerate(probes):
        sid = f"q{k}"
        searches.append((sid, p))
        if k % 17 == 0:
            continue  # listed only in the search list: the engine returned nobody
        if k % 13 == 0:
            rows.append((sid, p, "", "", ""))  # an explicit empty answer
            continue
        ps = p.split("_")[0]
        s = {g: round(float(rng.normal(2.0 if gsub[g] == ps else 0.0, 1.0)), 1)
             for g in gallery}
        top = sorted(s, key=lambda g: -s[g])[:L]
        for r, g in enumerate(top, 1):
            rows.append((sid, p, r, g, -s[g] if distance else s[g]))
    cand = pd.DataFrame(rows, columns=["search_id", "probe_id", "rank", "candidate_id",
                                       "score"])
    cand.to_csv(tmp / "candidates.csv", index=False)
    pd.DataFrame(searches, columns=["search_id", "probe_id"]).to_csv(tmp / "searches.csv",
                                                                       index=False)
    return man, set(enrolled), cand, searches


def brute(man, enrolled, cand, searches, t, rank, distance=False):
    grp = dict(zip(man.image_id, man.grp))
    out = {}
    for sid, p in searches:
        ps = p.split("_")[0]
        c = cand[(cand.search_id == sid) & (cand.candidate_id != "")]
        c = c[c.candidate_id.notna() & (c.candidate_id.astype(str) != "nan")]
        best: dict[str, float] = {}
        for g, s in zip(c.candidate_id, c.score.astype(float)):
            s = -s if distance else s
            best[g.split("_")[0]] = max(best.get(g.split("_")[0], -np.inf), s)
        mated = ps in enrolled
        non = [v for k, v in best.items() if k != ps]
        if mated:
            listed = ps in best
            r = 1 + sum(v >= best[ps] for v in non) if listed else 0
            err = not (listed and r <= rank and best[ps] >= t)
        else:
            err = max(non, default=-np.inf) >= t
        for key in ("all", grp[p]):
            n_e = out.setdefault((key, mated), [0, 0])
            n_e[0] += 1
            n_e[1] += int(err)
    return out


def fpir_threshold(man, enrolled, cand, searches, f, distance=False):
    vals = []
    for sid, p in searches:
        if p.split("_")[0] in enrolled:
            continue
        c = cand[(cand.search_id == sid) & cand.candidate_id.notna() &
                 (cand.candidate_id.astype(str) != "nan") & (cand.candidate_id != "")]
        s = [(-x if distance else x) for x in c.score.astype(float)]
        vals.append(max(s, default=-np.inf))
    desc = np.sort(vals)[::-1]
    m = int(np.floor(f * len(desc)))
    return float(np.nextafter(desc[m], np.inf))


@pytest.mark.parametrize("distance", [False, True])
def test_candidate_lists_equal_brute_force(tmp_path, distance):
    man, enrolled, cand, searches = engine(tmp_path, distance=distance)
    fixed = -1.0 if distance else 1.0
    cfg = {"mode": "identification",
           "dataset": {"manifest": str(tmp_path / "images.csv"), "attributes": ["grp"]},
           "matcher": {"name": "scores", "params": {
               "format": "candidates", "path": str(tmp_path / "candidates.csv"),
               "gallery": str(tmp_path / "gallery.txt"),
               "searches": str(tmp_path / "searches.csv"),
               "direction": "distance" if distance else "similarity"}},
           "identification": {"target_fpir": [0.3], "fixed_thresholds": [fixed], "rank": 2,
                              "candidates": L, "bootstrap": {"replicates": 20}}}
    run = fairbench.run(cfg, tmp_path / "out", progress=False)
    assert run.mode == "identification"
    bg = run.tables["identification_by_group"]
    want = fpir_threshold(man, enrolled, cand, searches, 0.3, distance)
    pts = {p.label: p for p in run.operating_points}
    assert pts["fpir=0.3"].similarity == want
    for label, t in (("fpir=0.3", want), (f"fixed={fixed:g}", -fixed if distance else fixed)):
        b = brute(man, enrolled, cand, searches, t, 2, distance)
        for g in ("all", *sf.GROUPS):
            row = bg[(bg.operating_point == label) & (bg.group == g)].iloc[0]
            assert (row.n_nonmated_searches, row.fpir_errors) == tuple(b[(g, False)]), g
            assert (row.n_mated_searches, row.fnir_errors) == tuple(b[(g, True)]), g
    assert run.record["comparisons"]["mated_searches"] + \
        run.record["comparisons"]["nonmated_searches"] == len(searches)
    from fairbench.report.rebuild import build_report

    before = (run.run_dir / "tables" / "identification_by_group.csv").read_bytes()
    build_report(run.run_dir)
    assert (run.run_dir / "tables" / "identification_by_group.csv").read_bytes() == before


def test_bad_candidate_lists(tmp_path):
    man, enrolled, cand, searches = engine(tmp_path)
    bad = cand.copy()
    bad.loc[3, "candidate_id"] = "s001_2"  # an image that is not in the gallery
    bad.loc[5, "probe_id"] = "nobody"
    bad.loc[6, "search_id"] = bad.loc[20, "search_id"]  # one search id, two probes
    bad.to_csv(tmp_path / "bad.csv", index=False)
    cfg = {"mode": "identification",
           "dataset": {"manifest": str(tmp_path / "images.csv"), "attributes": ["grp"]},
           "matcher": {"name": "scores", "params": {
               "format": "candidates", "path": str(tmp_path / "bad.csv"),
               "gallery": str(tmp_path / "gallery.txt")}},
           "identification": {"target_fpir": [0.3], "bootstrap": {"replicates": 0}}}
    with pytest.raises(DataError, match="do not match") as e:
        fairbench.run(cfg, tmp_path / "out", progress=False)
    text = " ".join(e.value.problems)
    assert "'nobody' is not an image id" in text and "names two probes" in text
    assert "not in the gallery" in text
