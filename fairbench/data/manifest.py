"""Manifests: one row per image (image_id, path, subject_id, attribute columns), or, for
runs over score files, one row per person (a subjects table: subject_id and attributes).

A manifest is validated before any work: every problem (missing file, duplicate id,
unknown attribute value, path escaping the data root, ...) is collected and reported at
once, naming the file and the row.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fairbench.core.codes import ImageRecord
from fairbench.errors import DataError

REQUIRED = ("image_id", "subject_id")  # plus "path" when the matcher reads images


@dataclass
class Manifest:
    """Images of a dataset with subject ids and attributes (all values as strings)."""

    frame: pd.DataFrame
    root: Path | None
    source: str
    keyed_by: str = "image"  # "subject": a subjects table (image_id repeats subject_id)

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


def _csv_structure(path: Path) -> list[str]:
    """Problems a CSV parser would hide: duplicate column names, rows with the wrong number
    of fields, text that is not UTF-8."""
    try:
        text = path.read_bytes().decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        return [f"{path}: not UTF-8 text (byte {exc.start}); save the manifest as UTF-8"]
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if header is None:
        return [f"{path}: empty file (no header line)"]
    problems = [f"{path}: column {c!r} appears {header.count(c)} times in the header"
                for c in sorted({c for c in header if header.count(c) > 1})]
    for k, row in enumerate(rows, start=2):
        if row and len(row) != len(header):
            problems.append(f"{path} row {k}: {len(row)} fields, the header has {len(header)}")
    return problems


def _parquet(path: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    names = pq.read_schema(path).names
    dup = sorted({c for c in names if names.count(c) > 1})
    if dup:
        raise DataError(f"{path}: column(s) {', '.join(map(repr, dup))} appear more than once")
    df = pq.read_table(path).to_pandas()
    nested = [c for c in df.columns if df[c].map(lambda v: isinstance(v, (list, dict))).any()
              or df[c].dtype == object and df[c].map(
                  lambda v: hasattr(v, "__len__") and not isinstance(v, (str, bytes))).any()]
    if nested:
        raise DataError(f"{path}: column(s) {', '.join(map(repr, nested))} hold lists or "
                        "arrays, not one value per image")
    df = df.astype(object)
    return df.where(df.notna(), "").astype(str)


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet table with every column as text; structural problems (no rows,
    duplicate columns, ragged rows, not UTF-8) are errors naming the file and row."""
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            df = _parquet(path)
        else:
            problems = _csv_structure(path)
            if problems:
                raise DataError(f"{path}: cannot read manifest", problems[:50] + (
                    [f"... and {len(problems) - 50} more"] if len(problems) > 50 else []))
            df = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False,
                             encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{path}: manifest not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, not a manifest") from None
    except DataError:
        raise
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: cannot read manifest ({exc})") from None
    except Exception as exc:  # pyarrow's own errors: a file that is not Parquet
        raise DataError(f"{path}: cannot read manifest ({type(exc).__name__}: {exc})") \
            from None
    if df.empty:
        raise DataError(f"{path}: the manifest has no rows")
    return df


def read_manifest(path: str | Path, root: str | Path | None = None,
                  subjects: bool = False) -> Manifest:
    """Load a CSV/Parquet manifest; relative image paths resolve against ``root``.

    ``root`` defaults to the manifest's own folder. With ``subjects``, a table without
    ``image_id`` is a subjects table: one row per person, its ``subject_id`` standing for
    the image id too (score files name people, not images).
    """
    p = Path(path)
    df = read_table(p)
    keyed_by = "image"
    if subjects and "image_id" not in df.columns and "subject_id" in df.columns:
        df = df.copy()
        df.insert(0, "image_id", df["subject_id"])
        keyed_by = "subject"
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
    return Manifest(df, Path(root) if root is not None else p.parent, str(p), keyed_by)
