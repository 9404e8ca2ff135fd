"""fairbench compare: a run against itself changes nothing; a changed model shows the change
with a paired interval that equals explicit resampling; runs on different data are refused
(exit 2); compare.html is written atomically, holds the CSV's values, loads in headless
Chromium with no errors or fetches, and carries either run's warnings."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fairbench
from fairbench.config import load_config
from fairbench.metrics.bootstrap import percentile_interval, subject_weights, view_rng
from fairbench.report import compare, compare_html
from fairbench.report.compare import CompareError, write_comparison
from fairbench.report.rebuild import verification_arrays
from fairbench.report.render import anchor
from tests.generated import generated
from tests.report.cdp import Browser
from tests.report.conftest import STORED_RUN, need_program
from tests.report.test_report_browser import HINT, not_blank


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path, Path]:
    """A, B (A's embeddings slightly perturbed) and C (A, but every person of group c has
    one embedding for all their images: their mated pairs stop failing)."""
    d = tmp_path_factory.mktemp("cmp")
    frame, emb = generated("euclidean", n_subjects=50, seed=2)
    frame.to_csv(d / "manifest.csv", index=False)
    emb_b = emb + np.random.default_rng(5).integers(-1, 2, emb.shape).astype(np.float32)
    emb_c = emb.copy()
    for _, idx in frame[frame["grp"] == "c"].groupby("subject_id").groups.items():
        ok = [i for i in idx if np.isfinite(emb[i]).all()]
        emb_c[ok] = emb[ok[0]] if ok else emb_c[ok]
    out = []
    for name, e in (("a", emb), ("b", emb_b), ("c", emb_c)):
        np.savez(d / f"{name}.npz", image_ids=frame["image_id"].to_numpy(dtype=str),
                 embeddings=e)
        cfg = d / f"{name}.yaml"
        cfg.write_text(
            f"dataset: {{manifest: {d / 'manifest.csv'}, attributes: [grp, sex]}}\n"
            f"matcher: {{name: precomputed, params: {{path: {d / name}.npz, "
            "similarity: euclidean}}\n"
            "verification:\n  target_fmr: [0.1, 0.01]\n  bootstrap: {replicates: 50}\n")
        out.append(fairbench.run(load_config(cfg), d / "out", progress=False).run_dir)
    return out[0], out[1], out[2]


@pytest.fixture(scope="module")
def two_runs(runs) -> tuple[Path, Path]:
    return runs[0], runs[1]


def test_run_against_itself(two_runs):
    cmp = fairbench.compare(two_runs[0], two_runs[0])
    df = cmp.frame
    assert (df["change"].fillna(0) == 0).all()
    assert (df["change_ci_low"].fillna(0) == 0).all() and (df["change_ci_high"].fillna(0) ==
                                                           0).all()
    assert set(df["attribute"]) == {"all", "grp", "sex"}
    assert "A: run" in cmp.header and "B: run" in cmp.header
    assert "<table" in cmp._repr_html_()


def test_paired_interval_equals_explicit_resampling(two_runs):
    """The change's interval: the same resampled people score both models."""
    a, b = (fairbench.load(d) for d in two_runs)
    df = fairbench.compare(a, b).frame
    (codes, ca), (_, cb) = verification_arrays(a), verification_arrays(b)
    plan = codes.plan
    R = 50
    w = subject_weights(np.zeros(plan.n_subjects, np.int64), R, view_rng(0, "all"))
    row = df[(df.attribute == "all") & (df.rate == "fnmr")].iloc[0]
    thr = {}
    for run in (a, b):
        p = next(p for p in run.operating_points if p.kind == "target_fmr"
                 and p.target == row["operating_point"])
        thr[run.run_id] = p.similarity
    subj = plan.subject[plan.mated_i]
    diffs = []
    for r in range(R):
        wt = w[r, subj]  # a mated pair counts once per draw of its subject
        fa = (wt * (ca.mated_s < thr[a.run_id])).sum() / wt.sum()
        fb = (wt * (cb.mated_s < thr[b.run_id])).sum() / wt.sum()
        diffs.append(fb - fa)
    lo, hi = percentile_interval(np.array(diffs)[:, None], 0.95)
    assert row["change_ci_low"] == pytest.approx(lo[0])
    assert row["change_ci_high"] == pytest.approx(hi[0])
    assert row["change"] == pytest.approx((row["errors_b"] - row["errors_a"]) / row["n"])


def test_different_data_is_refused(two_runs, fairbench_cli):
    with pytest.raises(CompareError, match="not on the same dataset"):
        fairbench.compare(two_runs[0], STORED_RUN)
    code, _, err = fairbench_cli("compare", str(two_runs[0]), str(STORED_RUN))
    assert code == 2 and "manifests differ" in err


def test_cli_writes_files(two_runs, tmp_path, fairbench_cli):
    code, out, err = fairbench_cli("compare", str(two_runs[0]), str(two_runs[1]), "-o",
                                   str(tmp_path))
    assert code == 0, err
    assert "| all | all | FMR 1 in 10 | FMR |" in out
    assert (tmp_path / "compare.csv").exists() and (tmp_path / "compare.md").exists()
    assert (tmp_path / "compare.html").exists()


# --- compare.html ---------------------------------------------------------------------------

class _Tables(HTMLParser):
    """Every <table> of a page: id -> rows of cell texts (header row excluded)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._rows: list[list[str]] | None = None
        self._cell: list[str] | None = None
        self._in_body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._rows = self.tables.setdefault(str(dict(attrs).get("id")), [])
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body and self._rows is not None:
            self._rows.append([])
        elif tag == "td" and self._in_body:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None and self._rows:
            self._rows[-1].append("".join(self._cell))
            self._cell = None
        elif tag == "tbody":
            self._in_body = False
        elif tag == "table":
            self._rows = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _percents(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"[+-]?\d+(?:\.\d+)?(?=%)", text)]


@pytest.fixture(scope="module")
def compared(runs, tmp_path_factory) -> Path:
    """``fairbench compare A C -o DIR``: C's group c has fewer false non-matches."""
    out = tmp_path_factory.mktemp("compared")
    write_comparison(runs[0], runs[2], out)
    return out


def test_html_is_written_atomically(two_runs, tmp_path, monkeypatch):
    """compare.html goes through atomic_text (a temporary file renamed into place): a page
    that fails to render leaves the previous one whole, and no temporary file behind."""
    import fairbench.results.folder as folder

    written = []
    real = folder.atomic_text
    monkeypatch.setattr(folder, "atomic_text", lambda p, t: (written.append(p), real(p, t)))
    write_comparison(two_runs[0], two_runs[1], tmp_path)
    assert tmp_path / "compare.html" in written
    before = (tmp_path / "compare.html").read_text(encoding="utf-8")
    assert before.startswith("<!DOCTYPE html>") and before.endswith("</html>\n")

    def broken(*_: object) -> str:
        raise RuntimeError("render failed")

    monkeypatch.setattr(compare_html, "comparison_page", broken)
    with pytest.raises(RuntimeError, match="render failed"):
        write_comparison(two_runs[0], two_runs[1], tmp_path)
    assert (tmp_path / "compare.html").read_text(encoding="utf-8") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["compare.csv", "compare.html",
                                                          "compare.md", "plots"]


def test_html_values_equal_the_csv(compared):
    """Every per-group cell of compare.html is the CSV's row: both runs' counts, the change
    and its paired interval, and the reading (a difference only when the interval excludes
    0)."""
    page = (compared / "compare.html").read_text(encoding="utf-8")
    df = pd.read_csv(compared / "compare.csv", keep_default_na=False, na_values=[""])
    parser = _Tables()
    parser.feed(page)
    seen = 0
    for r in df.to_dict(orient="records"):
        op = compare.point_text(r["threshold_kind"], r["operating_point"])
        rows = parser.tables[anchor(f"compare-{r['attribute']}-{op}")]
        row = next(x for x in rows if x[0] == str(r["group"]))
        at = 1 if r["rate"] == "fmr" else 5
        a, b, change, reading = row[at:at + 4]
        assert (a, b, change) == compare.rate_cells(r)
        for cell, k in ((a, r["errors_a"]), (b, r["errors_b"])):  # the counts, as written
            n = r["n"]
            assert (f"({k:,}/{n:,})" if k else f"0 of {n:,}") in cell or n < 10, (cell, r)
        shown = _percents(change)
        assert shown == pytest.approx([100 * r[c] for c in ("change", "change_ci_low",
                                                            "change_ci_high")], rel=0.05)
        assert reading == r["reading"]
        differs = r["n"] >= 10 and (r["change_ci_low"] > 0 or r["change_ci_high"] < 0)
        assert (reading in ("B higher", "B lower")) == differs
        seen += 1
    assert seen == len(df) and any(df["reading"].isin(["B higher", "B lower"]))
    groups = sum(len(rows) for key, rows in parser.tables.items() if key.startswith("compare-"))
    assert 2 * groups == len(df)  # one page row holds a group's FMR and FNMR


def test_html_renders_in_chromium(compared, runs, tmp_path):
    """compare.html loads with no console errors and no fetches, names both runs at the
    top and shows a paired-change figure per attribute, with alt text."""
    chromium = need_program("/usr/bin/chromium", "Chromium", HINT)
    a, b = (fairbench.load(d) for d in (runs[0], runs[2]))
    with Browser(chromium, tmp_path / "profile") as br:
        br.open((compared / "compare.html").as_uri())
        text = br.evaluate("document.body.innerText")
        images = br.evaluate("[...document.images].map(i => ({alt: i.alt, ok: i.complete && "
                             "i.naturalWidth > 0, w: i.getBoundingClientRect().width}))")
        fetched = br.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
        shot = br.screenshot(tmp_path / "compare.png")
        fig = br.screenshot(tmp_path / "change.png", "#plot-change-grp img")
        problems = br.problems()
    assert problems == [] and fetched == []
    top = text[:text.index("By grp")]
    for s in (a.run_id, b.run_id, "precomputed", a.record["matcher"]["fingerprint"],
              b.record["matcher"]["fingerprint"], "FMR 1 in 10"):
        assert s in top, s
    assert len(images) == 2 and all(i["ok"] and i["w"] > 200 for i in images), images
    assert all(i["alt"].startswith("Paired change B - A in FMR and FNMR by ") for i in images)
    for png in (shot, fig):
        not_blank(png)


def test_html_warns_of_either_runs_consent_and_simulation(two_runs, tmp_path):
    """A consent warning on B's dataset and SIMULATED on A both head the page."""
    runs = []
    for tag, d in zip("ab", two_runs):
        dst = tmp_path / tag
        shutil.copytree(d, dst)
        rec = json.loads((dst / "run.json").read_text(encoding="utf-8"))
        if tag == "a":
            rec["simulated"] = True
        else:
            rec["dataset"]["consent_warning"] = "collected without the consent of the people"
        (dst / "run.json").write_text(json.dumps(rec), encoding="utf-8")
        runs.append(dst)
    write_comparison(runs[0], runs[1], tmp_path / "out")
    page = (tmp_path / "out" / "compare.html").read_text(encoding="utf-8")
    first_table = page.index("<table")
    warn = page.index("WARNING (run B): this dataset was collected without the consent of "
                      "the people")
    sim = page.index("SIMULATED DATA (run A)")
    assert sim < first_table and warn < first_table
    plain = (Path(str(tmp_path)) / "plain")
    write_comparison(two_runs[0], two_runs[1], plain)
    text = (plain / "compare.html").read_text(encoding="utf-8")
    assert "class=\"banner\"" not in text


def test_change_figure_draws_empty_and_small_groups():
    """A group with no comparisons says n/a at 0; one under 10 comparisons is grey and
    marked 'too few'; a change with no interval still gets its point."""
    from fairbench.report.compare_plots import change_figure

    rows = []
    for rate in ("fmr", "fnmr"):
        for g, n, ch, lo, hi, reading in (
                ("big", 5000, 0.002, 0.001, 0.004, "B higher"),
                ("small", 5, 0.2, float("nan"), float("nan"), "insufficient data"),
                ("none", 0, float("nan"), float("nan"), float("nan"), "insufficient data")):
            rows.append({"attribute": "x", "group": g, "threshold_kind": "target_fmr",
                         "operating_point": 0.01, "rate": rate, "n": n, "change": ch,
                         "change_ci_low": lo, "change_ci_high": hi, "reading": reading})
    fig = change_figure("x", pd.DataFrame(rows))
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts.count(" n/a") == 2 and texts.count("n=5 (too few)") == 2
    assert "n=5,000" in texts


def test_html_says_what_changed_first(compared, two_runs, tmp_path):
    """compare.html opens with every group whose paired interval excludes 0 (here C's
    group c, fewer false non-matches), or says that nothing changed."""
    page = (compared / "compare.html").read_text(encoding="utf-8")
    df = pd.read_csv(compared / "compare.csv", keep_default_na=False, na_values=[""])
    moved = df[df.reading.isin(["B higher", "B lower"])]
    assert len(moved) and page.index('id="changed"') < page.index('id="runs"')
    top = page[page.index('id="changed"'):page.index('id="runs"')]
    assert top.count("<li>") == len(moved)
    for r in moved.to_dict(orient="records"):
        assert f"{str(r['rate']).upper()} of {r['group']} ({r['attribute']})" in top
    write_comparison(two_runs[0], two_runs[0], tmp_path)  # a run against itself: none
    same = (tmp_path / "compare.html").read_text(encoding="utf-8")
    assert not pd.read_csv(tmp_path / "compare.csv").reading.isin(["B higher", "B lower"]).any()
    assert "this data shows no difference between A and B" in same
