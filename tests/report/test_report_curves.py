"""DET curves from stored histograms equal brute force over every score, at every bin edge."""

from __future__ import annotations

import numpy as np

from fairbench.engine.allpairs import count_verification
from fairbench.metrics.groups import make_view
from fairbench.plan import make_plan
from fairbench.report.curves import group_curves
from tests.generated import generated


def test_group_curves_match_brute_force():
    frame, emb = generated("euclidean", n_subjects=40, seed=3)
    plan = make_plan(frame, ["grp"])
    counts, _ = count_verification(emb, "euclidean", plan, [], [0.01], bins=64)
    view = make_view(plan, ["grp"])
    d = np.sqrt(((emb[:, None, :] - emb[None, :, :]) ** 2).sum(-1)).astype(np.float32)
    s = -d
    bad = np.isnan(emb).any(axis=1)
    s[bad, :] = -np.inf
    s[:, bad] = -np.inf
    iu, ju = np.triu_indices(len(emb), k=1)
    subj, grp = plan.subject, view.image_group
    imp = subj[iu] != subj[ju]
    for g, c in enumerate(group_curves(view, plan, counts)):
        same = (grp[iu] == g) & (grp[ju] == g)
        si = s[iu, ju][imp & same]
        sg = s[iu, ju][~imp & same]
        assert c.n_nonmated == len(si) and c.n_mated == len(sg)
        for k in range(0, len(c.thresholds), 7):
            t = c.thresholds[k]
            if len(si):
                assert c.fmr[k] == (si >= t).mean(), (g, k)
            if len(sg):
                assert c.fnmr[k] == (sg < t).mean(), (g, k)
