"""A server that only compares two images: every mated pair plus a seeded, stratified,
proportional sample of impostor pairs; tables equal a brute force over the comparisons it
answered; the FMR says it is a sample; an interrupted run resumes without repeating a call
that succeeded."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

import fairbench
from fairbench.errors import ConfigError
from tests.matchers.http_server import FaceServer

PAIRS = 200


def cfg(manifest, root, url, cache, seed=0, pairs=PAIRS, **over):
    return {"dataset": {"manifest": str(manifest), "root": str(root), "attributes": ["eth"]},
            "matcher": {"name": "http", "batch_size": 16, "params": {
                "url": url, "mode": "compare", "model": "compare-server v1",
                "backoff_s": 0.01, **over}},
            "verification": {"target_fmr": [0.1], "fixed_thresholds": [0.2],
                             "impostor_sample": {"pairs": pairs, "seed": seed},
                             "bootstrap": {"replicates": 20}},
            "cache": {"dir": str(cache)}}


def frame(run):
    return pd.read_csv(run.run_dir / "comparisons.csv", keep_default_na=False,
                       na_values=[""])


def test_sampled_pairs_and_tables_equal_brute_force(london16, london16_manifest, tmp_path):
    man = pd.read_csv(london16_manifest, dtype=str)
    with FaceServer() as srv:
        run = fairbench.run(cfg(london16_manifest, london16, srv.compare_url,
                                tmp_path / "c"), tmp_path / "a", progress=False)
        again = fairbench.run(cfg(london16_manifest, london16, srv.compare_url,
                                  tmp_path / "c2"), tmp_path / "b", progress=False)
        other = fairbench.run(cfg(london16_manifest, london16, srv.compare_url,
                                  tmp_path / "c3", seed=1), tmp_path / "d", progress=False)
    cmp = frame(run)
    subj = dict(zip(man.image_id, man.subject_id))
    eth = dict(zip(man.image_id, man.eth))
    mated = cmp[cmp.mated]
    imp = cmp[~cmp.mated]
    # every mated pair once, PAIRS impostor pairs, none repeated, none of one person
    assert len(mated) == man.groupby("subject_id").size().map(lambda n: n * (n - 1) // 2).sum()
    assert len(imp) == PAIRS
    keys = {tuple(sorted(p)) for p in zip(cmp.image_a, cmp.image_b)}
    assert len(keys) == len(cmp)
    assert all(subj[a] != subj[b] for a, b in zip(imp.image_a, imp.image_b))
    # proportional: each pair of groups gets its share of all impostor pairs (+-1)
    ids = man.image_id.tolist()
    pop: dict[tuple[str, str], int] = {}
    for a, b in itertools.combinations(ids, 2):
        if subj[a] != subj[b]:
            key = tuple(sorted((eth[a], eth[b])))
            pop[key] = pop.get(key, 0) + 1
    total = sum(pop.values())
    got = imp.apply(lambda r: tuple(sorted((eth[r.image_a], eth[r.image_b]))), axis=1)
    for key, n in pop.items():
        assert abs((got == key).sum() - PAIRS * n / total) <= 1, key
    # seeded: the same pairs again, other pairs with another seed
    assert frame(again)[["image_a", "image_b"]].equals(cmp[["image_a", "image_b"]])
    assert not frame(other)[["image_a", "image_b"]].equals(cmp[["image_a", "image_b"]])
    # the tables from the answers, by brute force
    bg = run.tables["verification_by_group"]
    for label, t in ((p.label, p.similarity) for p in run.operating_points if p.supported):
        for g in sorted(set(man.eth)):
            same = (cmp.image_a.map(eth) == g) & (cmp.image_b.map(eth) == g)
            s = cmp.score.fillna(-np.inf)
            row = bg[(bg.attribute == "eth") & (bg.group == g) &
                     (bg.operating_point == label)].iloc[0]
            assert row.fmr_errors == ((s >= t) & same & ~cmp.mated).sum()
            assert row.n_nonmated == (same & ~cmp.mated).sum()
            assert row.fnmr_errors == ((s < t) & same & cmp.mated).sum()
            assert row.n_nonmated_population == pop.get((g, g), 0)
    assert run.record["comparisons"]["nonmated_population"] == total
    assert any("sample of 200" in n for n in run.record["notes"])


def test_resume_repeats_only_failed_calls(london16, london16_manifest, tmp_path):
    with FaceServer(script=lambda k, c: (500, {}, {}) if k >= 60 else None) as srv:
        c = cfg(london16_manifest, london16, srv.compare_url, tmp_path / "cache", retries=0)
        first = fairbench.run(c, tmp_path / "a", progress=False)
        n_first = len(srv.calls)
        srv.script = None
        second = fairbench.run(c, tmp_path / "b", progress=False)
        n_second = len(srv.calls) - n_first
        third = fairbench.run(c, tmp_path / "c", progress=False)
        n_third = len(srv.calls) - n_first - n_second
    failed = first.record["comparisons"]["failed"]
    assert n_first == len(frame(first)) and failed == n_first - 60 > 0
    assert n_second == failed and n_third == 0
    assert second.record["comparisons"]["failed"] == 0
    a = second.tables["verification_by_group"]
    b = third.tables["verification_by_group"]
    assert a.drop(columns=[c for c in a if "boot" in c]).equals(
        b.drop(columns=[c for c in b if "boot" in c]))


def test_compare_needs_a_budget(london16, london16_manifest, tmp_path):
    with FaceServer() as srv:
        c = cfg(london16_manifest, london16, srv.compare_url, tmp_path / "c")
        del c["verification"]["impostor_sample"]
        with pytest.raises(ConfigError, match="impostor_sample"):
            fairbench.run(c, tmp_path / "a", progress=False)
        assert not srv.calls
