"""What a mode's pipeline hands to the seal: the record, the tables and the files."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fairbench import provenance
from fairbench.core.operating import OperatingPoint
from fairbench.pipeline.inputs import Inputs, matcher_record
from fairbench.results.schema import SCHEMA_VERSION


@dataclass
class RunParts:
    """A finished computation, before anything is written.

    ``files`` maps a file name inside the run folder to a function that writes it there.
    """

    record: dict[str, Any]
    tables: dict[str, pd.DataFrame]
    replicates: dict[str, np.ndarray] = field(default_factory=dict)
    files: dict[str, Callable[[Path], None]] = field(default_factory=dict)
    arrays: Any = None  # the stored arrays, kept for in-memory runs (compare)

    @property
    def run_id(self) -> str:
        return str(self.record["run_id"])


def run_id(created: str, matcher: str, dataset: str, cfg_hash: str, suffix: str = "") -> str:
    """UTC time + matcher + dataset + config hash prefix, safe as a folder name."""
    def clean(s: str) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "-", s).strip("-") or "x"

    return f"{created}-{clean(matcher)}-{clean(dataset)}-{cfg_hash[:8]}{suffix}"


def references(by_group: pd.DataFrame) -> dict[str, dict[str, str]]:
    """The reference group and the rule that chose it, per breakdown."""
    out = {}
    if "reference_group" not in by_group:
        return out
    for attr, part in by_group.groupby("attribute", sort=False):
        if attr != "all":
            r = part.iloc[0]
            out[str(attr)] = {"group": str(r["reference_group"] or ""),
                              "rule": str(r["reference_rule"] or "")}
    return out


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """A table as JSON-able rows (NaN as None, numpy scalars as Python ones)."""
    out = df.astype(object).where(df.notna(), None).to_dict(orient="records")
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in out]


def base_record(inp: Inputs, mode: str, suffix: str, comparisons: dict[str, int],
                points: list[OperatingPoint], by_group: pd.DataFrame,
                metrics: dict[str, pd.DataFrame], notes: list[str] | None = None
                ) -> dict[str, Any]:
    """The run.json every mode writes (timings are completed by the seal)."""
    config, ds, tpl = inp.config, inp.dataset, inp.templates
    cfg_hash = config.hash()
    stamp = inp.created.strftime("%Y%m%dT%H%M%SZ")
    card = ds.card.model_dump(mode="json") if ds.card else None
    card_sha = hashlib.sha256(ds.card_file.read_bytes()).hexdigest() if ds.card_file else None
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id(stamp, inp.info.name, ds.name, cfg_hash, suffix),
        "mode": mode,
        "created_utc": inp.created.isoformat(),
        "simulated": config.dataset.simulate is not None,
        "provenance": {**provenance.collect(), "executor": inp.executor.record()},
        "config": config.resolved(),
        "config_hash": cfg_hash,
        "dataset": {
            "name": ds.name, "source": ds.manifest.source,
            "manifest_sha256": ds.manifest.sha256(), "card": card, "card_sha256": card_sha,
            "n_images": len(ds.manifest), "n_subjects": int(
                ds.manifest.frame["subject_id"].nunique()),
            "attributes": ds.attributes, "label_sources": ds.label_sources,
            "simulated": config.dataset.simulate is not None,
            "consent_status": ds.card.consent_status if ds.card else "unknown",
            "consent_warning": ds.consent_warning,
        },
        "matcher": matcher_record(inp),
        "capture": {
            "n_images": len(tpl), "n_acquired": int(tpl.acquired.sum()),
            "failure_reasons": dict(Counter(r for r in tpl.failure_reason if r)),
            "cache_hits": tpl.cache_hits, "computed": tpl.computed,
            **({"extraction": tpl.execution} if tpl.execution else {}),
        },
        "comparisons": comparisons,
        "operating_points": [p.to_dict() for p in points],
        "references": references(by_group),
        "metrics": {k: records(v) for k, v in metrics.items()},
        "timings_s": dict(inp.timings),
        "notes": [*([f"WARNING: this dataset was {ds.consent_warning}"]
                    if ds.consent_warning else []),
                  *(ds.card.limits if ds.card else []), *ds.notes, *inp.notes,
                  *([inp.info.details["provider_note"]]  # a provider ONNX Runtime skipped
                    if inp.info.details.get("provider_note") else []),
                  *(notes or [])],
    }
