"""The checks on what a matcher returns: count, order, size, values, repeatability.

Each check takes the shared :class:`~fairbench.testing.context.Context` and returns its
reason when it passes; it raises :class:`~fairbench.testing.context.Failed` (via
:func:`require`) when it fails and :class:`~fairbench.testing.context.Skip` when it does not
apply.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import replace

from fairbench.matchers.base import INVALID_EMBEDDING, FaceResult, Matcher
from fairbench.testing.context import Context, Skip, require
from fairbench.testing.outcomes import agree, agreement, compare, listed


def embeds_images(ctx: Context) -> str:
    """The inputs are embedded without raising, and at least one gets an embedding."""
    raw = ctx.first_run()
    base = ctx.base or []
    ok = sum(o.embedded for o in base)
    failed = Counter(o.reason or o.describe() for o in base if not o.embedded)
    why = ", ".join(f"{r} x{n}" for r, n in failed.most_common(3))
    n = len(ctx.inputs.items)
    require(ok > 0, f"none of {n} inputs was embedded ({why or 'no results'}); check with "
                    "images that each show one clear face")
    more = f"; {len(raw) - ok} failed ({why})" if ok < len(raw) else ""
    return f"{ok} of {n} inputs embedded by {ctx.method}{more}"


def one_result_per_image(ctx: Context) -> str:
    """One FaceResult per input, from the plugin's method (and its own embed_bytes)."""
    base = ctx.need_base()
    n = len(ctx.inputs.items)
    require(len(base) == n, f"{ctx.method} returned {len(base)} results for {n} inputs; "
                            "return exactly one FaceResult per input, in input order")
    wrong = [f"{ctx.labels[k]}: {o.describe()}" for k, o in enumerate(base)
             if o.kind != "FaceResult"]
    require(not wrong, f"not FaceResult objects: {listed(wrong)}")
    if ctx.reads_images and type(ctx.matcher).embed_bytes is not Matcher.embed_bytes:
        ctx.watch.phase = "embed_bytes"
        got = ctx.matcher.embed_bytes(list(ctx.inputs.blobs))
        require(len(got) == n, f"the overridden embed_bytes returned {len(got)} results "
                               f"for {n} images")
    return f"{n} FaceResults for {n} inputs"


def embedding_size(ctx: Context) -> str:
    """Every embedding has the same number of values, equal to info().embedding_size."""
    base = ctx.need_base()
    sizes = Counter(o.vector.size for o in base if o.vector is not None and o.embedded)
    example = {o.vector.size: ctx.labels[k] for k, o in enumerate(base)
               if o.vector is not None and o.embedded}
    seen = ", ".join(f"{s} ({n} input{'s' * (n > 1)}, e.g. {example[s]})"
                     for s, n in sizes.most_common())
    require(len(sizes) == 1, f"embedding sizes differ: {seen}; a matcher gives one size")
    [size] = sizes
    if ctx.info is None:
        raise Skip(f"every embedding has {size} values, but info() failed, so there is no "
                   "embedding_size to compare with")
    want = ctx.info.embedding_size
    require(size == want, f"embeddings have {size} values but info().embedding_size is {want}")
    raw = [r for r in ctx.raw or [] if isinstance(r, FaceResult) and r.embedding is not None]
    ndims = {getattr(r.embedding, "ndim", 1) for r in raw}
    flat = "" if ndims <= {1} else f" (returned as {max(ndims)}-d arrays; 1-d expected)"
    return f"all {sum(sizes.values())} embeddings have {size} values = " \
           f"info().embedding_size{flat}"


def finite_values(ctx: Context) -> str:
    """Embeddings are real and finite (and not all zero for cosine), as scoring needs."""
    ctx.need_base()
    bad = []
    for k, r in enumerate(ctx.raw or []):
        if isinstance(r, FaceResult) and r.embedding is not None and r.failure_reason is None:
            res = ctx.matcher.checked(replace(r))
            if res.failure_reason and res.failure_reason.startswith(INVALID_EMBEDDING):
                bad.append(f"{ctx.labels[k]}: {res.failure_reason.split(': ', 1)[-1]}")
    require(not bad, f"{len(bad)} embeddings cannot be scored ({listed(bad)}); the pipeline "
                     f"records them as {INVALID_EMBEDDING}")
    zero = ", not all zero" if ctx.matcher.similarity == "cosine" else ""
    return f"every embedding is real and finite{zero}"


def deterministic(ctx: Context) -> str:
    """The same bytes give the same results on a second run."""
    base = ctx.need_base()
    again = ctx.run(list(ctx.inputs.items), "a second run")
    problems, worst = compare(base, again, ctx.labels, "on a second run")
    require(not problems, f"a second run on the same inputs differs for {len(problems)} of "
                          f"{len(base)}: {listed(problems)}")
    return f"a second run gave the same results ({agreement(worst)})"


def result_order(ctx: Context) -> str:
    """Results follow the input order: a rotated list gives the rotated results."""
    base = ctx.need_base()
    n = len(base)
    distinct = {o.vector.tobytes() for o in base if o.vector is not None and o.embedded}
    if n < 2 or len(distinct) + sum(not o.embedded for o in base) < 2:
        raise Skip("needs two inputs with different results to see an order")
    order = list(range(1, n)) + [0]
    got = ctx.run([ctx.inputs.items[k] for k in order], "a rotated list")
    problems, worst = compare([base[k] for k in order], got, [ctx.labels[k] for k in order],
                              "in the rotated list")
    if problems:
        moved = [f"position {j} ({ctx.labels[order[j]]}) got {ctx.labels[i]}'s first-run result"
                 for j, o in enumerate(got) if not agree(base[order[j]], o)[0]
                 for i in range(n) if agree(base[i], o)[0]
                 and not agree(base[i], base[order[j]])[0]]
        require(False, f"results do not follow the input order ({listed(moved or problems)});"
                       " return result k for input k")
    return f"a rotated list of {n} gave the rotated results ({agreement(worst)})"


def batch_size_invariant(ctx: Context) -> str:
    """Embedding one input at a time gives what the whole batch gave."""
    base = ctx.need_base()
    if len(base) < 2:
        raise Skip("one input: a batch of 1 is the first run")
    got = []
    for k, item in enumerate(ctx.inputs.items):
        one = ctx.run([item], "batches of 1")
        require(len(one) == 1, f"{ctx.labels[k]} alone gave {len(one)} results")
        got.append(one[0])
    problems, worst = compare(base, got, ctx.labels, "in a batch of 1")
    require(not problems, f"batches of 1 differ from one batch of {len(base)} for "
                          f"{len(problems)} inputs: {listed(problems)}")
    return f"batches of 1 match one batch of {len(base)} ({agreement(worst)})"


def thread_safe(ctx: Context) -> str:
    """Two threads embedding at once (one in reverse order) get the sequential results."""
    base = ctx.need_base()
    items = list(ctx.inputs.items)
    runs = {"forward": items, "reversed": items[::-1]}
    out: dict[str, list] = {}
    errors: dict[str, BaseException] = {}
    start = threading.Barrier(len(runs))

    def work(key: str) -> None:
        try:
            start.wait(timeout=30)
            out[key] = ctx.run(runs[key], "two threads at once")
        except BaseException as exc:  # reported below, in the caller's thread
            errors[key] = exc

    threads = [threading.Thread(target=work, args=(k,), daemon=True) for k in runs]
    for t in threads:
        t.start()
    limit = max(60.0, 20 * ctx.first_run_s)
    for t in threads:
        t.join(timeout=limit)
    require(not any(t.is_alive() for t in threads),
            f"two threads did not finish within {limit:.0f} s (a deadlock?)")
    require(not errors, "; ".join(f"the {k} thread raised {type(e).__name__}: {e}"
                                  for k, e in errors.items()))
    problems = []
    for key, expected, labels in (("forward", base, ctx.labels),
                                  ("reversed", base[::-1], ctx.labels[::-1])):
        diff, _ = compare(expected, out[key], labels, f"in the {key} thread")
        problems += [f"{key} thread, {p}" for p in diff]
    require(not problems, f"two threads at once differ from the sequential run "
                          f"({listed(problems)}); guard shared state with a lock, or say in "
                          "your docs that the matcher is not thread-safe")
    return f"two threads embedding {len(base)} inputs at once got the sequential results"
