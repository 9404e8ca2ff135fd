"""Conformance checks for matcher plugins: does a matcher keep the protocol's promises?

Modelled on scikit-learn's ``check_estimator``: a list of named checks, each run and
reported as passed, failed or skipped with a one-line reason. Run it on a registered name
(with its params) or on an instance, with a few face images::

    from fairbench.testing import check_matcher
    report = check_matcher("dlib", images="photos/")       # a folder: its first 8 images
    report.passed, report["thread_safe"].reason
    print(report)                                          # what `fairbench matchers check` prints

A matcher that reads no images (``needs_images = False``) is checked through
``embed_records``: pass ``records=``, or let the precomputed matcher use its file's ids.
Non-local network access is refused (and reported) while a matcher is checked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fairbench.core.codes import ImageRecord
from fairbench.errors import FairbenchError, MatcherError
from fairbench.matchers.base import Matcher
from fairbench.testing import checks, checks_info
from fairbench.testing.context import Context, Failed, Skip
from fairbench.testing.inputs import (
    MAX_IMAGES,
    ImagesArg,
    Inputs,
    image_inputs,
    record_inputs,
)
from fairbench.testing.network import NetWatch
from fairbench.testing.outcomes import TOLERANCE
from fairbench.testing.report import CheckReport, CheckResult

__all__ = ["CHECKS", "TOLERANCE", "Check", "CheckReport", "CheckResult", "check_matcher"]


@dataclass(frozen=True)
class Check:
    """One named check; it is skipped when a check it ``needs`` has failed, and for a
    matcher that gives scores instead of templates when it ``embeds``."""

    name: str
    run: Callable[[Context], str]
    needs: tuple[str, ...] = ()
    embeds: bool = True
    applies: Callable[[Matcher], bool] | None = None  # None: to every matcher

    @property
    def description(self) -> str:
        return (self.run.__doc__ or "").strip().splitlines()[0]


CHECKS: tuple[Check, ...] = (
    Check("embeds_images", checks.embeds_images),
    Check("one_result_per_image", checks.one_result_per_image),
    Check("embedding_size", checks.embedding_size, ("one_result_per_image",)),
    Check("finite_values", checks.finite_values, ("one_result_per_image",)),
    Check("deterministic", checks.deterministic, ("one_result_per_image",)),
    Check("result_order", checks.result_order, ("one_result_per_image", "deterministic")),
    Check("batch_size_invariant", checks.batch_size_invariant,
          ("one_result_per_image", "deterministic", "result_order")),
    Check("thread_safe", checks.thread_safe,
          ("one_result_per_image", "deterministic", "result_order")),
    Check("failures_reported", checks_info.failures_reported),
    Check("info_complete", checks_info.info_complete, embeds=False),
    Check("fingerprint_stable", checks_info.fingerprint_stable, embeds=False),
    Check("fingerprint_tracks_params", checks_info.fingerprint_tracks_params,
          ("fingerprint_stable",), embeds=False),
    Check("no_network", checks_info.no_network, embeds=False),
    Check("compares_pairs", checks_info.compares_pairs, embeds=False,
          applies=lambda m: hasattr(m, "compare_pairs") and getattr(m, "gives_scores", False)),
)


def _resolve(matcher: Matcher | type[Matcher] | str, params: Mapping[str, Any] | None
             ) -> tuple[Matcher, str | None, Callable[[dict[str, Any]], Matcher], dict]:
    """The instance to check, its registered name, a way to build another, its params."""
    given = dict(params or {})
    if isinstance(matcher, Matcher):
        if params is not None:
            raise FairbenchError("params= applies to a matcher name or class, not an instance")
        cls, name = type(matcher), None
        given = matcher.params.model_dump()
    elif isinstance(matcher, str):
        from fairbench.registry import matchers

        name = matcher
        try:
            cls = matchers.get(name)
        except ImportError as exc:
            raise MatcherError(f"matcher {name!r} is registered but cannot be imported "
                               f"({type(exc).__name__}: {exc})") from None
    else:
        cls, name = matcher, None
    if not (isinstance(cls, type) and issubclass(cls, Matcher)):
        raise MatcherError(f"plugin {name or cls!r} is not a fairbench Matcher subclass")
    try:
        instance = matcher if isinstance(matcher, Matcher) else cls(**given)
    except MatcherError:
        raise
    except Exception as exc:  # a constructor that raises leaves nothing to check
        raise MatcherError(f"building matcher {name or cls.__name__!r} raised "
                           f"{type(exc).__name__}: {exc}") from None
    return instance, name, lambda p: cls(**p), given


def _one_line(text: str, limit: int = 600) -> str:
    """A reason on one line (exception messages often span several), within ``limit``."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _outcome(check: Check, ctx: Context, done: dict[str, CheckResult]) -> CheckResult:
    result = _attempt(check, ctx, done)
    return CheckResult(result.name, result.status, _one_line(result.reason), check.description)


def _attempt(check: Check, ctx: Context, done: dict[str, CheckResult]) -> CheckResult:
    if check.embeds and ctx.gives_scores:
        what = "of image pairs" if hasattr(ctx.matcher, "compare_pairs") else \
            "read from files"
        return CheckResult(check.name, "skipped", f"the matcher gives scores {what}, not "
                           "templates: nothing is embedded", check.description)
    failed = [n for n in check.needs if n in done and done[n].failed]
    if failed:
        return CheckResult(check.name, "skipped", f"needs {', '.join(failed)} to pass",
                           check.description)
    ctx.watch.phase = check.name
    try:
        return CheckResult(check.name, "passed", check.run(ctx), check.description)
    except Skip as s:
        return CheckResult(check.name, "skipped", str(s), check.description)
    except Failed as f:
        return CheckResult(check.name, "failed", str(f), check.description)
    except MatcherError as exc:
        if check.name == "embeds_images":  # models load on first use: a bad model file
            raise
        return CheckResult(check.name, "failed", f"raised MatcherError: {exc.headline}",
                           check.description)
    except Exception as exc:  # a check that raises has found a fault
        where = f" in {ctx.watch.phase}" if ctx.watch.phase else ""
        return CheckResult(check.name, "failed", f"raised {type(exc).__name__}{where}: {exc}",
                           check.description)


def check_matcher(
    matcher: Matcher | type[Matcher] | str,
    images: ImagesArg | None = None,
    params: Mapping[str, Any] | None = None,
    *,
    records: Sequence[ImageRecord] | None = None,
    max_images: int = MAX_IMAGES,
) -> CheckReport:
    """Run every check in :data:`CHECKS` on ``matcher`` and report each one.

    ``matcher`` is a registered name (built with ``params``), a Matcher class or an instance.
    ``images`` is a folder (its first ``max_images`` JPEG/PNG files) or a list of files or
    encoded bytes; a matcher that reads no images takes ``records`` instead (the precomputed
    matcher defaults to its file's first ids). Bad input (unknown name, invalid params,
    missing images or models) raises :class:`~fairbench.errors.FairbenchError`; faults of
    the matcher are failed checks, never exceptions.
    """
    with NetWatch(phase="building the matcher") as watch:
        m, name, rebuild, given = _resolve(matcher, params)
        if getattr(m, "gives_scores", False) and not m.needs_images:
            inputs = Inputs([], [], [], "none (a score matcher embeds nothing)")
        elif m.needs_images:
            if images is None:
                raise FairbenchError(f"matcher {m.name!r} reads images: give images= (a "
                                     "folder or a list of face image files)")
            inputs = image_inputs(images, max_images)
        else:
            inputs = record_inputs(m, records, images, max_images)
        ctx = Context(m, inputs, watch, rebuild, given, registered_name=name)
        watch.phase = "info()"
        try:
            ctx.info = m.info()
        except MatcherError:
            raise
        except Exception as exc:
            ctx.info_error = f"{type(exc).__name__}: {exc}"
        done: dict[str, CheckResult] = {}
        for check in CHECKS:
            if check.applies is None or check.applies(m):
                done[check.name] = _outcome(check, ctx, done)
    label = name or m.name
    return CheckReport(label, inputs.source, list(done.values()), given)
