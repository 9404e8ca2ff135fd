"""The public Python API: ``run``, ``load``, ``evaluate``, ``compare``, ``check_claims``.

A thin layer over the pipelines; the heavy modules (kernels, models) are imported only when
a function needs them, so ``import fairbench`` and :func:`load` stay light (no numba).

>>> import fairbench                                    # doctest: +SKIP
>>> run = fairbench.run("configs/london-dlib.yaml")     # doctest: +SKIP
>>> run.frame("fmr", "eth", at="fmr=1e-2").ratio()      # doctest: +SKIP
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fairbench.config import Config, apply_override, load_config, load_config_dict
from fairbench.errors import ConfigError, DataError
from fairbench.results.run import Run

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from fairbench.executors import Executor
    from fairbench.matchers.base import Matcher
    from fairbench.pipeline.parts import RunParts
    from fairbench.report.claims import ClaimResult
    from fairbench.report.compare import Comparison


def as_config(config: str | Path | Mapping[str, Any] | Config,
              overrides: Sequence[str] = ()) -> Config:
    """A validated :class:`Config` from a YAML path, a mapping or a Config (plus overrides)."""
    if isinstance(config, Config):
        if not overrides:
            return config
        data = config.model_dump(mode="json", exclude_none=True)
        return load_config_dict(data, source="<Config>", overrides=list(overrides))
    if isinstance(config, Mapping):
        return load_config_dict(copy.deepcopy(dict(config)), source="<mapping>",
                                overrides=list(overrides))
    if isinstance(config, (str, Path)):
        return load_config(config, list(overrides))
    raise ConfigError(f"config must be a path, a mapping or a Config, not "
                      f"{type(config).__name__}")


def _finish(parts: RunParts, output_dir: str | Path | None, t0: float) -> Run:
    import time

    if output_dir is None:
        parts.record["timings_s"]["total"] = time.perf_counter() - t0
        return Run(parts.record, parts.tables, None, parts.replicates, parts.arrays)
    from fairbench.pipeline.seal import seal

    folder = seal(parts, output_dir, t0)
    return Run(parts.record, parts.tables, folder, parts.replicates, parts.arrays)


def _compute(cfg: Config, progress: bool, **inputs: Any) -> tuple[RunParts, float]:
    from fairbench.executors import open_executor
    from fairbench.pipeline.devices import check_devices

    check_devices(cfg)  # a GPU asked for and missing: exit 2 before any work
    with open_executor(cfg.executor) as executor:  # a cluster it started stops here
        return _compute_with(cfg, progress, executor, **inputs)


def _compute_with(cfg: Config, progress: bool, executor: Executor, **inputs: Any
                  ) -> tuple[RunParts, float]:
    from fairbench.pipeline.inputs import gives_scores, stage_inputs

    inp = stage_inputs(cfg, progress=progress, executor=executor, **inputs)
    if gives_scores(inp.matcher):
        from fairbench.matchers.scores import ScoresMatcher

        if not isinstance(inp.matcher, ScoresMatcher):  # a matcher that compares pairs
            if inp.config.mode == "identification":
                raise ConfigError(f"matcher {inp.info.name!r} compares two images at a "
                                  "time; 1:N searches need templates or candidate lists")
            from fairbench.pipeline.compared import compared_verification as pipeline
        elif inp.config.mode == "identification":
            from fairbench.pipeline.candidates import candidate_identification as pipeline
        else:
            from fairbench.pipeline.scores import scored_verification as pipeline
    elif inp.config.mode == "identification":
        from fairbench.pipeline.identification import identification as pipeline
    elif inp.dataset.pairs is not None:  # the dataset's own protocol (official_pairs)
        from fairbench.pipeline.pairs import pair_verification as pipeline
    else:
        from fairbench.pipeline.verification import verification as pipeline
    return pipeline(inp, progress), inp.t0


def run(config: str | Path | Mapping[str, Any] | Config, output_dir: str | Path = "results",
        overrides: Sequence[str] = (), progress: bool = True, matcher: Matcher | None = None
        ) -> Run:
    """Run a benchmark (1:1 or 1:N, by the config's mode) and write ``output_dir/<run-id>/``.

    ``overrides`` are ``key.path=value`` strings as for ``--set``; ``matcher`` replaces the
    config's matcher with an object (run.json then records that object, not the config).
    """
    cfg = as_config(config, overrides)
    from fairbench.results.folder import check_writable

    check_writable(Path(output_dir))
    parts, t0 = _compute(cfg, progress, matcher=matcher)
    return _finish(parts, output_dir, t0)


def load(run_dir: str | Path) -> Run:
    """Read a stored run folder (1:1 or 1:N, any supported schema version)."""
    return Run.load(run_dir)


def evaluate(
    embeddings: np.ndarray, frame: pd.DataFrame, *, similarity: str = "cosine",
    attributes: Sequence[str] | None = None,
    target_fmr: Sequence[float] = (1e-2, 1e-3, 1e-4), fixed_thresholds: Sequence[float] = (),
    output_dir: str | Path | None = None, bootstrap: int = 1000, seed: int = 0,
    reference_group: Mapping[str, str] | None = None, age_bands: Sequence[float] | None = None,
) -> Run:
    """1:1 evaluation of your own ``(N, d)`` embeddings, in memory.

    ``frame`` has one row per embedding with ``image_id``, ``subject_id`` and attribute
    columns (default: every other column but ``path``); a row of NaN is a failed template.
    A folder is written only when ``output_dir`` is given.
    """
    import numpy as np

    from fairbench.data.load import Dataset, derive_attributes
    from fairbench.data.manifest import Manifest
    from fairbench.matchers.precomputed import InMemoryMatcher

    emb = np.asarray(embeddings)
    df = frame.reset_index(drop=True).copy()
    problems = [f"frame lacks column {c!r}" for c in ("image_id", "subject_id")
                if c not in df.columns]
    if emb.ndim != 2 or emb.shape[0] != len(df) or emb.shape[1] == 0:
        problems.append(f"embeddings have shape {emb.shape}; expected ({len(df)}, d), one row "
                        "per frame row, d >= 1")
    if emb.dtype.kind not in "fiu":
        problems.append(f"embeddings are not real numbers (dtype {emb.dtype})")
    if len(df) == 0:
        problems.append("the frame has no rows")
    if problems:
        raise DataError("fairbench.evaluate: bad input", problems)
    for c in ("image_id", "subject_id"):
        df[c] = df[c].astype(str)
    if df["image_id"].duplicated().any():
        dup = df.loc[df["image_id"].duplicated(), "image_id"].tolist()[:5]
        raise DataError(f"fairbench.evaluate: duplicate image_id {dup}")
    attrs = list(attributes) if attributes is not None else [
        c for c in df.columns if c not in ("image_id", "subject_id", "path")]
    if "path" not in df.columns:
        df["path"] = ""
    cfg = load_config_dict({
        "dataset": {"manifest": "<in-memory DataFrame>", "attributes": attrs,
                    **({"age_bands": list(age_bands)} if age_bands is not None else {})},
        "matcher": {"name": "in-memory"},
        "verification": {"target_fmr": list(target_fmr),
                         "fixed_thresholds": list(fixed_thresholds),
                         "reference_group": dict(reference_group or {}),
                         "bootstrap": {"replicates": bootstrap, "seed": seed}},
        "cache": {"enabled": False}}, source="fairbench.evaluate")
    if output_dir is not None:
        from fairbench.results.folder import check_writable

        check_writable(Path(output_dir))
    missing = [a for a in attrs if a not in df.columns and a != "age_band"]
    if missing:
        raise DataError(f"fairbench.evaluate: frame lacks attribute column(s) {missing}")
    sources, banded = derive_attributes(df, attrs, cfg.dataset.age_bands, None)
    ds = Dataset("in-memory", Manifest(df, None, "in-memory DataFrame"), None, attrs,
                 sources, banded)
    m = InMemoryMatcher(df["image_id"].tolist(), emb, similarity, label="in-memory")  # type: ignore[arg-type]
    parts, t0 = _compute(cfg, False, matcher=m, dataset=ds, source="embeddings in memory")
    return _finish(parts, output_dir, t0)


def _as_run(run: Run | str | Path) -> Run:
    return run if isinstance(run, Run) else load(run)


def compare(run_a: Run | str | Path, run_b: Run | str | Path) -> Comparison:
    """Two 1:1 runs on the same data: each group's FMR and FNMR side by side and the change
    B - A with a paired subject-bootstrap interval."""
    from fairbench.report.compare import compare_runs

    return compare_runs(_as_run(run_a), _as_run(run_b))


def check_claims(run: Run | str | Path, claims: str | Path | Mapping[str, Any]
                 ) -> list[ClaimResult]:
    """Check a claims file (path or mapping) against a run: each claim supported, refuted or
    not testable, with its evidence."""
    from fairbench.report.claim_schema import as_claims
    from fairbench.report.claims import check_claims as check

    return check(_as_run(run).record, as_claims(claims))


__all__ = ["apply_override", "as_config", "check_claims", "compare", "evaluate", "load", "run"]
