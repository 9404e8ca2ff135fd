"""The run.json schema: versioned, validated on write and on read.

Older result files must keep loading: each schema version has a reader that upgrades it
to the current model (see ``upgrade``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1.0"


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


class CaptureRecord(_Model):
    n_images: int
    n_acquired: int
    failure_reasons: dict[str, int]
    cache_hits: int
    computed: int
    stage: dict[str, Any] | None = None  # capture stress / liveness / transaction summary


class RunRecord(_Model):
    """Top level of run.json."""

    schema_version: str = SCHEMA_VERSION
    run_id: str
    mode: str
    created_utc: str
    simulated: bool = False
    provenance: dict[str, Any]
    config: dict[str, Any]
    config_hash: str
    dataset: DatasetRecord
    matcher: dict[str, Any]
    capture: CaptureRecord
    comparisons: dict[str, int]
    thresholds: list[dict[str, Any]]
    metrics: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    timings_s: dict[str, float] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """Bring an older run.json up to the current schema (identity for 1.0)."""
    v = str(data.get("schema_version", ""))
    if v == SCHEMA_VERSION:
        return data
    raise ValueError(f"unknown run.json schema_version {v!r}")


def validate(data: dict[str, Any]) -> RunRecord:
    return RunRecord.model_validate(upgrade(data))
