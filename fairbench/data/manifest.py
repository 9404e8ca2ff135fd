"""Manifests: one row per image (image_id, path, subject_id, attribute columns).

A manifest is validated before any work: every problem (missing file, duplicate id,
unknown attribute value, path escaping the data root, ...) is collected and reported at
once, naming the file and the row.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fairbench.core.codes import ImageRecord
from fairbench.core.missing import is_missing, missing_set
from fairbench.errors import DataError

REQUIRED = ("image_id", "subject_id")  # plus "path" when the matcher reads images


@dataclass
class Manifest:
    """Images of a dataset with subject ids and attributes (all values as strings)."""

    frame: pd.DataFrame
    root: Path | None
    source: str

    def __len__(self) -> int:
        return len(self.frame)

    def resolve(self, path: str) -> Path | None:
        """Absolute path of a manifest path (relative ones against the root)."""
        if not path:
            return None
        p = Path(path)
        if not p.is_absolute() and self.root is not None:
            p = self.root / p
        return p

    def records(self) -> list[ImageRecord]:
        """One :class:`ImageRecord` per row, paths resolved."""
        f = self.frame
        return [
            ImageRecord(str(i), self.resolve(str(p)), str(s))
            for i, p, s in zip(f["image_id"], f["path"], f["subject_id"])
        ]

    def sha256(self) -> str:
        """Hash of the manifest's content (columns and rows in order), for provenance."""
        blob = self.frame.to_csv(index=False, lineterminator="\n").encode()
        return hashlib.sha256(blob).hexdigest()


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet table with every column as text."""
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            df = pd.read_parquet(path).astype(object)
            return df.where(df.notna(), "").astype(str)
        return pd.read_csv(
            path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8"
        )
    except FileNotFoundError:
        raise DataError(f"{path}: manifest not found") from None
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: cannot read manifest ({exc})") from None


def read_manifest(path: str | Path, root: str | Path | None = None) -> Manifest:
    """Load a CSV/Parquet manifest; relative image paths resolve against ``root``.

    ``root`` defaults to the manifest's own folder.
    """
    p = Path(path)
    df = read_table(p)
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise DataError(
            f"{p}: manifest lacks required column(s) {', '.join(missing)} "
            f"(has: {', '.join(map(str, df.columns))})"
        )
    df = df.copy()
    if "path" not in df.columns:  # embeddings or scores computed elsewhere need no files
        df.insert(1, "path", "")
    for c in df.columns:
        df[c] = df[c].astype(str).str.strip()
    return Manifest(df, Path(root) if root is not None else p.parent, str(p))


def _escapes(root: Path, rel: str) -> bool:
    base = os.path.normpath(os.path.abspath(root))
    target = os.path.normpath(os.path.join(base, rel))
    return os.path.commonpath([base, target]) != base


def find_problems(
    m: Manifest,
    attributes: Sequence[str] = (),
    vocabularies: Mapping[str, Sequence[str] | None] | None = None,
    require_files: bool = True,
    missing: Mapping[str, Sequence[str]] | None = None,
) -> list[str]:
    """Every problem in a manifest, one line each, naming the row (1 = header line).

    A value in an attribute's ``missing`` list (a card's) or in the common vocabulary of
    :mod:`fairbench.core.missing` is never a vocabulary problem: it means unknown.
    """
    f = m.frame
    src = m.source
    problems: list[str] = []
    for a in attributes:
        if a not in f.columns:
            problems.append(f"{src}: attribute column {a!r} not in the manifest")
    ids = f["image_id"].tolist()
    seen: dict[str, int] = {}
    for k, (iid, path, sid) in enumerate(zip(ids, f["path"], f["subject_id"])):
        row = f"{src} row {k + 2}"
        if not iid:
            problems.append(f"{row}: empty image_id")
        elif iid in seen:
            problems.append(f"{row}: duplicate image_id {iid!r} (first at row {seen[iid] + 2})")
        else:
            seen[iid] = k
        if is_missing(sid):
            problems.append(f"{row} ({iid}): empty subject_id")
        if not require_files:
            continue
        if not path:
            problems.append(f"{row} ({iid}): empty path")
            continue
        if m.root is not None and _escapes(m.root, path):
            problems.append(f"{row} ({iid}): path {path!r} escapes the data root {m.root}")
            continue
        resolved = m.resolve(path)
        if resolved is None or not resolved.is_file():
            problems.append(f"{row} ({iid}): file not found: {resolved}")
    for a, vocab in (vocabularies or {}).items():
        if vocab is None or a not in f.columns:
            continue
        gaps = missing_set((missing or {}).get(a, ()))
        allowed = set(vocab)
        for k, v in enumerate(f[a]):
            if v not in allowed and str(v).strip().lower() not in gaps:
                problems.append(
                    f"{src} row {k + 2} ({ids[k]}): {a}={v!r} is not in the vocabulary "
                    f"({', '.join(vocab)})"
                )
    return problems


def check_manifest(
    m: Manifest,
    attributes: Sequence[str] = (),
    vocabularies: Mapping[str, Sequence[str] | None] | None = None,
    require_files: bool = True,
    missing: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Raise one :class:`DataError` listing every problem, or return quietly."""
    problems = find_problems(m, attributes, vocabularies, require_files, missing)
    if problems:
        n = len(problems)
        raise DataError(f"{m.source}: {n} problem{'s' if n > 1 else ''} in the manifest", problems)
