"""report.html in a real browser: headless Chromium loads it with no console errors, no
fetches (the page's CSP forbids any), shows the key numbers, tables and plots; screenshots
of the page and of the heatmap are not blank."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
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


OPEN_ALL = "document.querySelectorAll('details').forEach(d => d.open = true)"
POINTS = """[...document.querySelectorAll('figure.forest')].map(f => ({
  attribute: f.dataset.attribute, op: f.dataset.op,
  visible: f.getBoundingClientRect().height > 0,
  points: [...f.querySelectorAll('g[id^="fp-"]')].map(g => {
    const r = g.getBoundingClientRect();
    return {id: g.id, x: r.left + r.width / 2, y: r.top + r.height / 2};
  })}))"""


def _check_points_equal_table(figs: list[dict], table: pd.DataFrame, op: str) -> int:
    """Every forest point sits where its table value puts it on the log axis: within a
    panel, x is one straight line in log10(value) through all groups (a point with no
    error is drawn at its interval's upper end), and rows go down in table order."""
    checked = 0
    for f in (f for f in figs if f["op"] == op):
        rows = table[(table.attribute == f["attribute"]) & (table.operating_point == op)
                     & ~table.group.astype(str).str.contains("unknown")]
        for k, (rate, n) in enumerate((("fmr", "n_nonmated"), ("fnmr", "n_mated"))):
            pts = [p for p in f["points"]
                   if p["id"].startswith(f"fp-{f['id_op']}-{f['attribute']}-{k}-")]
            xs, logs, ys = [], [], []
            for pt in pts:
                i = int(pt["id"].split("-")[4])
                r = rows.iloc[i]
                upper = pt["id"].endswith("-upper")
                assert upper == (int(r[f"{rate}_errors"]) == 0), (pt, r[rate])
                value = r[f"{rate}_ci_high"] if upper else r[rate]
                xs.append(pt["x"])
                logs.append(np.log10(float(value)))
                ys.append((i, pt["y"]))
            assert len(pts) == sum(rows[n].astype(int) > 0), (f["attribute"], rate)
            if len(set(np.round(logs, 6))) >= 2:
                slope, icpt = np.polyfit(logs, xs, 1)
                assert slope > 0
                assert np.max(np.abs(np.polyval([slope, icpt], logs) - xs)) < 1.5, (
                    f["attribute"], rate, xs, logs)
                checked += 1
            order = [y for _, y in sorted(ys)]
            assert order == sorted(order)  # row i is below row i-1
    return checked


def test_report_renders_in_chromium(built_report: Path, tmp_path: Path):
    """Findings first (a forest plot per attribute whose points are the table's values),
    the switcher shows one operating point at a time, tables sort, nothing is fetched, no
    console error; the details hold every table and plot."""
    chromium = need_program("/usr/bin/chromium", "Chromium", HINT)
    page = built_report / "report.html"
    table = pd.read_csv(built_report / "tables" / "verification_by_group.csv",
                        keep_default_na=False)
    attrs = ["eth", "sex", "age_band"]
    with Browser(chromium, tmp_path / "profile") as b:
        b.open(page.as_uri())
        first = b.evaluate("document.querySelector('body > section').id")
        ops = b.evaluate("[...document.querySelectorAll('#op-switcher button')]"
                         ".map(x => x.dataset.op)")
        shown = b.evaluate("[...document.querySelectorAll('.op-block')].filter(x => "
                           "!x.hidden).map(x => x.dataset.op)")
        figs = b.evaluate(POINTS)
        top = b.evaluate("document.querySelector('.op-block:not([hidden]) ol.top')"
                         ".innerText")
        b.evaluate(f"document.querySelector('#op-switcher button[data-op=\"{ops[1]}\"]')"
                   ".click()")
        after = b.evaluate("[...document.querySelectorAll('.op-block')].filter(x => "
                           "!x.hidden).map(x => x.dataset.op)")
        figs_after = b.evaluate(POINTS)
        shot = b.screenshot(tmp_path / "report.png")
        b.evaluate(OPEN_ALL)
        sort = b.evaluate("""(() => { const t = document.getElementById('by-group-eth');
            const th = [...t.tHead.rows[0].cells].find(c => c.textContent.startsWith(
              'people'));
            th.click(); const up = [...t.tBodies[0].rows].map(r => r.cells[th.cellIndex]
              .textContent); th.click();
            return [up, th.getAttribute('aria-sort'), !!t.previousElementSibling
              .matches('input.filter')]; })()""")
        text = b.evaluate("document.body.innerText")
        images = b.evaluate("[...document.images].map(i => ({alt: i.alt, ok: i.complete && "
                            "i.naturalWidth > 0, w: i.getBoundingClientRect().width}))")
        svgs = b.evaluate("[...document.querySelectorAll('figure.forest svg')]"
                          ".map(s => s.getAttribute('aria-label'))")
        tables = b.evaluate("[...document.querySelectorAll('table')].map(t => t.id)")
        fetched = b.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
        heat = b.screenshot(tmp_path / "heatmap.png", "#plot-heatmap-eth img")
        det = b.screenshot(tmp_path / "det.png", "#plot-det-eth img")
        problems = b.problems()
    assert problems == [] and fetched == []
    assert first == "findings"
    assert ops == ["fmr=0.01", "fmr=1e-3", "fmr=1e-4", "fixed=0.6"]
    assert shown == ["fmr=0.01"] and after == [ops[1]]
    # a forest plot for every attribute at every operating point, the visible ones drawn
    assert {(f["attribute"], f["op"]) for f in figs} == {(a, o) for a in attrs for o in ops}
    for f in figs:
        f["id_op"] = ops.index(f["op"])
        assert f["visible"] == (f["op"] == "fmr=0.01"), f["attribute"]
    for f in figs_after:
        f["id_op"] = ops.index(f["op"])
    assert _check_points_equal_table(figs, table, "fmr=0.01") >= 3
    assert _check_points_equal_table(figs_after, table, ops[1]) >= 2
    assert top.startswith("At a threshold set for a false match rate of 1 in 100")
    assert "74 times the rate for white people" in top.split("\n")[0]
    up, order, filtered = sort
    assert [int(x) for x in up] == sorted(int(x) for x in up) and order == "descending"
    assert filtered
    # key numbers in the (opened) details
    for s in ("33.3% [15%, 59%] (104/312)", "0.448% [0.25%, 0.81%] (42/9,384)",
              "0 of 9,384 (upper 95% bound 0.032%)", "74 times the rate for white people",
              "CC BY 4.0", "signed consent", "One session per person",
              "20261128T023836Z-dlib-london-9a59715e", "dlib 20.0.1",
              "What this data can and cannot show"):
        assert s in text, s
    assert "by-group-eth" in tables and any(t.startswith("cross-eth") for t in tables)
    alts = {i["alt"]: i for i in images}
    assert all(i["alt"] for i in images) and all(svgs)
    assert any(a.startswith("DET curves by eth") for a in alts)
    assert all(i["ok"] for i in images)
    for png in (shot, heat, det):
        not_blank(png)


def test_report_reads_with_javascript_off(built_report: Path, tmp_path: Path):
    """Without its script the page is whole: every operating point's findings one after
    another, no switcher, tables and details native."""
    chromium = need_program("/usr/bin/chromium", "Chromium", HINT)
    with Browser(chromium, tmp_path / "profile") as b:
        b.open((built_report / "report.html").as_uri(), javascript=False)
        ran = b.evaluate("!!document.querySelector('input.filter')")
        shown = b.evaluate("[...document.querySelectorAll('.op-block')].filter(x => "
                           "x.getBoundingClientRect().height > 0).map(x => x.dataset.op)")
        bar = b.evaluate("document.getElementById('op-switcher').getBoundingClientRect()"
                         ".height")
        text = b.evaluate("document.body.innerText")
        shot = b.screenshot(tmp_path / "nojs.png")
        problems = b.problems()
    assert problems == [] and not ran
    assert shown == ["fmr=0.01", "fmr=1e-3", "fmr=1e-4", "fixed=0.6"] and bar == 0
    assert text.index("Findings") < text.index("What this data can and cannot show") \
        < text.index("Details")
    not_blank(shot)


def test_report_pdf_has_the_findings_on_page_one(built_report: Path, tmp_path: Path):
    """fairbench report --pdf prints report.html with headless Chromium."""
    need_program("/usr/bin/chromium", "Chromium", HINT)
    pdftotext = need_program("/usr/bin/pdftotext", "pdftotext", "apt-get install "
                             "poppler-utils (.ci/run does)")
    import shutil
    import subprocess
    import sys

    run = tmp_path / built_report.name
    shutil.copytree(built_report, run)
    r = subprocess.run([sys.executable, "-m", "fairbench.cli", "report", str(run), "--pdf",
                        "--quiet"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    pdf = run / "report.pdf"
    assert str(pdf) in r.stdout.splitlines()
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert not list(run.glob(".report.pdf.*"))
    page1 = subprocess.run([str(pdftotext), "-f", "1", "-l", "1", str(pdf), "-"],
                           capture_output=True, text=True, check=True).stdout
    for s in ("Findings", "At FMR 1 in 100", "FMR (same-group impostor pairs)", "black",
              "white (reference)"):
        assert s in page1, s


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
        b.evaluate(OPEN_ALL)
        text = b.evaluate("document.body.innerText")
        fetched = b.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
        tables = b.evaluate("[...document.querySelectorAll('table')].map(t => t.id)")
        shot = b.screenshot(tmp_path / "report.png")
        problems = b.problems()
    assert problems == [] and fetched == []
    assert "Equal error rate" in text and "comparisons given as scores" in text
    assert "eer" in tables
    not_blank(shot)


def test_pdf_without_a_browser_is_one_clear_message(monkeypatch, tmp_path: Path):
    import pytest

    from fairbench.errors import FairbenchError
    from fairbench.report.pdf import find_browser

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("FAIRBENCH_CHROMIUM", raising=False)
    with pytest.raises(FairbenchError, match="headless Chromium, and none was found"):
        find_browser()
    monkeypatch.setenv("FAIRBENCH_CHROMIUM", str(tmp_path / "nope"))
    with pytest.raises(FairbenchError, match="not an executable file"):
        find_browser()
