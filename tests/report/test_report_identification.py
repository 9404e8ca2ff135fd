"""A 1:N run has no counts.npz: `fairbench report` renders its stored table as LaTeX and
HTML and writes report.html, with the same cell rules (never a bare 0)."""

from __future__ import annotations

import numpy as np

from fairbench.api import run
from fairbench.config import load_config
from fairbench.report.rebuild import build_report
from tests.generated import generated


def test_identification_run_report(tmp_path):
    frame, emb = generated("cosine", n_subjects=40, seed=4)
    frame.to_csv(tmp_path / "manifest.csv", index=False)
    np.savez(tmp_path / "e.npz", image_ids=frame["image_id"].to_numpy(dtype=str),
             embeddings=emb)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        f"mode: identification\ndataset: {{manifest: {tmp_path / 'manifest.csv'}, "
        "attributes: [grp]}\n"
        f"matcher: {{name: precomputed, params: {{path: {tmp_path / 'e.npz'}, "
        "similarity: cosine}}\n"
        "identification: {target_fpir: [0.2], bootstrap: {replicates: 20}}\n")
    res = run(load_config(cfg), tmp_path / "out", progress=False)
    written = {p.name for p in build_report(res.run_dir)}
    assert {"identification_by_group.tex", "identification_by_group.html",
            "report.html"} <= written
    html = (res.run_dir / "report.html").read_text()
    assert "1:N identification by grp" in html and "FPIR 1 in 5" in html
    assert "<td>0</td>" not in html and "Verification by group" not in html
