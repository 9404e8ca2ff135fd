"""Stored run.json files keep loading: the schema-1.0 fixture (upgraded to 2.0 on read), and
a 1.0 file written before non-finite numbers became null (it holds NaN literals); the
JSON Schema files shipped for each version equal the models."""

from __future__ import annotations

import json
import shutil

import pytest

import fairbench
from fairbench.errors import FairbenchError
from fairbench.results.run import read_record
from fairbench.results.schema import (
    MODELS,
    SCHEMA_VERSION,
    json_schema,
    schema_file,
    validate,
    write_schema_files,
)
from tests.report.conftest import STORED_RUN


def read_run(d):
    return validate(read_record(d))


def test_stored_1_0_run_loads_through_the_upgrader():
    raw = json.loads((STORED_RUN / "run.json").read_text())
    assert raw["schema_version"] == "1.0" and "thresholds" in raw
    rec = read_run(STORED_RUN)
    assert rec.schema_version == SCHEMA_VERSION == "2.0"
    assert rec.dataset.card and rec.dataset.card["licence"] == "CC BY 4.0"
    assert len(rec.metrics["verification_by_group"]) == 48
    assert [p["label"] for p in rec.operating_points][:3] == ["fmr=0.01", "fmr=1e-3", "fmr=1e-4"]
    assert all("operating_point" in r for r in rec.metrics["verification_by_group"])
    assert rec.references["eth"].group  # recorded from the rows, with the 1.0 rule named
    run = fairbench.load(STORED_RUN)
    f = run.frame("fmr", "eth", at="fmr=1e-2")
    assert f.by_group.loc["black", "errors"] == 104 and f.by_group.loc["black", "n"] == 312


def test_shipped_json_schemas_equal_the_models():
    import os

    if os.environ.get("FAIRBENCH_UPDATE_GOLDEN") == "1":
        write_schema_files()
    for v in MODELS:
        assert json.loads(schema_file(v).read_text()) == json_schema(v), v


def test_a_record_breaking_its_schema_names_the_problem(tmp_path):
    data = json.loads((STORED_RUN / "run.json").read_text())
    data["dataset"]["n_images"] = "many"
    (tmp_path / "run.json").write_text(json.dumps(data))
    with pytest.raises(FairbenchError, match="schema 1.0: dataset.n_images"):
        read_record(tmp_path)


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


def test_current_schema_is_2_0_and_1_0_stays_readable():
    """Bump this test with SCHEMA_VERSION; keep every older fixture as a reader test."""
    assert SCHEMA_VERSION == "2.0" and set(MODELS) == {"1.0", "2.0"}


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
