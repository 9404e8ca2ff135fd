"""The public Python API (a contract): run, load, evaluate, compare, check_claims, Run and
RateFrame, against values computed here by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fairbench
from fairbench.config import load_config_dict
from fairbench.errors import DataError, FairbenchError
from tests.generated import generated
from tests.test_registry import FakeMatcher


@pytest.fixture(scope="module")
def data():
    frame, emb = generated("cosine", n_subjects=60, seed=3)
    return frame[["image_id", "subject_id", "grp", "sex"]], emb


def test_evaluate_in_memory_and_to_a_folder(data, tmp_path):
    frame, emb = data
    run = fairbench.evaluate(emb, frame, target_fmr=[0.1, 0.01], fixed_thresholds=[0.5],
                             bootstrap=50)
    assert run.run_dir is None and run.mode == "verification"
    assert set(run.tables) >= {"verification_by_group", "verification_summary",
                               "fmr_cross_group", "failure_to_acquire"}
    assert [p.label for p in run.operating_points] == ["fmr=0.1", "fmr=0.01", "fixed=0.5"]
    assert run.record["matcher"]["source"] == "embeddings in memory"
    # NaN rows are failed templates
    assert run.frame("fta", "grp").overall.loc["all", "errors"] == 2
    by = run.tables["verification_by_group"]
    assert by[by.attribute == "all"]["fta_errors"].iloc[0] == 2
    folder = fairbench.evaluate(emb, frame, target_fmr=[0.1], output_dir=tmp_path,
                                bootstrap=20)
    assert folder.run_dir.parent == tmp_path and (folder.run_dir / "run.json").is_file()
    again = fairbench.load(folder.run_dir)
    for name, t in folder.tables.items():
        pd.testing.assert_frame_equal(again.tables[name].reset_index(drop=True),
                                      t.reset_index(drop=True), check_dtype=False,
                                      check_exact=False, rtol=1e-12)


def test_evaluate_refuses_bad_input_clearly(data):
    frame, emb = data
    with pytest.raises(DataError, match="shape"):
        fairbench.evaluate(emb[:5], frame)
    with pytest.raises(DataError, match="subject_id"):
        fairbench.evaluate(emb, frame.drop(columns="subject_id"))
    with pytest.raises(DataError, match="duplicate image_id"):
        fairbench.evaluate(emb, frame.assign(image_id="x"))


def test_rate_frame_values_difference_and_ratio(data):
    frame, emb = data
    run = fairbench.evaluate(emb, frame, target_fmr=[0.1], bootstrap=80,
                             reference_group={"grp": "a"})
    f = run.frame("fmr", "grp", at="fmr=0.1")
    assert f.reference == "a" and list(f.by_group.columns[:6]) == [
        "rate", "ci_low", "ci_high", "errors", "n", "n_subjects"]
    rows = run.tables["verification_by_group"]
    rows = rows[(rows.attribute == "grp") & (rows.operating_point == "fmr=0.1")]
    np.testing.assert_allclose(f.by_group["rate"], rows["fmr"])
    assert (f.by_group["errors"].to_numpy() == rows["fmr_errors"].to_numpy()).all()
    assert f.overall.index.tolist() == ["all"]
    # difference and ratio to the reference, and to another group
    x = f.by_group["rate"]
    np.testing.assert_allclose(f.difference()["difference"], x - x["a"])
    np.testing.assert_allclose(f.ratio()["ratio"], x / x["a"])
    np.testing.assert_allclose(f.ratio("b")["ratio"], x / x["b"])
    # the ratio interval equals the table's (same stored replicates)
    np.testing.assert_allclose(f.ratio()["ci_low"], rows["fmr_ratio_ci_low"])
    reps = run.replicates["fmr::grp::fmr=0.1"]
    from fairbench.metrics.bootstrap import percentile_interval

    lo, _ = percentile_interval(reps - reps[:, [list(x.index).index("b")]], 0.95)
    np.testing.assert_allclose(f.difference("b")["ci_low"], lo)
    assert "<table" in f._repr_html_() and "<table" in run._repr_html_()
    with pytest.raises(ValueError, match="not a group"):
        f.ratio("martian")


def test_frame_names_what_is_wrong(data):
    frame, emb = data
    run = fairbench.evaluate(emb, frame, target_fmr=[0.1], bootstrap=0)
    with pytest.raises(FairbenchError, match="no rate 'fpir'"):
        run.frame("fpir", "grp")
    with pytest.raises(FairbenchError, match="no attribute 'eth'"):
        run.frame("fmr", "eth")
    with pytest.raises(FairbenchError, match="no operating point 'fmr=1e-3'.*fmr=0.1"):
        run.frame("fmr", "grp", at="fmr=1e-3")
    with pytest.raises(FairbenchError, match="write fmr=1e-3"):
        run.frame("fmr", "grp", at="1e-3")


def test_run_accepts_a_path_a_mapping_or_a_config_with_overrides(data, tmp_path,
                                                                 monkeypatch):
    frame, emb = data
    monkeypatch.chdir(tmp_path)
    frame.to_csv("m.csv", index=False)
    np.savez("e.npz", image_ids=frame["image_id"].to_numpy(dtype=str), embeddings=emb)
    cfg = {"dataset": {"manifest": "m.csv", "attributes": ["grp"]},
           "matcher": {"name": "precomputed", "params": {"path": "e.npz"}},
           "verification": {"target_fmr": [0.1], "bootstrap": {"replicates": 10}}}
    import yaml

    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    a = fairbench.run(cfg, "out", progress=False)
    b = fairbench.run("c.yaml", "out", progress=False)
    c = fairbench.run(load_config_dict(cfg), "out2", progress=False,
                      overrides=["verification.target_fmr=[0.2]"])
    assert a.record["config_hash"] == b.record["config_hash"] != c.record["config_hash"]
    assert [p.label for p in c.operating_points] == ["fmr=0.2"]
    assert cfg["verification"]["target_fmr"] == [0.1]  # the caller's mapping is untouched


def test_run_records_the_matcher_object_that_ran(tmp_path, london16_manifest, london16):
    cfg = {"dataset": {"manifest": str(london16_manifest), "root": str(london16),
                       "attributes": ["eth"]},
           "verification": {"target_fmr": [0.1], "bootstrap": {"replicates": 0}},
           "cache": {"enabled": False}}
    run = fairbench.run(cfg, tmp_path, progress=False, matcher=FakeMatcher(dim=3))
    m = run.record["matcher"]
    assert m["name"] == "fake" and m["class"].endswith("test_registry:FakeMatcher")
    assert m["source"] == "object passed to fairbench.run" and m["params"] == {"dim": 3}
    assert run.record["config"]["matcher"]["name"] == "fake"  # not the default 'dlib'
    assert "-fake-" in run.run_id


def test_identification_runs_give_fpir_and_fnir_frames_and_claims(data, tmp_path):
    frame, emb = data
    frame.to_csv(tmp_path / "m.csv", index=False)
    np.savez(tmp_path / "e.npz", image_ids=frame["image_id"].to_numpy(dtype=str),
             embeddings=emb)
    run = fairbench.run({
        "dataset": {"manifest": str(tmp_path / "m.csv"), "attributes": ["grp"]},
        "matcher": {"name": "precomputed", "params": {"path": str(tmp_path / "e.npz")}},
        "identification": {"target_fpir": [0.3], "bootstrap": {"replicates": 30}}},
        tmp_path / "out", progress=False)
    assert run.mode == "identification"
    f = run.frame("fpir", "grp")
    assert f.metric == "fpir" and f.by_group["n"].sum() > 0
    assert fairbench.load(run.run_dir).frame("fnir", "grp", at=f.at).by_group.equals(
        run.frame("fnir", "grp", at=f.at).by_group)
    with pytest.raises(FairbenchError, match="no rate 'fmr'"):
        run.frame("fmr", "grp")
    claims = {"claims": [{"id": "fpir", "text": "t", "checks": [
        {"kind": "rate", "rate": "fpir", "attribute": "grp", "at_most": 0.99,
         "at": {"target_fpir": 0.3}},
        {"kind": "ratio", "rate": "fnir", "attribute": "grp", "at_most": 1000,
         "at": {"target_fpir": 0.3}, "skip_insufficient": True},
        {"kind": "rate", "rate": "fmr", "attribute": "grp", "at_most": 0.1,
         "at": {"target_fmr": 0.1}}]}]}
    res = fairbench.check_claims(run, claims)[0]
    assert [c.verdict for c in res.checks][2] == "not testable"
    assert "1:1 verification results" in res.checks[2].evidence[0]
    assert res.checks[0].verdict in ("supported", "not testable")


def test_compare_in_memory_runs(data):
    frame, emb = data
    a = fairbench.evaluate(emb, frame, target_fmr=[0.1], bootstrap=20)
    b = fairbench.evaluate(emb * np.float32(1.0), frame, target_fmr=[0.1], bootstrap=20)
    cmp = fairbench.compare(a, b)
    assert (cmp.frame["change"].fillna(0) == 0).all()
