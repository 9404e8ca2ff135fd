"""An auditor's session without the vendor's model: score files in, group tables out.

Writes a small SIMULATED study into OUTPUT_DIR (a subjects table, a bob 4-column score file,
a vendor's 1:N candidate lists with its gallery and searches, and one config for each),
runs both, and prints what an auditor would quote. The scores are synthetic, and the
configs say so (``matcher.params.simulated: true``), so every table is marked SIMULATED.

    python examples/score_files.py [OUTPUT_DIR]
    fairbench run OUTPUT_DIR/scores.yaml          # the same 1:1 run from the command line
    fairbench run OUTPUT_DIR/candidates.yaml      # and the 1:N one

The tests run this file as it is (tests/test_examples.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

import fairbench

GROUPS = ("a", "b", "c")


def write_study(folder: Path, n: int = 60, seed: int = 0) -> None:
    """People in three groups; group b's genuine scores are lower and noisier."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    people = pd.DataFrame({"subject_id": [f"p{k:03d}" for k in range(n)],
                           "grp": [GROUPS[k % 3] for k in range(n)]})
    people.to_csv(folder / "subjects.csv", index=False)
    grp = dict(zip(people.subject_id, people.grp))
    # 1:1: every probe sample of every person against every person's enrolled model
    with open(folder / "scores.bob4", "w") as f:
        for real in people.subject_id:
            for t in range(2):
                for claimed in people.subject_id:
                    mean = (2.0 if grp[real] == "b" else 3.0) if real == claimed else 0.0
                    s = rng.normal(mean, 1.5 if grp[real] == "b" else 1.0)
                    f.write(f"{claimed} {real} {real}/probe{t}.jpg {s:.4f}\n")
    # 1:N: a gallery of three people in four; each image searched, the top 5 returned
    images = pd.DataFrame([{"image_id": f"{s}_{k}", "subject_id": s, "grp": grp[s]}
                           for s in people.subject_id for k in range(2)])
    images.to_csv(folder / "images.csv", index=False)
    enrolled = [s for k, s in enumerate(people.subject_id) if k % 4 != 1]
    gallery = [f"{s}_0" for s in enrolled]
    (folder / "gallery.txt").write_text("\n".join(gallery) + "\n")
    rows, searches = [], []
    for k, probe in enumerate(i for i in images.image_id if not (i.endswith("_0") and
                                                                 i[:-2] in enrolled)):
        sid = f"search{k}"
        searches.append((sid, probe))
        mate = 4.0 if grp[probe[:-2]] == "b" else 5.0
        s = {g: rng.normal(mate if g[:-2] == probe[:-2] else 0.0,
                           1.5 if grp[probe[:-2]] == "b" else 1.0) for g in gallery}
        for r, g in enumerate(sorted(s, key=lambda g: -s[g])[:5], 1):
            rows.append((sid, probe, r, g, round(s[g], 4)))
    pd.DataFrame(rows, columns=["search_id", "probe_id", "rank", "candidate_id",
                                "score"]).to_csv(folder / "candidates.csv", index=False)
    pd.DataFrame(searches, columns=["search_id", "probe_id"]).to_csv(
        folder / "searches.csv", index=False)
    configs = {
        "scores.yaml": {
            "dataset": {"manifest": "subjects.csv", "attributes": ["grp"]},
            "matcher": {"name": "scores", "params": {
                "format": "bob4", "path": "scores.bob4", "direction": "similarity",
                "system": "example vendor, simulated", "simulated": True}},
            "verification": {"target_fmr": [1e-2, 1e-3], "threshold_rule": "fairbench"}},
        "candidates.yaml": {
            "mode": "identification",
            "dataset": {"manifest": "images.csv", "attributes": ["grp"]},
            "matcher": {"name": "scores", "params": {
                "format": "candidates", "path": "candidates.csv", "gallery": "gallery.txt",
                "searches": "searches.csv", "simulated": True}},
            "identification": {"target_fpir": [0.1], "rank": 1, "candidates": 5}}}
    for name, cfg in configs.items():
        (folder / name).write_text(yaml.safe_dump(cfg, sort_keys=False))


def main(folder: str = "score-study") -> None:
    import os

    out = Path(folder).resolve()
    write_study(out)
    os.chdir(out)  # the configs name their files relative to the study folder
    one = fairbench.run(out / "scores.yaml", out / "results", progress=False)
    print(one)
    print(one.frame("fmr", "grp", at="fmr=0.01").by_group.round(4).to_string())
    print(one.tables["eer_by_group"][["attribute", "group", "eer", "eer_threshold_native",
                                      "n_mated", "n_nonmated"]].round(4).to_string())
    many = fairbench.run(out / "candidates.yaml", out / "results", progress=False)
    print(many)
    print(many.frame("fnir", "grp", at="fpir=0.1").by_group.round(4).to_string())


if __name__ == "__main__":
    main(*sys.argv[1:2])
