"""Manifest checks: every problem found at once, one line each, naming the file and the row.

Checked before any work: ids (empty, duplicate), subjects (empty; a subject whose images
disagree on a subject-level attribute), files (empty, too long, escaping the data root once
symlinks are resolved, missing, the same file listed under two subjects), and attribute
values outside a card's vocabulary. A value in the common missing-value vocabulary (or a
card's own) is never a vocabulary problem: it means unknown.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

from fairbench.core.missing import is_missing, missing_set
from fairbench.data.manifest import Manifest
from fairbench.errors import DataError

#: Longest path and path component most file systems accept.
MAX_PATH, MAX_NAME = 4096, 255
#: Problems shown in one error message (the rest are counted).
SHOWN = 200


def _escapes(root: Path, target: Path) -> bool:
    """Whether ``target`` (symlinks resolved) lies outside ``root`` (symlinks resolved)."""
    base = os.path.realpath(root)
    return os.path.commonpath([base, os.path.realpath(target)]) != base


def _path_problem(m: Manifest, path: str) -> tuple[str | None, str | None]:
    """(problem, resolved real path) of one manifest path."""
    if not path:
        return "empty path", None
    if len(path) > MAX_PATH or any(len(part) > MAX_NAME for part in Path(path).parts):
        return f"path is too long ({len(path):,} characters): {path[:60]}...", None
    resolved = m.resolve(path)
    assert resolved is not None
    try:
        if m.root is not None and _escapes(m.root, resolved):
            return f"path {path!r} escapes the data root {m.root}", None
        if not resolved.is_file():
            return f"file not found: {resolved}", None
    except OSError as exc:
        return f"cannot check {path!r} ({exc.strerror})", None
    return None, os.path.realpath(resolved)


def _row_problems(m: Manifest, require_files: bool) -> list[str]:
    f, src = m.frame, m.source
    problems: list[str] = []
    seen: dict[str, int] = {}
    owners: dict[str, dict[str, int]] = defaultdict(dict)  # real file -> subject -> row
    for k, (iid, path, sid) in enumerate(zip(f["image_id"], f["path"], f["subject_id"])):
        row = f"{src} row {k + 2}"
        if not iid and m.keyed_by != "subject":  # a subjects table: its subject_id is said
            problems.append(f"{row}: empty image_id")
        elif iid in seen:
            key = "subject_id (a subjects table has one row per person)" \
                if m.keyed_by == "subject" else "image_id"
            problems.append(f"{row}: duplicate {key} {iid!r} (first at row {seen[iid] + 2})")
        else:
            seen[iid] = k
        if is_missing(sid):
            problems.append(f"{row} ({iid}): empty subject_id")
        if require_files:
            problem, real = _path_problem(m, str(path))
            if problem:
                problems.append(f"{row} ({iid}): {problem}")
            elif real is not None and not is_missing(sid):
                owners[real].setdefault(str(sid), k + 2)
    for real, subjects in owners.items():
        if len(subjects) > 1:
            where = ", ".join(f"{s} (row {r})" for s, r in subjects.items())
            problems.append(f"{src}: the same file {real} is listed under subjects {where}")
    return problems


def _subject_problems(m: Manifest, attributes: Sequence[str]) -> list[str]:
    """Subjects whose images disagree on an attribute that belongs to the person."""
    f, src = m.frame, m.source
    problems = []
    for a in attributes:
        if a not in f.columns:
            continue
        known = f[~f[a].map(is_missing)]
        values = known.groupby("subject_id", sort=True)[a].unique()
        for sid, vals in values[values.map(len) > 1].items():
            rows = {v: [int(r) + 2 for r in known.index[(known["subject_id"] == sid)
                                                         & (known[a] == v)]] for v in vals}
            said = "; ".join(f"{v!r} in row(s) {', '.join(map(str, r))}" for v, r in rows.items())
            problems.append(f"{src}: subject {sid!r} has {a} {said} (a person has one {a}; "
                            f"if it changes per image, declare it per image)")
    return problems


def _vocabulary_problems(m: Manifest, vocabularies: Mapping[str, Sequence[str] | None],
                         missing: Mapping[str, Sequence[str]]) -> list[str]:
    f, src = m.frame, m.source
    ids = f["image_id"].tolist()
    problems = []
    for a, vocab in vocabularies.items():
        if vocab is None or a not in f.columns:
            continue
        gaps = missing_set(missing.get(a, ()))
        allowed = set(vocab)
        for k, v in enumerate(f[a]):
            if v not in allowed and str(v).strip().lower() not in gaps:
                problems.append(f"{src} row {k + 2} ({ids[k]}): {a}={v!r} is not in the "
                                f"vocabulary ({', '.join(vocab)})")
    return problems


def find_problems(
    m: Manifest, attributes: Sequence[str] = (),
    vocabularies: Mapping[str, Sequence[str] | None] | None = None,
    require_files: bool = True, missing: Mapping[str, Sequence[str]] | None = None,
    subject_level: Sequence[str] = (),
) -> list[str]:
    """Every problem in a manifest, one line each, naming the row (1 = header line).

    ``subject_level`` names the attributes that belong to the person (must agree across a
    subject's images).
    """
    problems = [f"{m.source}: attribute column {a!r} not in the manifest"
                for a in attributes if a not in m.frame.columns]
    problems += _row_problems(m, require_files)
    problems += _subject_problems(m, subject_level)
    problems += _vocabulary_problems(m, vocabularies or {}, missing or {})
    return problems


def raise_problems(source: str, problems: Sequence[str]) -> None:
    """One :class:`DataError` listing every problem (the first :data:`SHOWN`), if any."""
    if not problems:
        return
    n = len(problems)
    shown = list(problems[:SHOWN]) + ([f"... and {n - SHOWN:,} more"] if n > SHOWN else [])
    raise DataError(f"{source}: {n:,} problem{'s' if n > 1 else ''} in the manifest", shown)


def check_manifest(m: Manifest, attributes: Sequence[str] = (), **checks: object) -> None:
    """:func:`find_problems` (same keyword arguments), raised as one :class:`DataError`."""
    raise_problems(m.source, find_problems(m, attributes, **checks))  # type: ignore[arg-type]
