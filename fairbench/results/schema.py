"""run.json: one pydantic model and one JSON Schema file per schema version.

The JSON Schema files in ``results/schemas/`` (``run-1.0.json``, ``run-2.0.json``) are the
published contract for anyone reading run.json without fairbench; they are generated from
these models (:func:`write_schema_files`; the tests do it with FAIRBENCH_UPDATE_GOLDEN=1)
and a test keeps them equal. A record
is validated on write and on read; an older version is validated against its own schema,
then upgraded step by step to the current one.

2.0 (this version) differs from 1.0: ``thresholds`` became ``operating_points`` (one type
for 1:1 and 1:N, with a ``target`` and a ``label``), the chosen reference group of every
breakdown is recorded under ``references``, and every metric row names its operating point.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fairbench.core.operating import OperatingPoint, point_of_row

SCHEMA_VERSION = "2.0"
SCHEMA_DIR = Path(__file__).parent / "schemas"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetRecord(_Model):
    name: str
    source: str
    manifest_sha256: str
    card: dict[str, Any] | None
    card_sha256: str | None
    n_images: int
    n_subjects: int
    attributes: list[str]
    label_sources: dict[str, str]
    simulated: bool = False
    consent_status: str = "unknown"  # consented | none | unknown (the card's)
    consent_warning: str = ""  # set when collected without consent; every table repeats it


class CaptureRecord(_Model):
    n_images: int
    n_acquired: int
    failure_reasons: dict[str, int]
    cache_hits: int
    computed: int
    stage: dict[str, Any] | None = None  # capture stress / liveness / transaction summary
    #: how templates were extracted: mode, worker processes, threads per worker, ...
    extraction: dict[str, Any] | None = None
    measured: bool = True  # False: comparisons were given (score files), not acquired here


class ExecutorRecord(BaseModel):
    """Where the work ran (``executor:``; not in the config hash, so recorded here).

    Every executor gives ``name``, ``cpus`` (the CPUs the run could use at once) and
    ``nodes_used``; a cluster executor adds its own keys (Ray: ``address``,
    ``ray_version``, ``cluster_nodes``, ``cluster_cpus``, ``tasks``, ``workers_used``)."""

    model_config = ConfigDict(extra="allow")
    name: str
    cpus: int
    nodes_used: int


class ProvenanceRecord(BaseModel):
    """Versions, git state, machine; open to more keys (only ``executor`` is typed)."""

    model_config = ConfigDict(extra="allow")
    executor: ExecutorRecord | None = None  # absent in runs before the executor seam


class _Common(_Model):
    run_id: str
    mode: str
    created_utc: str
    simulated: bool = False
    provenance: ProvenanceRecord
    config: dict[str, Any]
    config_hash: str
    dataset: DatasetRecord
    matcher: dict[str, Any]
    capture: CaptureRecord
    comparisons: dict[str, int]
    metrics: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    timings_s: dict[str, float] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)


class RunRecord10(_Common):
    """run.json as fairbench 0.1 wrote it (schema 1.0)."""

    schema_version: str = "1.0"
    thresholds: list[dict[str, Any]]


class ReferenceRecord(_Model):
    group: str
    rule: str


class RunRecord(_Common):
    """Top level of run.json (schema 2.0)."""

    schema_version: str = SCHEMA_VERSION
    operating_points: list[dict[str, Any]]
    references: dict[str, ReferenceRecord] = Field(default_factory=dict)
    sweeps: list[dict[str, Any]] = Field(default_factory=list)  # 1:N gallery subsets


MODELS: dict[str, type[_Model]] = {"1.0": RunRecord10, SCHEMA_VERSION: RunRecord}


def _upgrade_10(data: dict[str, Any]) -> dict[str, Any]:
    """1.0 -> 2.0: operating points with labels, per-row labels, recorded references."""
    out = dict(data)
    points = [OperatingPoint.from_dict(t) for t in out.pop("thresholds")]
    out["operating_points"] = [p.to_dict() for p in points]
    metrics = {}
    refs: dict[str, dict[str, str]] = {}
    for name, rows in (out.get("metrics") or {}).items():
        new = []
        for r in rows:
            r = dict(r)
            if "threshold_kind" in r and "operating_point" not in r:
                r["operating_point"] = point_of_row(r).label
            ref = r.get("reference_group")
            if isinstance(ref, str) and ref and r.get("attribute") not in (*refs, "all"):
                refs[r["attribute"]] = {
                    "group": ref,
                    "rule": "schema 1.0 rule: the group with the lowest FMR at each "
                            "operating point (first one shown)"}
            new.append(r)
        metrics[name] = new
    out["metrics"] = metrics
    out["references"] = refs
    out["schema_version"] = SCHEMA_VERSION
    return out


UPGRADES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {"1.0": _upgrade_10}


def validate(data: dict[str, Any]) -> RunRecord:
    """Validate against the record's own schema version, then upgrade to the current one.

    Raises ValueError naming the version and every problem.
    """
    v = str(data.get("schema_version", ""))
    if v not in MODELS:
        raise ValueError(f"unknown run.json schema_version {v!r} (this fairbench reads "
                         f"{', '.join(MODELS)})")
    while True:
        try:
            MODELS[v].model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                                 for e in exc.errors()[:10])
            raise ValueError(f"does not match schema {v}: {problems}") from None
        if v == SCHEMA_VERSION:
            return RunRecord.model_validate(data)
        data = UPGRADES[v](data)
        v = str(data["schema_version"])


def json_schema(version: str) -> dict[str, Any]:
    """The JSON Schema of one version, as generated from its model."""
    schema = MODELS[version].model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://fairbench.invalid/schemas/run-{version}.json"
    return schema


def schema_file(version: str) -> Path:
    return SCHEMA_DIR / f"run-{version}.json"


def write_schema_files() -> list[Path]:
    """Regenerate ``schemas/run-<version>.json`` from the models."""
    out = []
    for v in MODELS:
        p = schema_file(v)
        p.write_text(json.dumps(json_schema(v), indent=1, sort_keys=True) + "\n",
                     encoding="utf-8")
        out.append(p)
    return out
