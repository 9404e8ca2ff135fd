"""Claims: the worked example refutes 'no demographic impact' on London with its evidence;
verdict rules on small records; exit statuses 1 (refuted) and 2 (bad input)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fairbench.report.claim_schema import ClaimsError, ClaimsFile, fraction, load_claims
from fairbench.report.claims import NOT_TESTABLE, REFUTED, SUPPORTED, check_claims
from fairbench.results.run import read_record
from tests.report.conftest import STORED_RUN

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "fairbench" / "data" / "claims" / "no-demographic-impact.yaml"


def stored() -> dict:
    """The stored 1.0 run, as every reader sees it (upgraded to the current schema)."""
    return read_record(STORED_RUN)


def verdicts(claims: dict, record: dict | None = None) -> dict[str, str]:
    res = check_claims(record or stored(), ClaimsFile.model_validate(claims))
    return {r.id: r.verdict for r in res}


def test_worked_example_on_london():
    res = {r.id: r for r in check_claims(stored(), load_claims(EXAMPLE))}
    assert res["no-demographic-impact"].verdict == REFUTED
    at100 = res["no-demographic-impact"].checks[0]
    assert at100.verdict == REFUTED
    assert any("black is at least 13% and white at most 0.89%" in e for e in at100.evidence)
    assert any("33.3% [28%, 39%] (104/312)" in e for e in at100.evidence)
    assert res["fmr-to-reference"].verdict == REFUTED
    # 102 mated pairs cannot show 99.88 %: the headline is not testable, not supported
    assert res["headline-accuracy"].verdict == NOT_TESTABLE
    assert res["fnmr-skin-tone"].verdict == NOT_TESTABLE
    assert "no attribute 'skin_tone'" in res["fnmr-skin-tone"].checks[0].evidence[0]
    assert res["liveness-bona-fide"].verdict == NOT_TESTABLE


def claim(*checks, cid="c"):
    return {"claims": [{"id": cid, "text": "t", "checks": list(checks)}]}


AT = {"target_fmr": 0.01}


def test_rate_bounds_decide_on_the_interval():
    # white FMR at 1 in 100: 42/9,384 = 0.448% [0.32%, 0.60%], bootstrap [0.14%, 0.89%]
    ok = {"kind": "rate", "rate": "fmr", "attribute": "eth", "groups": ["white"],
          "at_most": "1%", "at": AT}
    assert verdicts(claim(ok))["c"] == SUPPORTED
    assert verdicts(claim(ok | {"at_most": "0.1%"}))["c"] == REFUTED
    assert verdicts(claim(ok | {"at_most": "0.5%"}))["c"] == NOT_TESTABLE
    assert verdicts(claim(ok | {"groups": ["nobody"]}))["c"] == NOT_TESTABLE
    assert verdicts(claim(ok | {"at": {"target_fmr": 1e-5}}))["c"] == NOT_TESTABLE


def test_accuracy_must_name_its_errors():
    with pytest.raises(ValueError, match="means"):
        ClaimsFile.model_validate(claim({"kind": "accuracy", "at_least": 0.99, "at": AT}))
    # accuracy >= 95 % read as FMR <= 5 % over all comparisons at FMR 1 in 100: supported
    acc = {"kind": "accuracy", "at_least": "95%", "means": ["fmr"], "at": AT}
    assert verdicts(claim(acc))["c"] == SUPPORTED
    assert verdicts(claim(acc | {"at_least": "99.9%"}))["c"] == REFUTED


def test_ratio_any_two_and_reference():
    r = {"kind": "ratio", "rate": "fmr", "attribute": "sex", "at_most": 100, "at": AT}
    assert verdicts(claim(r))["c"] == SUPPORTED  # 1.76% vs 1.51%: well within 100x
    assert verdicts(claim(r | {"attribute": "eth", "at_most": 2,
                               "skip_insufficient": True}))["c"] == REFUTED
    # without skipping, a group with no pairs keeps a ratio claim from being supported
    assert verdicts(claim(r | {"attribute": "eth", "at_most": 1e6}))["c"] == NOT_TESTABLE


def test_summary_and_missing_families():
    s = {"kind": "summary", "measure": "fdr", "attribute": "eth", "at_least": 0.5, "at": AT}
    assert verdicts(claim(s))["c"] in (SUPPORTED, REFUTED, NOT_TESTABLE)
    s2 = s | {"measure": "no_such_measure"}
    assert verdicts(claim(s2))["c"] == NOT_TESTABLE
    assert verdicts(claim({"kind": "rate", "rate": "fpir", "attribute": "eth",
                           "at_most": 0.01, "at": AT}))["c"] == NOT_TESTABLE


def test_percentages():
    assert fraction("99.88%") == pytest.approx(0.9988)
    assert fraction("99.88 %") == pytest.approx(0.9988)
    assert fraction(0.5) == 0.5


def test_bad_files_are_clear_errors(tmp_path):
    with pytest.raises(ClaimsError, match="not found"):
        load_claims(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("claims:\n  - id: x\n    text: y\n    checks: [{kind: ratio, rate: fmr}]\n"
                   "extra: 1\n")
    with pytest.raises(ClaimsError) as e:
        load_claims(bad)
    assert "extra" in e.value.render() and "attribute" in e.value.render()


def test_cli_exit_statuses(tmp_path, fairbench_cli):
    code, out, err = fairbench_cli("check-claims", str(STORED_RUN), str(EXAMPLE))
    assert code == 1, err
    assert "[REFUTED] no-demographic-impact" in out
    good = tmp_path / "good.yaml"
    good.write_text("claims:\n  - id: sex\n    text: t\n    checks:\n      - {kind: ratio, "
                    "rate: fmr, attribute: sex, at_most: 100, at: {target_fmr: 0.01}}\n"
                    "  - id: skin\n    text: t\n    checks:\n      - {kind: ratio, rate: fmr, "
                    "attribute: skin_tone, at_most: 2, at: {target_fmr: 0.01}}\n")
    code, out, err = fairbench_cli("check-claims", str(STORED_RUN), str(good), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert [x["verdict"] for x in doc["results"]] == [SUPPORTED, NOT_TESTABLE]
    # --strict: a claim naming an attribute the run lacks is an error, with did-you-mean
    code, _, err = fairbench_cli("check-claims", str(STORED_RUN), str(good), "--strict")
    assert code == 2 and "no attribute 'skin_tone'" in err
    loose = tmp_path / "loose.yaml"
    loose.write_text("claims:\n  - id: white\n    text: t\n    checks:\n      - {kind: rate, "
                     "rate: fmr, attribute: eth, groups: [white], at_most: '0.5%', "
                     "at: {target_fmr: 0.01}}\n")
    assert fairbench_cli("check-claims", str(STORED_RUN), str(loose))[0] == 0
    assert fairbench_cli("check-claims", str(STORED_RUN), str(loose), "--strict")[0] == 1
    # a shipped example is usable by name from any folder
    assert fairbench_cli("check-claims", str(STORED_RUN), "no-demographic-impact")[0] == 1
    code, _, err = fairbench_cli("check-claims", str(STORED_RUN), str(tmp_path / "none.yaml"))
    assert code == 2 and "claims file not found" in err
    code, _, err = fairbench_cli("check-claims", str(tmp_path), str(EXAMPLE))
    assert code == 2 and "run.json" in err


def test_unknown_attribute_and_group_say_did_you_mean():
    res = check_claims(stored(), ClaimsFile.model_validate(claim(
        {"kind": "rate", "rate": "fmr", "attribute": "ethn", "at_most": 0.1, "at": AT},
        {"kind": "rate", "rate": "fmr", "attribute": "eth", "groups": ["blak"],
         "at_most": 0.1, "at": AT})))
    ev = [e for c in res[0].checks for e in c.evidence]
    assert res[0].verdict == NOT_TESTABLE
    assert any("Did you mean 'eth'" in e for e in ev)
    assert any("Did you mean 'black'" in e for e in ev)
    from fairbench.report.claims import MissingInRun

    with pytest.raises(MissingInRun):
        check_claims(stored(), ClaimsFile.model_validate(claim(
            {"kind": "rate", "rate": "fmr", "attribute": "ethn", "at_most": 0.1, "at": AT})),
            strict=True)


def test_a_1n_run_decides_fpir_and_fnir_claims(tmp_path):
    """On a 1:N run where group b's images are far noisier than a's, claims about FNIR per
    group and about the FNIR ratio are decided both ways (supported and refuted) from the
    stored 1:N rows, and the verdicts follow from the stored intervals."""
    import numpy as np
    import pandas as pd

    import fairbench
    from fairbench.report.cells import RateCell

    rng = np.random.default_rng(0)
    rows, embs = [], []
    for s in range(160):
        grp = "ab"[s % 2]
        centre = rng.normal(size=32)
        for k in range(3):
            rows.append({"image_id": f"s{s}_{k}", "subject_id": f"s{s}", "grp": grp})
            embs.append(centre + rng.normal(scale=0.1 if grp == "a" else 1.2, size=32))
    pd.DataFrame(rows).to_csv(tmp_path / "m.csv", index=False)
    np.savez(tmp_path / "e.npz", image_ids=np.array([r["image_id"] for r in rows]),
             embeddings=np.array(embs, np.float32))
    run = fairbench.run({
        "dataset": {"manifest": str(tmp_path / "m.csv"), "attributes": ["grp"]},
        "matcher": {"name": "precomputed", "params": {"path": str(tmp_path / "e.npz")}},
        "identification": {"target_fpir": [0.1], "bootstrap": {"replicates": 200}}},
        tmp_path / "out", progress=False)
    at = {"target_fpir": 0.1}
    fnir = {r["group"]: RateCell.from_row(r, "fnir", "n_mated_searches")
            for r in run.tables["identification_by_group"].to_dict("records")
            if r["attribute"] == "grp" and r["operating_point"] == "fpir=0.1"}
    (a_lo, a_hi), (b_lo, b_hi) = fnir["a"].bounds(), fnir["b"].bounds()
    assert a_hi < b_lo  # the data separates the groups, so every check below can decide

    def check(kind: str, **c: object) -> str:
        claims = {"claims": [{"id": "x", "text": "t", "checks": [
            {"kind": kind, "rate": "fnir", "attribute": "grp", "at": at, **c}]}]}
        return check_claims(run.record, ClaimsFile.model_validate(claims))[0].verdict

    assert check("rate", groups=["a"], at_most=a_hi) == SUPPORTED
    assert check("rate", groups=["b"], at_most=b_lo * 0.99) == REFUTED
    assert check("rate", groups=["b"], at_most=(b_lo + b_hi) / 2) == NOT_TESTABLE
    assert check("rate", at_least=a_lo) == SUPPORTED
    assert check("ratio", at_most=b_lo / a_hi * 0.99) == REFUTED
    assert check("ratio", at_most=b_hi / a_lo * 1.01 if a_lo > 0 else 1e12) in (
        SUPPORTED, NOT_TESTABLE)
    fpir_claim = {"claims": [{"id": "x", "text": "t", "checks": [
        {"kind": "rate", "rate": "fpir", "attribute": "grp", "at_most": 1.0, "at": at}]}]}
    assert check_claims(run.record, ClaimsFile.model_validate(fpir_claim))[0].verdict \
        == SUPPORTED


def test_difference_claims_are_refuted_by_a_permutation_test_never_supported():
    """kind: difference reads the tables' adjusted permutation p-values: one below the
    level refutes 'no group differs from the reference'; none below it is not support."""
    import copy

    rec = copy.deepcopy(stored())
    claim = {"claims": [{"id": "same", "text": "no ethnic group's FMR differs",
                         "checks": [{"kind": "difference", "rate": "fmr", "attribute": "eth",
                                     "at": {"target_fmr": 0.01}}]}]}
    assert verdicts(claim, rec) == {"same": NOT_TESTABLE}  # a run from before the tests
    rows = [r for r in rec["metrics"]["verification_by_group"]
            if r["attribute"] == "eth" and r["operating_point"] == "fmr=0.01"]
    for r in rows:
        small = r["group"] == "black"
        r["fmr_p"], r["fmr_p_holm"], r["fmr_p_bh"] = (
            (0.001, 0.013, 0.0065) if small else (None, None, None)
            if r["group"] == "white" else (0.2, 0.6, 0.3))
    res = check_claims(rec, ClaimsFile.model_validate(claim))[0].checks[0]
    assert res.verdict == REFUTED
    assert any(e.startswith("black against white:") and "Holm-adjusted 0.013" in e
               for e in res.evidence)
    claim["claims"][0]["checks"][0]["level"] = 0.01  # 0.013 is not below 0.01
    assert verdicts(claim, rec) == {"same": NOT_TESTABLE}
    claim["claims"][0]["checks"][0]["adjust"] = "none"  # but the raw p (0.001) is
    assert verdicts(claim, rec) == {"same": REFUTED}
