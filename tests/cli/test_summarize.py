"""`fairbench summarize`: NIST and ISO summary figures from a published rates table.

Every expected number is worked out here by hand, with plain arithmetic on the table the
test writes, not with fairbench's own functions; bad input is one message naming the row
and column, exit status 2 and no traceback.
"""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fairbench.cli import app

# Three groups, both rates; the lowest FMR is a's, the lowest FNMR c's.
TABLE = "group,fmr,fnmr\na,0.001,0.02\nb,0.004,0.03\nc,0.002,0.01\n"
FMR = {"a": 0.001, "b": 0.004, "c": 0.002}
FNMR = {"a": 0.02, "b": 0.03, "c": 0.01}


def invoke(*args: str):
    r = CliRunner().invoke(app, ["summarize", *args], prog_name="fairbench")
    assert not isinstance(r.exception, Exception) or isinstance(r.exception, SystemExit), \
        r.exception
    return r


def summary(path: Path, *args: str) -> dict:
    r = invoke(str(path), "--json", *args)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def measures(breakdown: dict) -> dict[str, dict]:
    return {m["measure"]: m for m in breakdown["measures"]}


def write(tmp_path: Path, text: str, name: str = "rates.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


# --- by hand -------------------------------------------------------------------------------

def geomean(xs: list[float]) -> float:
    return (xs[0] * xs[1] * xs[2]) ** (1 / 3)


def gini3(xs: list[float]) -> float:
    """G = n/(n-1) * sum_i sum_j |x_i - x_j| / (2 n^2 mean), written out for n = 3."""
    a, b, c = xs
    pair_sum = 2 * (abs(a - b) + abs(a - c) + abs(b - c))
    mean = (a + b + c) / 3
    return 3 / 2 * pair_sum / (2 * 9 * mean)


def test_both_rates_match_numbers_worked_by_hand(tmp_path):
    out = summary(write(tmp_path, TABLE))
    assert out["rates"] == ["fmr", "fnmr"] and out["alpha"] == 0.5
    (b,) = out["breakdowns"]
    m = measures(b)
    fmr, fnmr = list(FMR.values()), list(FNMR.values())
    # Max/GeoMean: FMR geometric mean (8e-9)^(1/3) = 0.002, so 0.004 / 0.002 = 2
    assert geomean(fmr) == pytest.approx(0.002)
    assert m["fmr_max_geomean"]["value"] == pytest.approx(2.0)
    assert m["fmr_max_geomean"]["worst_group"] == "b"
    assert m["fnmr_max_geomean"]["value"] == pytest.approx(0.03 / geomean(fnmr))
    # largest differences: 0.004 - 0.001 and 0.03 - 0.01
    assert m["fmr_max_difference"]["value"] == pytest.approx(0.003)
    assert (m["fmr_max_difference"]["worst_group"], m["fmr_max_difference"]["best_group"]) \
        == ("b", "a")
    assert m["fnmr_max_difference"]["value"] == pytest.approx(0.02)
    assert m["fnmr_max_difference"]["best_group"] == "c"
    # Gini: FMR 1.5 * 0.012 / 0.042 = 3/7, FNMR 1.5 * 0.08 / 0.36 = 1/3
    assert gini3(fmr) == pytest.approx(3 / 7)
    assert m["fmr_gini"]["value"] == pytest.approx(3 / 7)
    assert m["fnmr_gini"]["value"] == pytest.approx(1 / 3)
    # FDR = 1 - (0.5 * 0.003 + 0.5 * 0.02); GARBE = 0.5 * 3/7 + 0.5 * 1/3
    assert m["fdr"]["value"] == pytest.approx(1 - (0.5 * 0.003 + 0.5 * 0.02))
    assert m["fdr"]["value"] == pytest.approx(0.9885)
    assert m["garbe"]["value"] == pytest.approx(0.5 * gini3(fmr) + 0.5 * gini3(fnmr))
    assert m["fdr"]["alpha"] == 0.5 and "ISO/IEC 19795-10" in m["fdr"]["definition"]
    assert "NIST FRTE" in m["fmr_max_geomean"]["definition"]
    # ratios to the lowest-rate group of each rate
    rows = {g["group"]: g for g in b["groups"]}
    for g in "abc":
        assert rows[g]["fmr"]["ratio_to_lowest"] == pytest.approx(FMR[g] / 0.001)
        assert rows[g]["fnmr"]["ratio_to_lowest"] == pytest.approx(FNMR[g] / 0.01)
        assert rows[g]["fmr"]["lowest_group"] == "a" and rows[g]["fnmr"]["lowest_group"] == "c"
        assert "ratio_to_reference" not in rows[g]["fmr"]
        assert rows[g]["fmr"]["ci_low"] is None  # no counts: no interval
    assert any("no interval" in n for n in out["notes"])


def test_alpha_and_reference(tmp_path):
    out = summary(write(tmp_path, TABLE), "--alpha", "0.25", "--reference", "b")
    (b,) = out["breakdowns"]
    m = measures(b)
    assert m["fdr"]["value"] == pytest.approx(1 - (0.25 * 0.003 + 0.75 * 0.02))
    assert m["garbe"]["value"] == pytest.approx(0.25 * 3 / 7 + 0.75 * 1 / 3)
    assert b["reference_group"] == "b"
    rows = {g["group"]: g for g in b["groups"]}
    for g in "abc":
        assert rows[g]["fmr"]["ratio_to_reference"] == pytest.approx(FMR[g] / 0.004)
        assert rows[g]["fnmr"]["ratio_to_reference"] == pytest.approx(FNMR[g] / 0.03)


def test_reference_per_attribute(tmp_path):
    text = ("attribute,group,fmr\nsex,f,0.002\nsex,m,0.001\nregion,a,0.001\nregion,b,0.004\n"
            "age,young,0.01\nage,old,0.02\n")
    out = summary(write(tmp_path, text), "--reference", "f", "--reference", "b")
    sex, region, age = out["breakdowns"]
    assert (sex["reference_group"], region["reference_group"], age["reference_group"]) \
        == ("f", "b", "")
    assert sex["groups"][1]["fmr"]["ratio_to_reference"] == pytest.approx(0.5)
    assert region["groups"][0]["fmr"]["ratio_to_reference"] == pytest.approx(0.25)
    assert age["reference_rule"] == "none of the --reference groups is in this breakdown"
    assert age["groups"][1]["fmr"]["ratio_to_lowest"] == pytest.approx(2.0)


def test_readable_table_labels_each_measure(tmp_path):
    r = invoke(str(write(tmp_path, TABLE)))
    assert r.exit_code == 0, r.output
    text = r.stdout
    assert "| FMR Max/GeoMean (NIST FRTE) | 2 | highest: b |" in text
    assert "| FMR largest difference | 0.3 percentage points | b - a |" in text
    assert "| FMR Gini G (ISO/IEC 19795-10) | 0.4286 |  |" in text
    assert "| FDR, alpha = 0.5 (ISO/IEC 19795-10) | 0.9885 |  |" in text
    assert "| GARBE, alpha = 0.5 (ISO/IEC 19795-10) | 0.381 |  |" in text
    assert "| group | FMR | FMR / lowest (a) | FNMR | FNMR / lowest (c) |" in text
    assert "| b | 0.4% | 4 | 3% | 3 |"  # as published in text
    assert "1 - [alpha max|FMR_i - FMR_j| + (1 - alpha) max|FNMR_i - FNMR_j|]" in text
    assert "G = n/(n-1) x sum_i sum_j |x_i - x_j| / (2 n^2 mean(x))" in text
    assert "The summary measures and ratios carry no interval" in text


def test_one_rate_only_says_what_cannot_be_computed(tmp_path):
    out = summary(write(tmp_path, "group,FMR\na,0.001\nb,0.004\nc,0.002\n"))
    assert out["rates"] == ["fmr"]
    m = measures(out["breakdowns"][0])
    assert m["fmr_max_geomean"]["value"] == pytest.approx(2.0)
    assert m["fmr_gini"]["value"] == pytest.approx(3 / 7)
    assert not any(k.startswith("fnmr") for k in m)
    for k in ("fdr", "garbe"):
        assert m[k]["value"] is None
        assert m[k]["note"] == "needs both FMR and FNMR; the table has no FNMR"
    assert any("gives no FNMR" in n for n in out["notes"])
    r = invoke(str(tmp_path / "rates.csv"))
    assert "not computable: needs both FMR and FNMR; the table has no FNMR" in r.stdout


def test_fnmr_only(tmp_path):
    out = summary(write(tmp_path, "group,fnmr\na,0.02\nb,0.03\nc,0.01\n"))
    m = measures(out["breakdowns"][0])
    assert m["fnmr_gini"]["value"] == pytest.approx(1 / 3)
    assert m["fdr"]["value"] is None and "no FMR" in m["fdr"]["note"]


def test_each_attribute_and_operating_point_is_summarised_on_its_own(tmp_path):
    text = ("attribute,operating_point,group,fmr,fnmr\n"
            "sex,FMR 1e-4,f,0.0002,0.05\nsex,FMR 1e-4,m,0.0001,0.04\n"
            "sex,FMR 1e-3,f,0.002,0.02\nsex,FMR 1e-3,m,0.001,0.01\n"
            "region,FMR 1e-4,a,0.001,0.02\nregion,FMR 1e-4,b,0.004,0.03\n"
            "region,FMR 1e-4,c,0.002,0.01\n")
    out = summary(write(tmp_path, text))
    keys = [(b["attribute"], b["operating_point"]) for b in out["breakdowns"]]
    assert keys == [("sex", "FMR 1e-4"), ("sex", "FMR 1e-3"), ("region", "FMR 1e-4")]
    sex4, sex3, region = (measures(b) for b in out["breakdowns"])
    # two groups: geometric mean sqrt(x y); Gini 2 * 2|x - y| / (2 * 4 * mean)
    assert sex4["fmr_max_geomean"]["value"] == pytest.approx(0.0002 / math.sqrt(0.0002 * 0.0001))
    assert sex4["fmr_gini"]["value"] == pytest.approx(2 * 2 * 0.0001 / (8 * 0.00015))
    assert sex4["fdr"]["value"] == pytest.approx(1 - (0.5 * 0.0001 + 0.5 * 0.01))
    assert sex3["fnmr_max_difference"]["value"] == pytest.approx(0.01)
    assert sex3["garbe"]["value"] == pytest.approx(
        0.5 * (2 * 2 * 0.001 / (8 * 0.0015)) + 0.5 * (2 * 2 * 0.01 / (8 * 0.015)))
    assert region["fdr"]["value"] == pytest.approx(0.9885)
    r = invoke(str(tmp_path / "rates.csv"))
    assert "## sex at FMR 1e-4" in r.stdout and "## region at FMR 1e-4" in r.stdout


def test_percent_input_reads_as_fractions(tmp_path):
    pct = write(tmp_path, "group,fmr,fnmr\na,0.1%,2%\nb, 0.4 %,3%\nc,0.2%,1.0%\n", "pct.csv")
    frac = write(tmp_path, TABLE, "frac.csv")
    a, b = summary(pct)["breakdowns"][0], summary(frac)["breakdowns"][0]
    for key, m in measures(b).items():
        assert measures(a)[key]["value"] == pytest.approx(m["value"]), key
    assert [g["fmr"]["rate"] for g in a["groups"]] == pytest.approx([0.001, 0.004, 0.002])


def test_a_zero_rate_uses_nists_epsilon(tmp_path):
    out = summary(write(tmp_path, "group,fmr\na,0\nb,0.01\nc,0.02\n"))
    b = out["breakdowns"][0]
    e = 1e-5
    hand = (0.02 + e) / ((e * (0.01 + e) * (0.02 + e)) ** (1 / 3))
    assert measures(b)["fmr_max_geomean"]["value"] == pytest.approx(hand)
    assert b["groups"][1]["fmr"]["ratio_to_lowest"] is None
    assert "a's FMR is 0" in b["groups"][1]["fmr"]["ratio_to_lowest_note"]
    assert any("adds 1e-5" in n for n in b["notes"])


def test_counts_add_clopper_pearson_intervals(tmp_path):
    from scipy.stats import beta

    text = ("group,fmr,n_nonmated,fmr_errors\nwhite,0.45%,9384,42\nblack,33.3%,312,104\n"
            "other,1.2%,5000,\n")
    out = summary(write(tmp_path, text))
    rows = {g["group"]: g["fmr"] for g in out["breakdowns"][0]["groups"]}
    k, n = 104, 312
    assert rows["black"]["ci_low"] == pytest.approx(beta.ppf(0.025, k, n - k + 1))
    assert rows["black"]["ci_high"] == pytest.approx(beta.ppf(0.975, k + 1, n - k))
    assert (rows["black"]["errors"], rows["black"]["n"]) == (104, 312)
    assert rows["black"]["rate"] == pytest.approx(0.333)  # the published rate is used
    assert rows["other"]["errors"] == 60 and rows["other"]["counts_derived"]
    r = invoke(str(tmp_path / "rates.csv"))
    assert "33.3% [28%, 39%] (104/312)" in r.stdout and "(~60/5,000)" in r.stdout


def test_csv_output_is_written_whole(tmp_path):
    out = tmp_path / "summary.csv"
    r = invoke(str(write(tmp_path, TABLE)), "-o", str(out), "--reference", "a")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(out.open()))
    by = {(x["rate"], x["measure"], x["group"]): x for x in rows}
    assert float(by[("fmr+fnmr", "fdr", "")]["value"]) == pytest.approx(0.9885)
    assert "alpha = 0.5" in by[("fmr+fnmr", "fdr", "")]["definition"]
    assert float(by[("fmr", "fmr_max_geomean", "b")]["value"]) == pytest.approx(2.0)
    assert float(by[("fnmr", "ratio_to_reference", "c")]["value"]) == pytest.approx(0.5)
    assert by[("fnmr", "ratio_to_lowest", "a")]["relative_to"] == "c"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# --- bad input -----------------------------------------------------------------------------

BAD = {
    "no group column": ("grp,fmr\na,0.1\nb,0.2\n", ["no 'group' column", "Did you mean 'grp'"]),
    "no rate column": ("group,size\na,1\nb,2\n", ["needs an 'fmr' and/or an 'fnmr' column"]),
    "not a number": ("group,fmr\na,0.1\nb,abc\n",
                     ["row 3, column fmr: 'abc' is not a number"]),
    "above 1": ("group,fmr,fnmr\na,0.1,0.2\nb,0.2,45\n",
                ["row 3, column fnmr: '45' is not a rate between 0 and 1",
                 "a percentage needs its sign (45%)"]),
    "negative": ("group,fmr\na,-0.1\nb,0.2\n", ["row 2, column fmr: '-0.1' is not a rate"]),
    "above 100%": ("group,fmr\na,120%\nb,0.2\n", ["row 2, column fmr: '120%' is not a rate"]),
    "not finite": ("group,fmr\na,inf\nb,0.2\n", ["row 2, column fmr: 'inf' is not a number"]),
    "duplicate group": ("attribute,group,fmr\nsex,f,0.1\nsex,m,0.2\nsex,f,0.3\n",
                        ["row 4: group 'f' appears again in attribute 'sex' (first in row 2)"]),
    "one group": ("attribute,group,fmr\nsex,f,0.1\nsex,m,0.2\nage,old,0.3\n",
                  ["only one group in attribute 'age' ('old', row 4)"]),
    "one group in all": ("group,fmr\na,0.1\n", ["only one group in the table ('a', row 2)"]),
    "duplicate at a point": ("operating_point,group,fnmr\nt1,a,0.1\nt1,b,0.2\nt2,a,0.1\n"
                             "\nt1,a,0.3\n",
                             ["row 6: group 'a' appears again in operating point 't1' (first "
                              "in row 2)"]),
    "empty group": ("group,fmr\na,0.1\n,0.2\nb,0.3\n", ["row 3, column group: empty"]),
    "no rate in a row": ("group,fmr,fnmr\na,0.1,0.2\nb,,\nc,0.1,0.2\n",
                         ["row 3: no rate for group 'b'"]),
    "errors above n": ("group,fmr,n_nonmated,fmr_errors\na,0.1,10,1\nb,0.2,10,12\n",
                       ["row 3: fmr_errors 12 exceeds n_nonmated 10"]),
    "counts disagree": ("group,fmr,n_nonmated,fmr_errors\na,0.1,10,1\nb,0.5%,100,7\n",
                        ["row 3: fmr 0.5% disagrees with fmr_errors/n_nonmated = 7/100"]),
    "bad count": ("group,fmr,n_mated,fnmr\na,0.1,ten,0.1\nb,0.2,10,0.2\n",
                  ["row 2, column n_mated: 'ten' is not a count"]),
    "ragged row": ("group,fmr\na,0.1\nb,0.2,9\n", ["row 3: 3 fields, the header has 2"]),
    "semicolons": ("group;fmr\na;0.1\nb;0.2\n", ["split by semicolons"]),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_input_is_one_message_and_exit_2(tmp_path, case):
    text, wanted = BAD[case]
    p = write(tmp_path, text)
    r = invoke(str(p))
    assert r.exit_code == 2, r.output
    assert isinstance(r.exception, SystemExit)  # handled: no traceback
    assert r.stderr.startswith(f"error: {p}"), r.stderr
    for w in wanted:
        assert w in r.stderr, r.stderr
    assert r.stdout == ""


@pytest.mark.parametrize("content,wanted", [
    (b"PK\x03\x04\x14\x00rest", "not a CSV file (it is a zip archive, such as an Excel .xlsx"),
    (b"%PDF-1.7\n...", "not a CSV file (it is a PDF document)"),
    (b"\xff\xfeg\x00r\x00", "not a CSV file"),
    (b"group,fmr\na,\xe9\n", "not UTF-8 text"),
    (b"", "empty file"),
], ids=["xlsx", "pdf", "utf16", "latin1", "empty"])
def test_a_file_that_is_not_csv_is_refused(tmp_path, content, wanted):
    p = tmp_path / "rates.csv"
    p.write_bytes(content)
    r = invoke(str(p))
    assert r.exit_code == 2 and isinstance(r.exception, SystemExit)
    assert wanted in r.stderr, r.stderr


def test_missing_file_unknown_reference_and_bad_alpha(tmp_path):
    r = invoke(str(tmp_path / "none.csv"))
    assert r.exit_code == 2 and "none.csv: rates table not found" in r.stderr
    p = write(tmp_path, TABLE)
    r = invoke(str(p), "--reference", "bb")
    assert r.exit_code == 2 and "--reference: 'bb' is not a group of" in r.stderr
    assert "Did you mean 'b'" in r.stderr
    assert invoke(str(p), "--alpha", "1.5").exit_code == 2
    r = invoke(str(p), "-o", str(tmp_path / "no" / "x.csv"))
    assert r.exit_code == 2 and "no folder" in r.stderr


def test_no_traceback_from_the_real_command(tmp_path):
    p = write(tmp_path, "group,fmr\na,0.1\nb,1.5\n")
    r = subprocess.run([sys.executable, "-m", "fairbench.cli", "summarize", str(p)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr + r.stdout
    assert r.stderr.startswith("error: ") and "row 3, column fmr: '1.5'" in r.stderr


def test_the_readme_example_is_the_commands_output(tmp_path, monkeypatch):
    import re

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Summary figures from a published table", 1)[1]  # its blocks
    table = re.search(r"```csv\n(.*?)```", section, re.S).group(1)
    shown = re.search(r"```console\n\$ fairbench summarize vendor.csv\n(.*?)```", section,
                      re.S).group(1)
    write(tmp_path, table, "vendor.csv")
    monkeypatch.chdir(tmp_path)
    r = invoke("vendor.csv")
    assert r.exit_code == 0 and r.stdout == shown


def test_an_empty_cell_is_not_published(tmp_path):
    out = summary(write(tmp_path, "group,fmr,fnmr\na,0.001,0.02\nb,0.004,\nc,0.002,0.01\n"))
    b = out["breakdowns"][0]
    m = measures(b)
    assert b["groups"][1]["fnmr"]["rate"] is None
    assert m["fnmr_max_difference"]["value"] == pytest.approx(0.01)  # a and c only
    assert m["fnmr_max_geomean"]["value"] == pytest.approx(0.02 / math.sqrt(0.02 * 0.01))
    assert m["fdr"]["value"] == pytest.approx(1 - (0.5 * 0.003 + 0.5 * 0.01))
    assert "No FNMR published for b: left out of the FNMR measures." in b["notes"]
    r = invoke(str(tmp_path / "rates.csv"))
    assert "| b | 0.4% | 4 | not published | n/a |" in r.stdout
