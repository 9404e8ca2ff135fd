"""An auditor's session with fairbench's Python API: from a config to a number to cite.

Runs dlib on the London set (set FAIRBENCH_DATA_ROOT to the folder that holds london/, or
run ``fairbench datasets fetch london`` first), reads one rate per group with its
intervals, compares every group with the reference group, writes the sentence to cite,
checks the "no demographic impact" claim, and loads the stored run back.

    python examples/auditor_session.py [OUTPUT_DIR]

The tests run this file as it is (tests/test_examples.py).
"""

from __future__ import annotations

import sys

import fairbench


def main(output: str = "results") -> fairbench.Run:
    # 1. A config: the dataset (its card ships with fairbench), the matcher, the operating
    #    points the claim refers to. A YAML file path works the same way.
    run = fairbench.run({
        "dataset": {"name": "london", "attributes": ["eth", "sex"]},
        "matcher": {"name": "dlib"},
        "verification": {"target_fmr": [1e-2, 1e-3], "fixed_thresholds": [0.6],
                         "bootstrap": {"replicates": 1000, "seed": 0}},
    }, output_dir=output, progress=False)
    print(run)

    # 2. One rate of one breakdown at one operating point, per group: the rate, its exact
    #    (Clopper-Pearson) and subject-bootstrap intervals, errors, comparisons and people.
    fmr = run.frame("fmr", "eth", at="fmr=1e-2")
    print(fmr.by_group.round(4).to_string())

    # 3. Each group against the reference group (chosen by a stated rule, or configured),
    #    with subject-bootstrap intervals: a ratio is a difference only if it excludes 1.
    ratios = fmr.ratio()
    print(ratios.round(2).to_string())

    # 4. The sentence to cite, from the stored values.
    worst = fmr.by_group["rate"].idxmax()
    g, r = fmr.by_group.loc[worst], ratios.loc[worst]
    point = next(p for p in run.operating_points if p.label == fmr.at)
    clear = r["ci_low"] > 1
    print(f"At the threshold set for an overall false match rate of 1 in "
          f"{round(1 / point.target):,} ({run.record['matcher']['native_score']} "
          f"{point.native:.3f}), impostor pairs of two {worst} people were falsely matched "
          f"{100 * g['rate']:.1f}% of the time (95% CI {100 * g['ci_low']:.0f}-"
          f"{100 * g['ci_high']:.0f}%; {int(g['errors'])} of {int(g['n']):,} pairs, "
          f"{int(g['n_subjects'])} people), {r['ratio']:.0f} times the rate for "
          f"{fmr.reference} people (subject-bootstrap 95% CI {r['ci_low']:.0f}-"
          f"{r['ci_high']:.0f}{'' if clear else '; the data cannot tell them apart'}) "
          f"(fairbench run {run.run_id}).")

    # 5. A claim, checked against the run's intervals (the claims file ships with
    #    fairbench and is usable by name).
    for result in fairbench.check_claims(run, "no-demographic-impact"):
        print(f"[{result.verdict}] {result.id}: {result.text}")

    # 6. Anyone can load the stored run back, without images or models.
    again = fairbench.load(run.run_dir)
    assert again.frame("fmr", "eth", at="fmr=1e-2").by_group.equals(fmr.by_group)
    return run


if __name__ == "__main__":
    main(*sys.argv[1:2])
