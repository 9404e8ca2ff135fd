"""``fairbench bench tail`` runs both tail modes end to end and reports every figure.

(No timing is asserted: the benchmark measures its baseline, tail: pairs, in the same run.)"""

from __future__ import annotations

from fairbench.bench.tail import run_tail_bench


def test_the_tail_bench_reports_both_modes_and_their_agreement():
    res = run_tail_bench(n=900, images_per_person=9, dim=8, groups=3, targets=(1e-2, 1e-3))
    assert res["simulated"] is True and res["n"] == 900
    for mode in ("pairs", "people"):
        assert set(res[mode]) >= {"seconds", "records", "records_mb", "extra_peak_mb",
                                  "pairs_at_or_above_floor"}
    people = res["people"]
    assert people["records"] == people["exact_records"] + people["aggregated_records"]
    assert people["levels"] >= 1 and people["exact_bins"] >= 1
    assert people["pairs_of_people_with_a_tail_event"] <= people["aggregated_records"]
    # nine images a person: far fewer records than pairs, the same numbers
    assert res["records_ratio"] < 0.5 and res["memory_ratio"] < 1
    assert res["thresholds_identical"] is True and res["tables_identical"] is True


def test_a_target_that_is_not_a_rate_is_a_usage_error(fairbench_cmd):
    for bench in ("tail", "allpairs"):
        got = fairbench_cmd("bench", bench, "--n", "40", "--target-fmr", "2")
        assert got.code == 2 and got.exception is None
        said = " ".join(got.err.replace("│", " ").split())  # however the box wraps it
        assert "2.0 is not a rate strictly between 0 and 1" in said


def test_the_tail_bench_prints_json(fairbench_cmd):
    import json

    got = fairbench_cmd("bench", "tail", "--n", "300", "--images-per-person", "5", "--dim",
                        "8", "--groups", "2", "--target-fmr", "0.01")
    assert got.code == 0 and got.exception is None
    assert json.loads(got.out)["tables_identical"] is True
