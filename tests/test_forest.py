"""The forest plot's inputs and output: where each point is drawn, and the SVG ids a page
finds them by (their positions are checked against the tables in the browser test)."""

from __future__ import annotations

import re

import pytest

from fairbench.forest import Panel, Point, drawn_value, forest_svg

FMR = [Point("black", 0.333, 0.28, 0.39, 104, 312), Point("white", 0.0045, 0.0032, 0.006,
                                                           42, 9384, reference=True),
       Point("east asian", 0.0, 0.0, 0.025, 0, 144), Point("nobody", None, None, None, 0, 0)]
FNMR = [Point("black", 0.1, 0.02, 0.3, 2, 13), Point("white", 0.0, 0.0, 0.05, 0, 69, True)]


@pytest.mark.parametrize("point,where", [
    (FMR[0], (0.333, False)),  # an error rate is drawn where it is
    (FMR[2], (0.025, True)),  # no error: at the upper end of its interval, as a bound
    (FMR[3], (None, False)),  # no comparisons: not drawn
    (Point("g", 0.0, 0.0, None, 0, 10), (None, True)),  # a bound without a value: not drawn
])
def test_where_a_point_is_drawn(point, where):
    assert drawn_value(point) == where


def test_svg_names_every_drawn_point_and_marks_the_reference():
    svg = forest_svg([Panel("FMR", "same-group impostor pairs", FMR),
                      Panel("FNMR", "mated pairs", FNMR)], "FMR and FNMR by eth", "fp-0-eth")
    ids = re.findall(r'id="(fp-0-eth-[^"]*)"', svg)
    # panel 0: black, white, east asian (bound); 'nobody' has no data; panel 1: two rows
    assert ids == ["fp-0-eth-0-0", "fp-0-eth-0-1", "fp-0-eth-0-2-upper", "fp-0-eth-1-0",
                   "fp-0-eth-1-1-upper"]
    assert "white (reference)" in svg and "no data" in svg
    assert "104 / 312" in svg and "0 of 144" in svg  # the counts beside each row
    assert "same-group impostor pairs" in svg and "FMR and FNMR by eth" in svg


def test_all_zero_panels_still_draw():
    svg = forest_svg([Panel("FNMR", "mated pairs", [Point("a", 0.0, 0.0, 0.3, 0, 10)])], "t")
    assert 'id="fp-0-0-upper"' in svg


def test_notebook_views_draw_the_same_forest_plot():
    """Run and RateFrame HTML views (notebooks) carry the report's forest plot, drawn from
    the same stored rows."""
    from pathlib import Path

    import fairbench

    run = fairbench.load(Path(__file__).parent / "report" / "fixtures" / "london-dlib-1.0")
    frame = run.frame("fmr", "eth")
    panel = frame.panel()
    by = frame.by_group
    assert panel.name == "FMR" and panel.over == "same-group impostor pairs"
    assert [p.group for p in panel.points] == [g for g in by.index if g != "unknown"]
    black = next(p for p in panel.points if p.group == "black")
    assert (black.rate, black.errors, black.n) == (by.loc["black", "rate"], 104, 312)
    assert [p.group for p in panel.points if p.reference] == ["white"]
    assert 'id="fp-fmr-eth-0-0"' in frame._repr_html_()
    page = run._repr_html_()
    for attr in ("eth", "sex", "age_band"):
        assert f'id="fp-run-{attr}-0-0' in page and f'id="fp-run-{attr}-1-0' in page
