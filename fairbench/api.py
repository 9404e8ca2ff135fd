"""``run(config) -> RunResult``: the one orchestration path behind ``fairbench run``.

load config -> dataset (validated, hashed) -> matcher (weights hashed) -> templates
(cached, resumable) -> comparison plan -> streamed counts -> thresholds and metrics ->
a complete results folder, renamed into place only when everything is written.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from fairbench import provenance
from fairbench.config import Config
from fairbench.counts import count_verification
from fairbench.data.card import card_path
from fairbench.data.load import Dataset, load_dataset, simulated_dataset
from fairbench.data.paths import cache_root
from fairbench.matchers.base import Matcher, build_matcher, from_native, to_native
from fairbench.matchers.precomputed import InMemoryMatcher
from fairbench.metrics.thresholds import Threshold, operating_points
from fairbench.metrics.verification import VerificationTables, tables_from_counts
from fairbench.plan import make_plan
from fairbench.report.rebuild import header
from fairbench.report.tables import write_verification_tables
from fairbench.results import StagingDir, save_counts, write_json
from fairbench.schema import SCHEMA_VERSION, validate
from fairbench.templates import TemplateCache, Templates, extract_templates


@dataclass
class RunResult:
    run_dir: Path
    record: dict[str, Any]
    tables: VerificationTables


def run_id(created: str, matcher: str, dataset: str, cfg_hash: str) -> str:
    """UTC time + matcher + dataset + config hash prefix, safe as a folder name."""
    def clean(s: str) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "-", s).strip("-") or "x"

    return f"{created}-{clean(matcher)}-{clean(dataset)}-{cfg_hash[:8]}"


def _images_frame(ds: Dataset, tpl: Templates) -> Any:
    f = ds.manifest.frame.copy()
    f["acquired"] = tpl.acquired
    f["failure_reason"] = tpl.failure_reason
    f["detector_score"] = tpl.detector_score
    f["n_faces"] = np.where(tpl.n_faces >= 0, tpl.n_faces, np.nan)
    cols = ["image_id", "subject_id", *[c for c in f.columns if c not in
            ("image_id", "subject_id", "path", "acquired", "failure_reason", "detector_score",
             "n_faces")], "path", "acquired", "failure_reason", "detector_score", "n_faces"]
    return f[cols]


def run(
    config: Config,
    output_dir: str | Path = "results",
    progress: bool = True,
    matcher: Matcher | None = None,
) -> RunResult:
    """Run a 1:1 verification benchmark and write ``output_dir/<run-id>/``."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    created = provenance.utc_now()
    simulated = config.dataset.simulate is not None
    if simulated:
        ds, sim_emb = simulated_dataset(config.dataset)
        m = matcher or InMemoryMatcher(ds.manifest.frame["image_id"].tolist(), sim_emb, "cosine",
                                       details={"simulation": config.dataset.simulate.model_dump()})
    else:
        m = matcher or build_matcher(config.matcher.name, config.matcher.params)
        ds = load_dataset(config.dataset, require_files=m.needs_images)
    info = m.info()
    timings["load"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    cache = None
    if config.cache.enabled and m.needs_images:
        cache = TemplateCache(config.cache.dir or cache_root() / "templates", m.fingerprint())
    records = ds.manifest.records()
    tpl = extract_templates(m, records, cache, config.matcher.batch_size, progress)
    timings["templates"] = time.perf_counter() - t1
    if config.mode == "identification":
        return _run_1n(config, output_dir, created, ds, m, info, tpl, timings, t0)

    t2 = time.perf_counter()
    vc = config.verification
    plan = make_plan(ds.manifest.frame, ds.attributes)
    fixed_sim = [float(np.float32(from_native(v, info.similarity))) for v in vc.fixed_thresholds]
    counts = count_verification(tpl.embeddings, info.similarity, plan, fixed_sim, vc.target_fmr,
                                vc.histogram_bins, vc.block_size, vc.storage)
    timings["scoring"] = time.perf_counter() - t2

    t3 = time.perf_counter()
    kind = info.similarity
    thresholds = operating_points(counts, vc.target_fmr, vc.fixed_thresholds,
                                  lambda s: to_native(s, kind), lambda v: from_native(v, kind))
    resolved = config.resolved()
    tables = tables_from_counts(plan, counts, tpl.acquired, thresholds, resolved,
                                ds.label_sources)
    timings["metrics"] = time.perf_counter() - t3
    cap = None
    if config.capture is not None:  # capture stress, liveness, transactions
        from fairbench.capture.pipeline import capture_stage
        t4 = time.perf_counter()
        cap, _ = capture_stage(config, ds, m, tpl, thresholds, kind, progress)
        ds.label_sources.update(cap.label_sources)
        timings["capture"] = time.perf_counter() - t4

    cfg_hash = config.hash()
    stamp = created.strftime("%Y%m%dT%H%M%SZ")
    rid = run_id(stamp, info.name, ds.name, cfg_hash)
    record = _record(rid, created.isoformat(), config, cfg_hash, ds, info.to_dict(), m,
                     tpl, plan, counts, thresholds, tables, timings)
    if cap is not None:
        from fairbench.report.capture import add_to_record
        add_to_record(record, cap)
    validate(record)

    stage = StagingDir(Path(output_dir) / rid)
    try:
        images = _images_frame(ds, tpl)
        if cap is not None:
            from fairbench.report.capture import with_skin_tone, write_capture_tables
            images = with_skin_tone(images, cap)
            write_capture_tables(stage.path / "tables", cap)
        images.to_csv(stage.path / "images.csv", index=False)
        save_counts(stage.path / "counts.npz", plan, counts, tpl.acquired,
                    ds.manifest.frame["image_id"].tolist())
        (stage.path / "config.yaml").write_text(
            yaml.safe_dump(resolved, sort_keys=False), encoding="utf-8")
        write_verification_tables(stage.path / "tables", tables, header(record))
        final = _seal(stage, record, timings, t0)
    except BaseException:
        stage.abort()
        raise
    return RunResult(final, record, tables)


def _run_1n(config: Config, output_dir: str | Path, created: Any, ds: Dataset, m: Matcher,
            info: Any, tpl: Templates, timings: dict[str, float], t0: float) -> RunResult:
    """The 1:N branch of :func:`run`: its own tables, plan file and record."""
    from fairbench.identify import run_identification
    from fairbench.report.identification import write_identification_tables
    from fairbench.search_plan import MATED, NONMATED

    t2 = time.perf_counter()
    res = run_identification(config, ds.manifest.frame, ds.attributes, tpl.embeddings,
                             info.similarity, ds.label_sources)
    timings["search_and_metrics"] = time.perf_counter() - t2
    cfg_hash = config.hash()
    rid = run_id(created.strftime("%Y%m%dT%H%M%SZ"), info.name, ds.name, cfg_hash) + "-1n"
    sp = res.search_plan
    record = _record(rid, created.isoformat(), config, cfg_hash, ds, info.to_dict(), m, tpl,
                     res.plan, None, [], None, timings)
    record["mode"] = "identification"
    record["comparisons"] = {
        "gallery_subjects": res.gallery_size, "gallery_images": int((sp.role == "gallery").sum()),
        "mated_searches": int((sp.role == MATED).sum()),
        "nonmated_searches": int((sp.role == NONMATED).sum()),
    }
    record["thresholds"] = [t.to_dict() for t in res.thresholds]
    record["metrics"] = {"identification_by_group": _records(res.by_group)}
    validate(record)
    stage = StagingDir(Path(output_dir) / rid)
    try:
        _images_frame(ds, tpl).to_csv(stage.path / "images.csv", index=False)
        sp.frame(ds.manifest.frame["image_id"].tolist()).to_csv(
            stage.path / "search_plan.csv", index=False)
        o = res.outcomes
        np.savez_compressed(stage.path / "search.npz", probe=o.probe, mated=o.mated,
                            mate_rank=o.mate_rank, mate_score=o.mate_score,
                            nonmate_score=o.nonmate_score, nonmate_subject=o.nonmate_subject)
        (stage.path / "config.yaml").write_text(
            yaml.safe_dump(config.resolved(), sort_keys=False), encoding="utf-8")
        write_identification_tables(stage.path / "tables", res.by_group, res.false_candidates,
                                    res.sweeps, header(record))
        final = _seal(stage, record, timings, t0)
    except BaseException:
        stage.abort()
        raise
    return RunResult(final, record, None)  # type: ignore[arg-type]


def _seal(stage: StagingDir, record: dict[str, Any], timings: dict[str, float],
          t0: float) -> Path:
    """Write run.json last (with the total time) and rename the folder into place."""
    timings["total"] = time.perf_counter() - t0
    record["timings_s"] = timings
    write_json(stage.path / "run.json", record)
    return stage.commit()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _record(
    rid: str, created: str, config: Config, cfg_hash: str, ds: Dataset, info: dict[str, Any],
    m: Matcher, tpl: Templates, plan: Any, counts: Any, thresholds: list[Threshold],
    tables: VerificationTables | None, timings: dict[str, float],
) -> dict[str, Any]:
    card = ds.card.model_dump(mode="json") if ds.card else None
    card_sha = _sha(card_path(ds.card.name)) if ds.card else None
    reasons = Counter(r for r in tpl.failure_reason if r)
    notes = list(ds.card.limits) if ds.card else []
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": rid,
        "mode": "verification",
        "created_utc": created,
        "simulated": config.dataset.simulate is not None,
        "provenance": provenance.collect(),
        "config": config.resolved(),
        "config_hash": cfg_hash,
        "dataset": {
            "name": ds.name, "source": ds.manifest.source,
            "manifest_sha256": ds.manifest.sha256(), "card": card, "card_sha256": card_sha,
            "n_images": len(ds.manifest), "n_subjects": len(plan.subjects),
            "attributes": ds.attributes, "label_sources": ds.label_sources,
            "simulated": config.dataset.simulate is not None,
        },
        "matcher": {**info, "fingerprint": m.fingerprint(),
                    "params": m.params.model_dump(mode="json")},
        "capture": {
            "n_images": len(tpl), "n_acquired": int(tpl.acquired.sum()),
            "failure_reasons": dict(reasons), "cache_hits": tpl.cache_hits,
            "computed": tpl.computed,
        },
        "comparisons": {} if counts is None else {
            "mated": plan.n_mated, "nonmated": plan.n_nonmated,
            "kept_impostor_pairs": len(counts.kept_s)},
        "thresholds": [t.to_dict() for t in thresholds],
        "metrics": {} if tables is None else {
            "verification_by_group": _records(tables.by_group),
            "verification_summary": _records(tables.summary),
        },
        "timings_s": timings,
        "notes": notes,
    }


def _records(df: Any) -> list[dict[str, Any]]:
    out = df.astype(object).where(df.notna(), None).to_dict(orient="records")
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in out]
