"""Stored run.json files keep loading: the schema-1.0 fixture, and a 1.0 file written before
non-finite numbers became null (it holds NaN literals)."""

from __future__ import annotations

import json
import shutil

import pytest

from fairbench.errors import FairbenchError
from fairbench.results import read_run
from fairbench.schema import SCHEMA_VERSION
from tests.report.conftest import STORED_RUN


def test_stored_1_0_run_loads():
    rec = read_run(STORED_RUN)
    assert rec.schema_version == "1.0"
    assert rec.dataset.card and rec.dataset.card["licence"] == "CC BY 4.0"
    assert len(rec.metrics["verification_by_group"]) == 48


def test_1_0_with_nan_literals_still_loads(tmp_path):
    """Before commit c296592, run.json held NaN tokens (json.dump's default)."""
    data = json.loads((STORED_RUN / "run.json").read_text())
    text = json.dumps(data, allow_nan=True).replace("null", "NaN")
    run = tmp_path / "old"
    run.mkdir()
    shutil.copy(STORED_RUN / "counts.npz", run)
    (run / "run.json").write_text(text.replace('"card": NaN', '"card": null')
                                  .replace('"card_sha256": NaN', '"card_sha256": null'))
    rec = read_run(run)
    assert rec.run_id == data["run_id"]


def test_unknown_schema_version_is_a_clear_error(tmp_path):
    data = json.loads((STORED_RUN / "run.json").read_text())
    data["schema_version"] = "9.9"
    (tmp_path / "run.json").write_text(json.dumps(data))
    with pytest.raises(FairbenchError, match="schema_version '9.9'"):
        read_run(tmp_path)


def test_current_schema_is_still_1_0():
    """No report field needed a new run.json field; bump this test with SCHEMA_VERSION and
    keep the 1.0 fixture as the old version."""
    assert SCHEMA_VERSION == "1.0"


def test_report_from_a_folder_with_only_run_json_and_counts(built_report):
    names = {p.name for p in built_report.iterdir()}
    assert {"run.json", "counts.npz", "report.html", "citations.md", "tables",
            "plots"} <= names
    assert "images.csv" not in names and "config.yaml" not in names
    plots = {p.name for p in (built_report / "plots").iterdir()}
    for kind in ("det", "heatmap", "scores", "ratio"):
        for attr in ("eth", "sex", "age_band"):
            assert {f"{kind}_{attr}.svg", f"{kind}_{attr}.png"} <= plots
    html = (built_report / "report.html").read_text()
    assert 'src="http' not in html and 'href="http' not in html and "@import" not in html
