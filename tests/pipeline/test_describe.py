"""``fairbench datasets describe``: its counts equal a brute force over every image pair."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest

from fairbench.core.bands import bands_of
from fairbench.pipeline.describe import describe_dataset

KEYS = {"attribute", "group", "n_subjects", "n_images", "n_mated_pairs", "n_nonmated_pairs",
        "min_resolvable_fmr", "min_resolvable_fnmr"}


def brute(frame: pd.DataFrame, attrs: list[str], edges=None) -> dict:
    """(attribute, group) -> (people, images, mated, same-group impostor pairs)."""
    out = {}
    rows = frame.to_dict(orient="records")
    for k in range(1, len(attrs) + 1):
        for combo in itertools.combinations(attrs, k):
            def label(r, combo=combo):
                return "|".join(str(r[a]) for a in combo)
            groups = {label(r) for r in rows}
            for g in groups:
                mine = [r for r in rows if label(r) == g]
                mated = imp = 0
                for a, b in itertools.combinations(rows, 2):
                    if a["subject_id"] == b["subject_id"]:
                        if "age_band" in combo and edges is not None:
                            mean = (float(a["age"]) + float(b["age"])) / 2
                            band = bands_of(np.array([mean]), edges)[0]
                            la = label({**a, "age_band": band})
                            if la == g and all(a[x] == b[x] for x in combo if x != "age_band"):
                                mated += 1
                        elif label(a) == g and label(b) == g:
                            mated += 1
                    elif label(a) == g and label(b) == g:
                        imp += 1
                out[("|".join(combo), g)] = (len({r["subject_id"] for r in mine}), len(mine),
                                             mated, imp)
    return out


def test_describe_london_equals_brute_force(london_root):
    desc = describe_dataset("london", london_root, ["eth", "sex"])
    from fairbench.data.london import london_manifest

    frame = london_manifest(london_root).frame
    want = brute(frame, ["eth", "sex"])
    got = {(g["attribute"], g["group"]): (g["n_subjects"], g["n_images"], g["n_mated_pairs"],
                                          g["n_nonmated_pairs"]) for g in desc["groups"]}
    assert {k: v for k, v in got.items() if k[0] != "all"} == want
    everyone = [g for g in desc["groups"] if g["attribute"] == "all"][0]
    assert everyone["n_nonmated_pairs"] == 204 * 203 // 2 - 102
    for g in desc["groups"]:
        assert set(g) >= KEYS
        if g["n_nonmated_pairs"]:
            assert g["min_resolvable_fmr"] == pytest.approx(min(1, 3 / g["n_nonmated_pairs"]))
    black = got[("eth", "black")]
    assert black == (13, 26, 13, 312)


def test_describe_a_manifest_with_age_bands_by_pair_mean(tmp_path):
    rng = np.random.default_rng(0)
    rows = [{"image_id": f"{s}_{k}", "subject_id": f"s{s}", "grp": "ab"[s % 2],
             "age": int(rng.integers(2, 60))} for s in range(14) for k in range(3)]
    pd.DataFrame(rows).to_csv(tmp_path / "m.csv", index=False)
    edges = [0, 5, 14, 21, 45, 70]
    desc = describe_dataset(str(tmp_path / "m.csv"), None, ["grp", "age_band"])
    frame = pd.DataFrame(rows)
    frame["age_band"] = bands_of(frame.age.to_numpy(dtype=float), edges)
    frame = frame.astype(str)
    want = brute(frame, ["grp", "age_band"], edges)
    got = {(g["attribute"], g["group"]): (g["n_subjects"], g["n_images"], g["n_mated_pairs"],
                                          g["n_nonmated_pairs"]) for g in desc["groups"]}
    for key, value in want.items():
        assert got.get(key, (0, 0, 0, 0))[2:] == value[2:], key


def test_cli_json_and_errors(london_root):
    from tests.cli.test_cli import fairbench as fairbench_cli

    r = fairbench_cli("datasets", "describe", "london", "--root", str(london_root),
                      "-a", "eth", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert {g["group"] for g in data["groups"] if g["attribute"] == "eth"} >= {"black",
                                                                                  "white"}
    bad = fairbench_cli("datasets", "describe", "londn")
    assert bad.returncode == 2 and "Did you mean 'london'" in bad.stderr
    assert "Traceback" not in bad.stderr
