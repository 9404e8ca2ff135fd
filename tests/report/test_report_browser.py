"""report.html in a real browser: headless Chromium loads it with no console errors, no
fetches (the page's CSP forbids any), shows the key numbers, tables and plots; screenshots
of the page and of the heatmap are not blank."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tests.report.cdp import Browser
from tests.report.conftest import need_program

HINT = "install it with `apt-get install chromium chromium-driver` (.ci/run does)"


def not_blank(png: Path, min_colours: int = 50) -> None:
    img = np.asarray(Image.open(png).convert("RGB"))
    assert img.shape[0] > 100 and img.shape[1] > 100, img.shape
    packed = (img[..., 0].astype(np.int32) << 16) | (img[..., 1].astype(np.int32) << 8) \
        | img[..., 2]
    colours = len(np.unique(packed))
    assert colours >= min_colours and img.std() > 10, (png, colours, img.std())


def test_report_renders_in_chromium(built_report: Path, tmp_path: Path):
    chromium = need_program("/usr/bin/chromium", "Chromium", HINT)
    page = built_report / "report.html"
    with Browser(chromium, tmp_path / "profile") as b:
        b.open(page.as_uri())
        text = b.evaluate("document.body.innerText")
        images = b.evaluate("[...document.images].map(i => ({alt: i.alt, ok: i.complete && "
                            "i.naturalWidth > 0, w: i.getBoundingClientRect().width}))")
        tables = b.evaluate("[...document.querySelectorAll('table')].map(t => t.id)")
        fetched = b.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
        shot = b.screenshot(tmp_path / "report.png")
        heat = b.screenshot(tmp_path / "heatmap.png", "#plot-heatmap-eth img")
        det = b.screenshot(tmp_path / "det.png", "#plot-det-eth img")
        problems = b.problems()
    assert problems == []
    assert fetched == []
    # key numbers: black and white same-group FMR at FMR 1 in 100, white at 1 in 1,000
    for s in ("33.3% [28%, 39%] (104/312)", "0.448% [0.32%, 0.60%] (42/9,384)",
              "0 of 9,384 (upper 95% bound 0.032%)", "74 times the rate for white people",
              "CC BY 4.0", "signed consent", "One session per person",
              "20261128T023836Z-dlib-london-9a59715e", "dlib 20.0.1"):
        assert s in text, s
    assert "by-group-eth" in tables and any(t.startswith("cross-eth") for t in tables)
    alts = {i["alt"]: i for i in images}
    for alt in ("DET curves by eth", "Cross-group impostor FMR by eth"):
        assert alts[alt]["ok"] and alts[alt]["w"] > 200, alts.get(alt)
    assert all(i["ok"] for i in images)
    for png in (shot, heat, det):
        not_blank(png)


def test_a_score_file_report_renders_in_chromium(tmp_path: Path):
    """A run over a bob score file: its report shows the EER table, says acquisition was
    not measured, and loads with no console errors or fetches."""
    import fairbench
    from fairbench.report.rebuild import build_report
    from tests import scorefixtures as sf

    chromium = need_program("/usr/bin/chromium", "Chromium", HINT)
    subjects = sf.people()
    subjects.to_csv(tmp_path / "subjects.csv", index=False)
    path = sf.write_bob4(sf.scored_rows(subjects), tmp_path / "scores.txt")
    run = fairbench.run({
        "dataset": {"manifest": str(tmp_path / "subjects.csv"), "attributes": ["grp"]},
        "matcher": {"name": "scores", "params": {"format": "bob4", "path": str(path)}},
        "verification": {"target_fmr": [0.1], "bootstrap": {"replicates": 20}}},
        tmp_path / "out", progress=False)
    build_report(run.run_dir)
    with Browser(chromium, tmp_path / "profile") as b:
        b.open((run.run_dir / "report.html").as_uri())
        text = b.evaluate("document.body.innerText")
        fetched = b.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
        tables = b.evaluate("[...document.querySelectorAll('table')].map(t => t.id)")
        shot = b.screenshot(tmp_path / "report.png")
        problems = b.problems()
    assert problems == [] and fetched == []
    assert "Equal error rate" in text and "comparisons given as scores" in text
    assert "eer" in tables
    not_blank(shot)
