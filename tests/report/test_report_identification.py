"""A 1:N run: `fairbench report` rebuilds every table from search.npz alone (the same
files the run wrote), and writes report.html with the same cell rules (never a bare 0)."""

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
    # findings first: a forest plot of FPIR and FNIR, the false-candidate matrix under it
    findings = html[html.index('<section id="findings">'):html.index('<section id="can-show">')]
    assert 'class="forest"' in findings and 'data-attribute="grp"' in findings
    assert "FPIR (non-mated searches)" in findings and "FNIR (mated searches)" in findings
    assert "False candidates by grp at fpir=0.2" in findings


def test_identification_tables_are_rebuilt_from_stored_outcomes(tmp_path):
    frame, emb = generated("cosine", n_subjects=60, seed=7)
    frame.to_csv(tmp_path / "manifest.csv", index=False)
    np.savez(tmp_path / "e.npz", image_ids=frame["image_id"].to_numpy(dtype=str),
             embeddings=emb)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        f"dataset: {{manifest: {tmp_path / 'manifest.csv'}, attributes: [grp, sex]}}\n"
        f"matcher: {{name: precomputed, params: {{path: {tmp_path / 'e.npz'}}}}}\n"
        "identification: {target_fpir: [0.3, 0.1], fixed_thresholds: [0.25], "
        "bootstrap: {replicates: 30}, gallery_fractions: [0.5, 1.0]}\n")
    res = run(load_config(cfg), tmp_path / "out", progress=False)  # mode from the section
    assert res.mode == "identification"
    tables = res.run_dir / "tables"
    csvs = sorted(tables.glob("*.csv"))
    assert {p.stem for p in csvs} == {"identification_by_group",
                                       "identification_false_candidates",
                                       "identification_sweeps"}
    before = {p.name: p.read_text() for p in csvs}
    for p in tables.iterdir():
        p.unlink()
    (res.run_dir / "images.csv").unlink()  # nothing but run.json and search.npz is needed
    build_report(res.run_dir)
    assert {p.name: p.read_text() for p in sorted(tables.glob("*.csv"))} == before
    z = dict(np.load(res.run_dir / "search.npz"))
    z["main:nonmate_score"] = np.full_like(z["main:nonmate_score"], -np.inf)
    np.savez_compressed(res.run_dir / "search.npz", **z)
    build_report(res.run_dir)
    assert (tables / "identification_by_group.csv").read_text() != \
        before["identification_by_group.csv"]
