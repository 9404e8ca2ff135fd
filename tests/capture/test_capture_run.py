"""A 1:1 run with a ``capture:`` section writes the capture, liveness and transaction tables."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from fairbench.api import run
from fairbench.config import load_config_dict
from fairbench.report.explain import headline_figures
from tests.capture.test_capture_pipeline import _FlatIsNoFace, _liveness


def test_config_without_capture_keeps_its_hash() -> None:
    cfg = load_config_dict({"dataset": {"name": "london", "attributes": ["eth"]}})
    assert "capture" not in cfg.resolved()


def test_run_writes_capture_tables(tmp_path: Path, london16_manifest: Path, london16: Path,
                                   models_dir: Path) -> None:
    cfg = load_config_dict({
        "dataset": {"manifest": str(london16_manifest), "root": str(london16),
                    "attributes": ["eth"]},
        "matcher": {"name": "dlib"},
        "verification": {"target_fmr": [0.05], "bootstrap": {"replicates": 0}},
        "cache": {"enabled": False},
        "capture": {"conditions": ["clean", "exposure_down"],
                    "detector_model": str(models_dir / "yunet_s_640_640.onnx"),
                    "liveness": {"params": {k: str(v) if isinstance(v, Path) else v
                                            for k, v in _liveness(models_dir).items()}},
                    "transaction_k": [1, 30]},
    })
    res = run(cfg, tmp_path, progress=False, matcher=_FlatIsNoFace())
    tables = res.run_dir / "tables"
    cap = pd.read_csv(tables / "capture_by_group.csv")
    assert {"condition", "attribute", "group", "n_images", "fta", "fta_ci_low", "fta_ci_high",
            "fnmr_vs_clean", "acquisition_rule"} <= set(cap.columns)
    assert set(cap["condition"]) == {"clean", "exposure_down"}
    assert "skin_tone_group" in set(cap["attribute"])
    live = pd.read_csv(tables / "liveness_by_group.csv")
    assert set(live["validation"]) == {"UNVALIDATED"}
    tr = pd.read_csv(tables / "transaction_by_group.csv")
    assert {"p_reject", "share_liveness", "p_reject_any_of_30"} <= set(tr.columns)
    assert (res.run_dir / "capture_outcomes.csv").is_file()
    images = pd.read_csv(res.run_dir / "images.csv")
    assert images["skin_tone_label_source"].str.startswith("derived").all()
    record = json.loads((res.run_dir / "run.json").read_text())
    assert record["dataset"]["label_sources"]["skin_tone_group"].startswith("derived")
    assert "capture_by_group" in record["metrics"]
    assert any("UNVALIDATED" in n for n in record["notes"])
    from fairbench.report.explain import explain, per_group

    text = explain(res.run_dir)
    assert "balanced accuracy" in text and "skin_tone_group" in text and "UNVALIDATED" in text
    df, target = per_group(res.run_dir)
    assert target == 0.05 and {"fta", "bpcer", "fnmr", "fmr", "p_reject"} <= set(df.columns)


def test_headline_figures_by_hand() -> None:
    import pandas as pd

    row = pd.Series({"fnmr": 0.1, "fmr": 0.001, "n_mated": 100, "n_nonmated": 9900,
                     "p_reject": 0.2})
    h = headline_figures(row)
    assert h["accuracy over all comparisons = 1 - errors/comparisons"] == \
        1 - (10 + 9.9) / 10000
    assert h["balanced accuracy = 1 - (FMR + FNMR)/2"] == 1 - 0.101 / 2
    assert min(h.values()) == 0.8


def test_shipped_capture_configs_validate() -> None:
    from fairbench.config import load_config

    for name in ("london-capture.yaml", "london-capture-faceres.yaml"):
        cfg = load_config(Path(__file__).resolve().parents[2] / "configs" / name)
        assert cfg.capture is not None and cfg.capture.liveness is not None
        assert not cfg.capture.liveness.validated
        assert "backlight" in cfg.capture.conditions
