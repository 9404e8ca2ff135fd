"""Citation sentences: zero errors, small n, ratios spanning 1, and never a bare 'accuracy'."""

from __future__ import annotations

import json

import pytest

from fairbench.report import sentences as sn
from tests.report.conftest import STORED_RUN

CTX = sn.Context(model="m (v1)", dataset="d, version 2", run_id="RUN42", date="2026-01-02",
                 score_name="cosine similarity")


def row(**kw):
    base = {"attribute": "eth", "group": "black", "threshold_kind": "target_fmr",
            "target_fmr": 1e-3, "threshold_native": 0.41, "fmr_errors": 19, "n_nonmated": 312,
            "fmr_ci_low": 0.037, "fmr_ci_high": 0.094, "n_subjects": 13, "fmr_imprecise": True,
            "fmr_ratio": 18.0, "fmr_ratio_ci_low": 6.0, "fmr_ratio_ci_high": 60.0,
            "reference_group": "white", "fnmr_errors": 0, "n_mated": 13}
    return base | kw


REF = row(group="white", fmr_errors=30, n_nonmated=9384, fmr_ci_low=0.002, fmr_ci_high=0.0045,
          n_subjects=69, fmr_ratio=1.0, fmr_imprecise=False)


def test_ratio_excluding_one_is_stated_as_a_difference():
    s = sn.fmr_sentence(row(), CTX, "ethnicity, self-reported", REF)
    assert s.startswith("At a threshold set for a false match rate of 1 in 1,000 over all "
                        "impostor pairs (cosine similarity 0.41), impostor pairs of two black "
                        "people (ethnicity, self-reported) were falsely matched 6.09% of the "
                        "time (95% CI 3.7%-9.4%; 19 of 312 pairs, 13 people; fewer than 30 "
                        "errors, so imprecise), 18 times the rate for white people "
                        "(subject-bootstrap 95% CI 6-60)")
    assert s.endswith("(model m (v1); dataset d, version 2; fairbench run RUN42, 2026-01-02).")


def test_ratio_spanning_one_is_not_a_difference():
    s = sn.fmr_sentence(row(fmr_ratio=1.6, fmr_ratio_ci_low=0.4, fmr_ratio_ci_high=5.0), CTX,
                        "", REF)
    assert "times the rate" not in s and "higher" not in s and "lower" not in s
    assert "includes 1, so this data cannot tell the two apart" in s and "1.6" in s


def test_ratio_below_one_says_lower():
    s = sn.fmr_sentence(row(fmr_ratio=0.2, fmr_ratio_ci_low=0.05, fmr_ratio_ci_high=0.6), CTX,
                        "", REF)
    assert "0.2 times the rate for white people, a lower rate" in s


def test_zero_errors_give_the_rule_of_three_bound():
    s = sn.fmr_sentence(row(group="white", fmr_errors=0, n_nonmated=9384, fmr_ci_low=0.0,
                            fmr_ci_high=0.00039, n_subjects=69), CTX, "", None)
    assert "no impostor pair of two white people was falsely matched (0 of 9,384 pairs, " \
           "69 people; 95% upper bound 0.032% by the rule of three)" in s
    f = sn.fnmr_sentence(row(), CTX, "")
    assert "none of the 13 mated pairs of black people was falsely rejected" in f
    assert "95% upper bound 23%" in f


def test_small_n_says_insufficient_data():
    s = sn.fmr_sentence(row(group="east_asian/white", fmr_errors=0, n_nonmated=0, n_subjects=1,
                            fmr_ci_low=None, fmr_ci_high=None), CTX, "", REF)
    assert "insufficient data (n = 0 impostor pairs, 1 person)" in s
    f = sn.fnmr_sentence(row(fnmr_errors=1, n_mated=4, n_subjects=4), CTX, "")
    assert "insufficient data (n = 4 mated pairs, 4 people)" in f and "%" not in f.split("(")[1]


def test_undefined_ratio_explains_why():
    ref0 = REF | {"fmr_errors": 0, "fmr_ci_low": 0.0, "fmr_ci_high": 0.00039}
    s = sn.fmr_sentence(row(fmr_ratio=None, fmr_ratio_ci_low=None, fmr_ratio_ci_high=None),
                        CTX, "", ref0)
    assert "white people had no such error (0 of 9,384; 95% upper bound 0.032%), so no " \
           "ratio can be given" in s


def test_check_rejects_unnamed_accuracy():
    with pytest.raises(sn.SentenceError):
        sn.check("The matcher's accuracy is 99.88% (model m).")


def test_stored_run_sentences_follow_the_rules():
    rec = json.loads((STORED_RUN / "run.json").read_text())
    out = sn.noteworthy(rec["metrics"]["verification_by_group"], sn.Context.from_record(rec),
                        sn.describe_attributes(rec), rec["dataset"]["attributes"])
    assert len(out) > 10
    for s in out:
        assert "accuracy" not in s.text.lower()
        assert "20261128T023836Z-dlib-london-9a59715e" in s.text
        assert "Face Research Lab London Set, version 5" in s.text and "dlib 20.0.1" in s.text
        if "times the rate" in s.text:  # a stated difference: its interval excludes 1
            assert "includes 1" not in s.text
    texts = " ".join(s.text for s in out)
    assert "impostor pairs of two black people (ethnicity, self-reported) were falsely " \
           "matched 33.3% of the time (95% CI 28%-39%; 104 of 312 pairs, 13 people), 74 " \
           "times the rate for white people" in texts
