"""The simulator plants known group differences; the pipeline must recover them, and every
simulated result must say it is simulated."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fairbench.api import run
from fairbench.config import SimSpec, load_config_dict
from fairbench.data.simulate import simulate
from fairbench.errors import ConfigError


def test_simulation_is_seeded_and_shaped():
    spec = SimSpec(n_subjects=30, groups=3, dim=16, images_per_subject=3, seed=5)
    f1, e1 = simulate(spec)
    f2, e2 = simulate(spec)
    assert np.array_equal(e1, e2) and f1.equals(f2)
    assert e1.shape == (90, 16) and f1.groupby("subject_id").size().eq(3).all()
    assert f1.groupby("subject_id")["group"].nunique().eq(1).all()


def test_pipeline_recovers_the_planted_ordering(tmp_path):
    cfg = load_config_dict({
        "dataset": {"simulate": {"n_subjects": 1200, "groups": 4, "dim": 64,
                                 "shift": [0.0, 0.3, 0.6, 0.9],
                                 "noise": [0.9, 0.7, 0.5, 0.3], "seed": 3}},
        "matcher": {"name": "simulated"},
        "verification": {"target_fmr": [1e-3], "bootstrap": {"replicates": 100}},
    })
    res = run(cfg, tmp_path, progress=False)
    t = res.tables["verification_by_group"]
    g = t[t.attribute == "group"].set_index("group")
    # a larger shared direction: more same-group false matches, in the planted order
    assert list(g.fmr) == sorted(g.fmr) and g.fmr.iloc[-1] > 10 * g.fmr.iloc[0]
    # larger image noise: more false non-matches (planted in reverse order)
    assert list(g.fnmr) == sorted(g.fnmr, reverse=True)
    # every simulated table and the run record say so
    rec = json.loads((res.run_dir / "run.json").read_text())
    assert rec["simulated"] is True and rec["dataset"]["simulated"] is True
    for name in ("verification_by_group", "fmr_cross_group", "verification_summary",
                 "failure_to_acquire"):
        df = pd.read_csv(res.run_dir / "tables" / f"{name}.csv")
        assert (df["data"] == "SIMULATED").all()
        assert "SIMULATED DATA" in (res.run_dir / "tables" / f"{name}.md").read_text()


def test_simulated_data_needs_the_simulated_matcher():
    with pytest.raises(ConfigError, match="go together"):
        load_config_dict({"dataset": {"simulate": {}}, "matcher": {"name": "dlib"}})
    with pytest.raises(ConfigError, match="go together"):
        load_config_dict({"dataset": {"name": "london"}, "matcher": {"name": "simulated"}})
