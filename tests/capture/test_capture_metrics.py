"""FTA/FTE, BPCER/APCER and transaction arithmetic against brute force and hand counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fairbench.metrics import capture as cm


def test_group_rates_counts_and_interval() -> None:
    f = pd.DataFrame({"eth": ["a", "a", "a", "b"], "err": [True, False, False, True],
                      "ok": [True, True, False, True]})
    t = cm.group_rates(f, "err", ["eth"], "fta", "ok").set_index("group")
    assert t.loc["all", "n_images"] == 3 and t.loc["all", "fta_errors"] == 2
    assert t.loc["a", "fta"] == pytest.approx(0.5) and t.loc["b", "fta"] == 1.0
    assert t.loc["b", "fta_ci_high"] == 1.0 and 0 < t.loc["b", "fta_ci_low"] < 1


def test_fte_uses_first_image_per_subject() -> None:
    f = pd.DataFrame({"subject_id": ["1", "1", "2", "2"], "acquired": [False, True, True, False]})
    assert cm.fte_frame(f)["fte"].tolist() == [True, False]


def test_pad_rates_match_brute_force() -> None:
    rng = np.random.default_rng(7)
    n = 200
    pres = rng.choice(["bona_fide", "attack"], n, p=[0.6, 0.4])
    species = np.where(pres == "attack", rng.choice(["print", "replay", "mask"], n), "")
    scores = np.where(pres == "bona_fide", rng.normal(0.7, 0.2, n), rng.normal(0.4, 0.2, n))
    scores[3] = np.nan  # no face: counted as rejected
    t = 0.5
    df = cm.pad_rates(scores, pres, species, t).set_index("pai_species")
    for sp in ("print", "replay", "mask"):
        att = [s for s, p, x in zip(scores, pres, species) if p == "attack" and x == sp]
        acc = sum(1 for s in att if s >= t)
        assert df.loc[sp, "apcer"] == pytest.approx(acc / len(att))
        assert df.loc[sp, "apcer_errors"] == acc
        assert df.loc[sp, "n_attack_presentations"] == len(att)
    # BPCER: bona fide presentations classified as attacks (a NaN score is an attack)
    frame = pd.DataFrame({"x": "1", "bona": pres == "bona_fide",
                          "err": ~np.where(np.isnan(scores), False, scores >= t)})
    b = cm.group_rates(frame, "err", [], "bpcer", "bona").set_index("group")
    bona = [s for s, p in zip(scores, pres) if p == "bona_fide"]
    assert b.loc["all", "n_bona_fide"] == len(bona)
    assert b.loc["all", "bpcer_errors"] == sum(1 for s in bona if not (s >= t))


def test_first_failure_orders_stages() -> None:
    st = cm.first_failure([False, True, True, True, False], [True, False, True, True, False],
                          [True, True, False, True, False])
    assert st.tolist() == ["capture", "liveness", "match", "", "capture"]


def test_transaction_hand_computed() -> None:
    # 10 attempts of group x: 1 capture, 2 liveness, 1 match failure -> p = 0.4
    stage = ["capture", "liveness", "liveness", "match"] + [""] * 6
    f = pd.DataFrame({"g": ["x"] * 10, "stage": stage})
    r = cm.transaction_table(f, "stage", ["g"], ks=(1, 5, 30)).set_index("group").loc["x"]
    assert r["p_reject"] == pytest.approx(0.4)
    assert r["share_capture"] == pytest.approx(0.1)
    assert r["share_liveness"] == pytest.approx(0.2)
    assert r["share_match"] == pytest.approx(0.1)
    assert r["rate_liveness_given_reached"] == pytest.approx(2 / 9)
    assert r["rate_match_given_reached"] == pytest.approx(1 / 7)
    # product of stage pass rates equals 1 - p
    passed = (1 - 0.1) * (1 - 2 / 9) * (1 - 1 / 7)
    assert passed == pytest.approx(1 - r["p_reject"])
    assert r["p_reject_any_of_1"] == pytest.approx(0.4)
    assert r["p_reject_any_of_5"] == pytest.approx(1 - 0.6**5)
    assert r["p_reject_any_of_30"] == pytest.approx(1 - 0.6**30)


def test_repeated_edge_cases() -> None:
    assert cm.repeated(0.0, 30) == 0.0
    assert cm.repeated(1.0, 1) == 1.0
    assert cm.repeated(0.02, 30) == pytest.approx(0.4545, abs=1e-4)
