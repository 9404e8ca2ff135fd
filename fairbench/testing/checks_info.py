"""The checks on failures, metadata, fingerprints and network use."""

from __future__ import annotations

import typing
from typing import Any, get_args

import numpy as np

from fairbench.matchers.base import Matcher
from fairbench.testing.context import Context, Skip, require
from fairbench.testing.inputs import BLANK, NOT_AN_IMAGE, unknown_record
from fairbench.testing.network import NetEvent
from fairbench.testing.outcomes import compare, listed, outcome

#: How templates are compared, and the further kinds a matcher of read scores may give.
KINDS = ("cosine", "euclidean")
SCORE_KINDS = ("similarity", "distance")


def _failure(what: str, got: Any, call: str, allow_embedding: bool = False) -> str:
    """How one input that should fail came back; raises Failed when it came back wrong."""
    require(len(got) == 1, f"{call} on {what} returned {len(got)} results for 1 input")
    o = outcome(got[0])
    require(o.kind == "FaceResult", f"{call} on {what} returned {o.describe()}")
    if o.embedded:
        require(allow_embedding, f"{call} returned an embedding for {what}; return "
                                 "FaceResult.failed(reason) instead")
        return "an embedding (no face detector?)"
    require(isinstance(o.reason, str) and o.reason.strip(),
            f"{call} on {what} gave no embedding and no failure_reason; say why, e.g. "
            "FaceResult.failed('no_face')")
    return repr(o.reason)


def _call(ctx: Context, fn: Any, arg: list[Any], what: str, call: str) -> Any:
    ctx.watch.phase = f"{call} on {what}"
    try:
        return list(fn(arg))
    except Exception as exc:
        require(False, f"{call} raised {type(exc).__name__}: {exc} on {what}; return "
                       "FaceResult.failed(reason) for an input it cannot embed, never raise")


def failures_reported(ctx: Context) -> str:
    """Inputs that cannot be embedded come back as failures with a reason, never raise."""
    m = ctx.matcher
    if not ctx.reads_images:
        what = f"an unknown image id {unknown_record().image_id!r}"
        got = _call(ctx, m.embed_records, [unknown_record()], what, "embed_records")
        return f"{what} -> {_failure(what, got, 'embed_records')} (reads no images, so " \
               "no undecodable or blank image)"
    junk = "bytes that are not an image"
    got = _call(ctx, m.embed_bytes, [NOT_AN_IMAGE], junk, "embed_bytes")
    said = _failure(junk, got, "embed_bytes")
    blank = "a blank grey image"
    got = _call(ctx, m.embed_batch, [BLANK.copy()], blank, "embed_batch")
    return f"{junk} -> {said}; {blank} -> " \
           f"{_failure(blank, got, 'embed_batch', allow_embedding=True)}"


def info_complete(ctx: Context) -> str:
    """info() names the matcher, its version, a positive size and consistent score sense."""
    require(ctx.info is not None, f"info() raised {ctx.info_error}")
    i = ctx.info
    assert i is not None
    problems = []
    for key in ("name", "version", "native_score"):
        v = getattr(i, key)
        if not (isinstance(v, str) and v.strip()):
            problems.append(f"{key} is {v!r}, not a non-empty string")
    least = 0 if ctx.gives_scores else 1  # a score matcher has no templates
    if not (isinstance(i.embedding_size, int) and not isinstance(i.embedding_size, bool)
            and i.embedding_size >= least):
        problems.append(f"embedding_size is {i.embedding_size!r}, not an integer >= {least}")
    kinds = KINDS + SCORE_KINDS if ctx.gives_scores else KINDS
    if i.similarity not in kinds:
        problems.append(f"similarity is {i.similarity!r}, not one of {', '.join(kinds)}")
    elif not ctx.gives_scores and i.similarity != ctx.matcher.similarity:
        problems.append(f"info().similarity {i.similarity!r} differs from the matcher's "
                        f"similarity {ctx.matcher.similarity!r}")
    # fairbench negates a distance (euclidean) and keeps a similarity (cosine) as it is
    sense = "lower_is_more_alike" if i.similarity in ("euclidean", "distance") \
        else "higher_is_more_alike"
    score = str(i.native_score).lower()
    if i.native_direction not in ("lower_is_more_alike", "higher_is_more_alike"):
        problems.append(f"native_direction is {i.native_direction!r}")
    elif i.native_direction != sense:
        problems.append(f"native_direction {i.native_direction!r} with similarity "
                        f"{i.similarity!r}: fairbench reads a {i.similarity} score as {sense}")
    elif ("distance" in score) != (sense == "lower_is_more_alike"):
        problems.append(f"native_score {i.native_score!r} reads as the opposite of "
                        f"native_direction {i.native_direction!r}")
    if not isinstance(i.weights_sha256, dict):
        problems.append(f"weights_sha256 is a {type(i.weights_sha256).__name__}, not a dict")
    try:
        again, before = ctx.matcher.info().to_dict(), i.to_dict()
        changed = [f"{k} {before[k]!r} -> {again[k]!r}" for k in before
                   if again.get(k) != before[k]]
        if changed:
            problems.append(f"info() changed once images were embedded ({listed(changed)})")
    except Exception as exc:
        problems.append(f"a second info() call raised {type(exc).__name__}: {exc}")
    require(not problems, f"info(): {listed(problems, 3)}")
    named = "" if ctx.registered_name in (None, i.name) else \
        f" (registered as {ctx.registered_name!r})"
    return (f"{i.name!r}{named}, version {i.version!r}, {i.embedding_size} values, "
            f"{i.similarity} ({i.native_score}, {i.native_direction})")


def _fingerprint(m: Matcher, what: str) -> str:
    try:
        return m.fingerprint()
    except Exception as exc:
        raise Skip(f"fingerprint() of {what} raised {type(exc).__name__}: {exc}") from None


def fingerprint_stable(ctx: Context) -> str:
    """Two instances with the same params have the same fingerprint (a cache hit)."""
    first = _fingerprint(ctx.matcher, "the checked instance")
    try:
        other = ctx.rebuild(dict(ctx.params))
    except Exception as exc:
        raise Skip(f"cannot build a second instance from the same params "
                   f"({type(exc).__name__}: {exc})") from None
    ctx.watch.phase = "fingerprint()"
    second = _fingerprint(other, "a second instance")
    require(first == _fingerprint(ctx.matcher, "the checked instance"),
            "two fingerprint() calls on one instance differ")
    require(first == second, f"a second instance with the same params has fingerprint "
                             f"{second[:12]}..., not {first[:12]}...; a template cache "
                             "would never hit")
    return f"two instances with the same params share fingerprint {first[:12]}..."


def _variants(value: Any, annotation: Any) -> list[Any]:
    """Other valid-looking values of one parameter: flipped, nudged or another choice."""
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1, value - 1]
    if isinstance(value, float):
        return [value * 1.1, value * 0.9] if value else [0.1]
    if isinstance(value, str):
        choices = [a for a in _literals(annotation) if isinstance(a, str) and a != value]
        return choices[:1]
    return []


def _literals(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) is typing.Literal:
        return list(get_args(annotation))
    return [x for a in get_args(annotation) for x in _literals(a)]


#: Most varied instances a check embeds with (each costs one run over the inputs).
MAX_TRIALS = 4


def _varied(ctx: Context) -> list[tuple[str, Any, Any, Matcher]]:
    """(param, current value, other value, instance built with it): one valid other value
    for each top-level boolean, number or choice parameter."""
    fields = getattr(type(ctx.matcher.params), "model_fields", {})
    current = ctx.matcher.params.model_dump()
    out = []
    for key, info in fields.items():
        for value in _variants(current.get(key), info.annotation):
            try:
                out.append((key, current.get(key), value,
                            ctx.rebuild({**ctx.params, key: value})))
                break
            except Exception:  # not a valid value for this parameter: try the next
                continue
    return out


def fingerprint_tracks_params(ctx: Context) -> str:
    """A parameter that changes the embeddings changes the fingerprint (no stale cache).

    Each top-level boolean, number or choice parameter is varied in turn. A new fingerprint
    is fine; an unchanged one is fine only if that instance's embeddings are the same too (a
    parameter such as a timeout need not be in it). Up to MAX_TRIALS are embedded.
    """
    if not getattr(type(ctx.matcher.params), "model_fields", {}):
        raise Skip("the matcher takes no parameters")
    base = ctx.base if ctx.base and any(o.embedded for o in ctx.base) else None
    first = _fingerprint(ctx.matcher, "the checked instance")
    tracked, inert, untried = [], [], []
    for key, old, value, other in _varied(ctx):
        ctx.watch.phase = "fingerprint()"
        if _fingerprint(other, f"an instance with {key}={value!r}") != first:
            tracked.append(key)
            continue
        if base is None or len(inert) == MAX_TRIALS:  # nothing to compare embeddings with
            untried.append(key)
            continue
        got = ctx.run_on(other, list(ctx.inputs.items), f"a run with {key}={value!r}")
        problems, _ = compare(base, got, ctx.labels, f"with {key}={value!r}")
        require(not problems, f"changing {key} {old!r} -> {value!r} changes the embeddings "
                              f"({listed(problems, 1)}) but not the fingerprint: a template "
                              "cache would return embeddings made with other params")
        inert.append(key)
    seen = [f"{', '.join(tracked)} change{'s' * (len(tracked) == 1)} the fingerprint"] \
        if tracked else []
    seen += [f"{', '.join(inert)} change neither it nor the embeddings"] if inert else []
    seen += [f"{', '.join(untried)} not tried"] if untried else []
    if not tracked:
        raise Skip("no varied parameter changed the fingerprint or the embeddings" +
                   (f" ({'; '.join(seen)})" if seen else
                    " (no boolean, number or choice parameter to vary)"))
    return "; ".join(seen)


def no_network(ctx: Context) -> str:
    """No connection beyond this machine, nor lookup of a non-local name, while checked."""
    w = ctx.watch
    seen: dict[tuple[str, str, str], list[NetEvent]] = {}
    for e in w.remote:
        seen.setdefault((e.event, e.target, e.caller), []).append(e)
    said = [f"{es[0].describe()}" + (f" ({len(es)} times)" if len(es) > 1 else "")
            for es in seen.values()]
    require(not w.remote, f"reached for the network {len(w.remote)} times (refused): "
                          f"{listed(said)}")
    if w.local:
        hosts = sorted({e.host for e in w.local})
        return f"local connections only ({len(w.local)} socket events, to " \
               f"{', '.join(hosts[:3])})"
    return "no socket use while embedding, building or describing the matcher"


def compares_pairs(ctx: Context) -> str:
    """A matcher that scores two images at a time (``compare_pairs``): one answer per pair
    in order, a finite score or a reason, the same answers again, and bytes that are not
    an image reported as a failure, never sent."""
    compare = getattr(ctx.matcher, "compare_pairs", None)
    if compare is None:
        raise Skip("the matcher does not compare pairs of images")
    blobs = ctx.inputs.blobs
    if len(blobs) < 2:
        raise Skip("needs two images")
    pairs = [(blobs[0], blobs[0]), (blobs[0], blobs[1]), (b"not an image", blobs[1])]
    first = compare(pairs)
    require(len(first) == len(pairs), f"{len(first)} answers for {len(pairs)} pairs")
    for (score, why), what in zip(first[:2], ("an image with itself", "two images")):
        require(why is None and score is not None and np.isfinite(score),
                f"{what}: no score ({why})")
    require(first[2][0] is None and bool(first[2][1]),
            f"bytes that are not an image got {first[2]!r}, not a failure with a reason")
    again = compare(pairs[:2])
    require([a for a, _ in again] == [a for a, _ in first[:2]],
            "a second call gave other scores for the same pairs")
    return (f"{len(pairs)} pairs: scores {first[0][0]:.4g} (itself) and {first[1][0]:.4g}, the "
            f"same again; not an image -> {first[2][1]!r}")
