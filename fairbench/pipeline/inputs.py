"""The steps every run shares: config -> dataset -> matcher -> templates.

Both modes start here; a run records the matcher object that really ran (its own name,
version, parameters and class), never the config's default.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from fairbench import provenance
from fairbench.config import Config
from fairbench.data.load import Dataset, load_dataset, simulated_dataset
from fairbench.data.paths import cache_root
from fairbench.errors import MatcherError
from fairbench.executors import Executor, LocalExecutor
from fairbench.extraction import thread_budget
from fairbench.matchers.base import Matcher, MatcherInfo, build_matcher
from fairbench.matchers.precomputed import InMemoryMatcher
from fairbench.metrics.reference import check_configured
from fairbench.parallel import resolve_workers
from fairbench.templates import TemplateCache, Templates, extract_templates


@dataclass
class Inputs:
    """Everything a mode's pipeline starts from."""

    config: Config
    dataset: Dataset
    matcher: Matcher
    info: MatcherInfo
    templates: Templates
    created: datetime
    matcher_source: str  # "config" | "object passed to fairbench.run" | "embeddings in memory"
    timings: dict[str, float] = field(default_factory=dict)
    t0: float = 0.0
    notes: list[str] = field(default_factory=list)  # what the run must say about itself
    #: where kernels (and extraction) hand their work; the caller opens and closes it
    executor: Executor = field(default_factory=LocalExecutor)

    @property
    def similarity(self) -> str:
        return self.info.similarity


def _matcher_record(m: Matcher, info: MatcherInfo, source: str) -> dict[str, Any]:
    cls = type(m)
    return {**info.to_dict(), "fingerprint": m.fingerprint(),
            "params": m.params.model_dump(mode="json"),
            "class": f"{cls.__module__}:{cls.__qualname__}", "source": source}


def matcher_record(inp: Inputs) -> dict[str, Any]:
    """What run.json says about the matcher: taken from the object that ran."""
    return _matcher_record(inp.matcher, inp.info, inp.matcher_source)


def stage_inputs(config: Config, matcher: Matcher | None = None, progress: bool = True,
                 dataset: Dataset | None = None, source: str | None = None,
                 executor: Executor | None = None) -> Inputs:
    """Load the dataset and matcher (or take the given ones) and extract every template.

    A matcher that gives scores instead of templates (``gives_scores``) gets no templates
    here: its pipeline reads its comparisons (:mod:`fairbench.pipeline.scores`).
    ``executor`` (default: local) is where the run's kernels send their work; the caller
    closes it."""
    executor = executor or LocalExecutor()
    t0 = time.perf_counter()
    created = provenance.utc_now()
    if dataset is None and config.dataset.simulate is not None:
        dataset, sim = simulated_dataset(config.dataset)
        matcher = matcher or InMemoryMatcher(
            dataset.manifest.frame["image_id"].tolist(), sim, "cosine",
            details={"simulation": config.dataset.simulate.model_dump()})
        source = source or "simulated embeddings"
    if matcher is None:
        matcher = build_matcher(config.matcher.name, config.matcher.params)
        source = source or "config"
    with thread_budget(resolve_workers(config.matcher.workers)):  # sessions opened here
        return _load_and_extract(config, matcher, progress, dataset, source, t0, created,
                                 executor)


def _load_and_extract(config: Config, matcher: Matcher, progress: bool,
                      dataset: Dataset | None, source: str | None, t0: float,
                      created: datetime, executor: Executor) -> Inputs:
    timings: dict[str, float] = {}
    # a matcher the config names is rebuilt the same way in extraction's worker processes
    build = (config.matcher.name, dict(config.matcher.params)) if source == "config" \
        else None
    scored = gives_scores(matcher)
    if dataset is None:
        dataset = load_dataset(config.dataset, require_files=matcher.needs_images,
                               subjects=scored)
    check_configured(config.settings().reference_group, dataset.manifest.frame,
                     dataset.attributes, f"{config.mode}.reference_group")
    source = source or "object passed to fairbench.run"
    info = matcher.info()  # loads (and checks) the matcher's models
    if config.capture is not None:
        from fairbench.capture.pipeline import preflight

        preflight(config.capture)
    if config.matcher.name != info.name or source != "config":
        # the resolved config names what really ran, so its hash and run id do too
        config = config.model_copy(update={"matcher": config.matcher.model_copy(update={
            "name": info.name, "params": matcher.params.model_dump(mode="json")})})
    timings["load"] = time.perf_counter() - t0
    if scored:
        return Inputs(config, dataset, matcher, info, no_templates(0), created, source,
                      timings, t0, executor=executor)
    t1 = time.perf_counter()
    cache = None
    if config.cache.enabled and matcher.needs_images:
        cache = TemplateCache(config.cache.dir or cache_root() / "templates",
                              matcher.fingerprint(), info.embedding_size)
    tpl = extract_templates(matcher, dataset.manifest.records(), cache,
                            config.matcher.batch_size, progress,
                            config.dataset.max_image_pixels, config.matcher.workers,
                            executor, build)
    timings["templates"] = time.perf_counter() - t1
    return Inputs(config, dataset, matcher, info, tpl, created, source, timings, t0,
                  transient_notes(tpl.failure_reason, info.name), executor)


def transient_notes(reasons: list[str], matcher: str) -> list[str]:
    """A note when some outcomes are errors of the matcher's machinery (``error: ...``: a
    server's 500, a timeout, no connection), which count as failures to acquire; an error
    when every one is (nothing was measured: a wrong URL, a server down)."""
    errors = [r for r in reasons if r.startswith("error:")]
    if not errors:
        return []
    if len(errors) == len(reasons):
        raise MatcherError(f"matcher {matcher!r} failed on every image ({len(errors):,}); "
                           f"nothing was measured. First failure: {errors[0]}")
    common = Counter(errors).most_common(3)
    return [f"{len(errors):,} of {len(reasons):,} images failed in the matcher itself "
            f"({'; '.join(f'{n:,} x {r}' for r, n in common)}); they count as failures to "
            "acquire. A rerun retries them (answers that succeeded are cached)"]


def gives_scores(matcher: Matcher) -> bool:
    """Whether a matcher hands over scored comparisons rather than templates."""
    return bool(getattr(matcher, "gives_scores", False))


def no_templates(n: int) -> Templates:
    """Placeholder templates for ``n`` samples of a comparison list: nothing was acquired
    here, so nothing failed to be (the record says acquisition was not measured)."""
    return Templates(np.zeros((n, 0), np.float32), np.ones(n, dtype=bool), [""] * n,
                     np.full(n, np.nan), np.full(n, -1, dtype=np.int64))


def images_frame(inp: Inputs) -> Any:
    """images.csv: the manifest's columns, then each image's capture outcome."""
    tpl = inp.templates
    f = inp.dataset.manifest.frame.copy()
    outcome = {"acquired": tpl.acquired, "failure_reason": tpl.failure_reason,
               "detector_score": tpl.detector_score,
               "n_faces": np.where(tpl.n_faces >= 0, tpl.n_faces, np.nan)}
    first = ["image_id", "subject_id"]
    rest = [c for c in f.columns if c not in (*first, "path")]
    f = f[[*first, *rest, "path"]]
    for k, v in outcome.items():
        f[k] = v
    return f
