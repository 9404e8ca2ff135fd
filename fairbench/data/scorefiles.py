"""Read score files in chunks of bounded size: bob's 4- and 5-column files, CSV, matrices,
pyeer's genuine/impostor lists and 1:N candidate lists.

Text files stream through PyArrow's CSV reader (a fresh reader per pass, so the engine can
read a file twice without holding it); a ``.npy`` matrix is memory-mapped and read by row
blocks. A score that is empty, ``nan`` (any case), ``null`` or not finite is a failed
comparison. Malformed rows are collected while reading and reported together, each with
its line number, file and text; nothing is guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from fairbench.core.comparisons import Keys, RawChunk
from fairbench.errors import DataError
from fairbench.matchers.scores import ScoresParams

NULLS = ["", "nan", "NaN", "NAN", "-nan", "+nan", "null", "NULL", "None", "NA", "N/A"]
BOB = {"bob4": ["claimed_id", "real_id", "test_label", "score"],
       "bob5": ["claimed_id", "model_label", "real_id", "test_label", "score"]}
CSV_REQUIRED = ("probe_id", "reference_id", "score")
CANDIDATES = ("search_id", "probe_id", "rank", "candidate_id", "score")
MAX_LISTED = 20


def keys(col: pa.Array | pa.ChunkedArray) -> Keys:
    """A PyArrow string column as :class:`Keys` (dictionary-encoded)."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    enc = pc.dictionary_encode(col.cast(pa.string()))
    return Keys(enc.indices.to_numpy(zero_copy_only=False).astype(np.int64),
                [str(v) for v in enc.dictionary.to_pylist()])


def scores(col: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A float column as float64 NaN-for-failed (nulls and non-finite values)."""
    s = np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)
    return np.where(np.isfinite(s), s, np.nan)


def _first_line(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            for raw in f:
                if raw.strip():
                    return raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None
    raise DataError(f"{path}: the score file has no rows")


def _line_numbers(path: Path, texts: list[str]) -> dict[str, int]:
    """Where each of ``texts`` first stands in the file (an error path: one scan)."""
    want, out = set(texts), {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for k, line in enumerate(f, 1):
            t = line.rstrip("\r\n")
            if t in want and t not in out:
                out[t] = k
                if len(out) == len(want):
                    break
    return out


class TextReader:
    """One pass over a delimited text file, in record batches; bad rows are collected.

    ``header``: the first line names the columns (comma- or tab-separated; names are
    stripped); else ``names`` are given and fields are separated by one space or one tab.
    """

    def __init__(self, path: Path, names: list[str] | None, chunk_rows: int,
                 types: dict[str, pa.DataType], what: str, row_bytes: int = 48,
                 header: bool = False) -> None:
        self.path, self.types, self.what, self.header = Path(path), types, what, header
        first = _first_line(self.path)
        if header:
            self.delimiter = delimiter_of(first)
            self.names = _split(first, self.delimiter)
        else:
            self.names = names
            self.delimiter = "\t" if "\t" in first and " " not in first else " "
            if re.search(r"[ \t]{2,}| \t|\t ", first):
                raise DataError(f"{path}: fields are separated by runs of spaces or tabs; "
                                f"{what} files separate them by one space (or one tab)")
        self.block = int(min(1 << 30, max(1 << 16, chunk_rows * row_bytes)))
        self.bad: list[str] = []
        self.n_bad = 0

    def _handler(self, row: pacsv.InvalidRow) -> str:
        self.n_bad += 1
        try:
            text = str(row.text)
        except Exception:  # bytes that are not UTF-8: said once the pass ends
            text = "<undecodable bytes>"
        if len(self.bad) < MAX_LISTED:
            self.bad.append(f"{row.actual_columns} fields, expected {row.expected_columns}: "
                            f"{text!r}")
        return "skip"

    def batches(self) -> Iterator[tuple[pa.RecordBatch, int]]:
        """(batch, line of its first row), then raises on any bad row."""
        read = pacsv.ReadOptions(column_names=self.names, block_size=self.block,
                                 skip_rows=1 if self.header else 0, use_threads=False)
        parse = pacsv.ParseOptions(delimiter=self.delimiter, invalid_row_handler=self._handler,
                                   ignore_empty_lines=True)
        conv = pacsv.ConvertOptions(column_types=self.types, null_values=NULLS,
                                    strings_can_be_null=False,
                                    quoted_strings_can_be_null=False)
        line = 2 if self.header else 1
        try:
            reader = pacsv.open_csv(self.path, read_options=read, parse_options=parse,
                                    convert_options=conv)
            for batch in reader:
                yield batch, line
                line += batch.num_rows
        except pa.ArrowInvalid as exc:
            raise DataError(f"{self.path}: cannot read the {self.what} file", [
                _arrow_message(str(exc), self.path, self.header)]) from None
        except FileNotFoundError:
            raise DataError(f"{self.path}: not found") from None
        except IsADirectoryError:
            raise DataError(f"{self.path}: is a folder, not a {self.what} file") from None
        except OSError as exc:
            raise DataError(f"{self.path}: cannot read ({exc})") from None
        if self.bad:
            where = _line_numbers(self.path, [b.split(": ", 1)[1][1:-1] for b in self.bad])
            rows = [f"line {where[t]}: {b}" if (t := b.split(": ", 1)[1][1:-1]) in where
                    else b for b in self.bad]
            more = [f"... and {self.n_bad - len(rows):,} more"] if self.n_bad > len(rows) else []
            raise DataError(f"{self.path}: {self.n_bad:,} malformed row(s) in the {self.what} "
                            "file", rows + more)


def delimiter_of(header_line: str) -> str:
    """A header's separator: a tab when it has tabs and no commas, else a comma."""
    return "\t" if "\t" in header_line and "," not in header_line else ","


def _split(header_line: str, delimiter: str) -> list[str]:
    return [c.strip() for c in header_line.lstrip("\ufeff").split(delimiter)]


def _arrow_message(text: str, path: Path | None = None, header: bool = True) -> str:
    """PyArrow's conversion error, without its internal prefixes (and a hint where the
    text is a header line in a file that has none)."""
    text = text.replace("CSV conversion error to double: invalid value", "not a number:")
    text = re.sub(r"^In CSV column #(\d+): ", lambda m: f"column {int(m[1]) + 1}: ", text)
    if path is not None and not header and "not a number" in text:
        first = _first_line(path).split()
        try:
            float(first[-1])
        except (ValueError, IndexError):
            text += f" (line 1 is {' '.join(first)[:60]!r}: a header? this format has none)"
    return text


def _check_header(path: Path, have: list[str], required: tuple[str, ...]) -> None:
    missing = [c for c in required if c not in have]
    dup = sorted({c for c in have if have.count(c) > 1})
    if missing or dup:
        problems = [f"lacks column {c!r}" for c in missing] + [f"column {c!r} appears twice"
                                                              for c in dup]
        raise DataError(f"{path}: not a score file of this format (header: "
                        f"{', '.join(have)})", problems)


def _header(path: Path) -> list[str]:
    first = _first_line(path)
    return _split(first, delimiter_of(first))


def bob_chunks(p: ScoresParams) -> Iterator[RawChunk]:
    """bob's 4- or 5-column score files."""
    names = BOB[p.format]
    types = {n: pa.string() for n in names[:-1]} | {"score": pa.float64()}
    reader = TextReader(Path(p.path), names, p.chunk_rows, types, p.format)  # type: ignore
    for b, line in reader.batches():
        ref = "claimed_id" if p.format == "bob4" else "model_label"
        yield RawChunk(keys(b.column("test_label")), keys(b.column(ref)),
                       keys(b.column("real_id")), keys(b.column("claimed_id")),
                       scores(b.column("score")), line, p.format == "bob4", "model")


def csv_chunks(p: ScoresParams, path: Path | None = None, expected: str = "") -> Iterator[
        RawChunk]:
    """A CSV with ``probe_id, reference_id, score`` (and optionally both subjects)."""
    f = Path(path or p.path)  # type: ignore[arg-type]
    have = _header(f)
    _check_header(f, have, CSV_REQUIRED)
    subjects = [c in have for c in ("probe_subject", "reference_subject")]
    if any(subjects) and not all(subjects):
        raise DataError(f"{f}: give both probe_subject and reference_subject, or neither")
    types = {c: pa.string() for c in have if c != "score"} | {"score": pa.float64()}
    for b, line in TextReader(f, None, p.chunk_rows, types, "CSV score",
                              header=True).batches():
        ps = keys(b.column("probe_subject")) if all(subjects) else None
        rs = keys(b.column("reference_subject")) if all(subjects) else None
        yield RawChunk(keys(b.column("probe_id")), keys(b.column("reference_id")), ps, rs,
                       scores(b.column("score")), line)


def pyeer_chunks(p: ScoresParams) -> Iterator[tuple[RawChunk, str]]:
    """pyeer's genuine and impostor files, each row tagged with the file it came from."""
    names = ["probe_id", "reference_id", "score"]
    types = {"probe_id": pa.string(), "reference_id": pa.string(), "score": pa.float64()}
    for kind in ("genuine", "impostor"):
        f = Path(getattr(p, kind))
        first = _first_line(f)
        if len(first.split()) == 1:
            if "," in first:
                raise DataError(f"{f}: pyeer files separate fields by spaces (or tabs), not "
                                "commas: 'probe_id reference_id score' per line")
            raise DataError(f"{f}: one value per line (pyeer's bare scores or histogram "
                            "format) names no one; fairbench needs 'probe_id reference_id "
                            "score' lines to find each comparison's groups")
        for b, line in TextReader(f, names, p.chunk_rows, types, f"pyeer {kind}").batches():
            yield RawChunk(keys(b.column("probe_id")), keys(b.column("reference_id")), None,
                           None, scores(b.column("score")), line), kind


def _id_list(path: Path, what: str) -> list[str]:
    try:
        ids = [x.strip() for x in Path(path).read_text(encoding="utf-8-sig").splitlines()]
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read the {what} ids ({exc.strerror})") from None
    ids = [x for x in ids if x]
    dup = sorted({x for x in ids if ids.count(x) > 1}) if len(ids) < 200_000 else \
        [x for x, n in zip(*np.unique(ids, return_counts=True)) if n > 1]
    if dup:
        raise DataError(f"{path}: {what} ids listed twice: {', '.join(map(str, dup[:10]))}")
    return ids


def _npy(path: Path, what: str) -> np.ndarray:
    try:
        a = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read the {what} ({exc})") from None
    if not isinstance(a, np.ndarray):  # an .npz archive of arrays, not one array
        raise DataError(f"{path}: the {what} must be one .npy array, not an archive of "
                        "several (.npz)")
    if a.ndim != 2:
        raise DataError(f"{path}: the {what} must be a 2-D array, not shape {a.shape}")
    return a


def matrix_chunks(p: ScoresParams) -> Iterator[RawChunk]:
    """A similarity matrix: row ids probe, column ids reference; self-comparisons skipped."""
    f = Path(p.path)  # type: ignore[arg-type]
    if f.is_dir():
        raise DataError(f"{f}: is a folder, not a matrix file")
    if f.suffix.lower() == ".npy":
        m = _npy(f, "score matrix")
        if m.dtype.kind not in "fiu":
            raise DataError(f"{f}: the score matrix holds {m.dtype}, not numbers")
        rows, cols = _id_list(p.rows, "row"), _id_list(p.columns, "column")  # type: ignore
        if m.shape != (len(rows), len(cols)):
            raise DataError(f"{f}: the matrix is {m.shape[0]} x {m.shape[1]}, the id lists "
                            f"{len(rows)} rows x {len(cols)} columns")
        blocks = ((r0, np.asarray(m[r0:r0 + step], dtype=np.float64), rows[r0:r0 + step])
                  for step in [max(1, p.chunk_rows // max(1, len(cols)))]
                  for r0 in range(0, len(rows), step))
    else:
        if f.suffix.lower() not in (".csv", ".tsv", ".txt"):
            raise DataError(f"{f}: a matrix is a .npy array (with rows and columns id files) "
                            "or a comma- or tab-separated text file, not "
                            f"{f.suffix or 'a file without a suffix'}")
        head = _header(f)
        cols = head[1:]
        if not cols:
            raise DataError(f"{f}: a CSV matrix needs a header of column ids (comma- or "
                            "tab-separated)")
        if len(set(cols)) != len(cols):
            raise DataError(f"{f}: a column id appears twice in the header")
        types = {c: pa.float64() for c in cols} | {head[0]: pa.string()}

        def csv_blocks() -> Iterator[tuple[int, np.ndarray, list[str]]]:
            r0, seen = 0, set()
            reader = TextReader(f, None, p.chunk_rows // max(1, len(cols)) + 1, types,
                                "matrix", row_bytes=24 * (len(cols) + 1), header=True)
            for b, _ in reader.batches():
                ids = [str(x).strip() for x in b.column(0).to_pylist()]
                again = [x for x in ids if x in seen]
                if again or len(set(ids)) != len(ids):
                    raise DataError(f"{f}: row id {(again or ids)[0]!r} appears twice")
                seen.update(ids)
                vals = np.column_stack([scores(b.column(k + 1)) for k in range(len(cols))])
                yield r0, vals, ids
                r0 += len(ids)
        blocks = csv_blocks()
    mask = _npy(Path(p.mask), "mask") if p.mask is not None else None
    col_codes = np.arange(len(cols), dtype=np.int64)
    upper = p.triangle == "upper"
    square = None  # whether rows and columns are one id list (known after the first block)
    seen_rows = 0
    for r0, vals, ids in blocks:
        vals = np.where(np.isfinite(vals), vals, np.nan)
        made = np.ones(vals.shape, dtype=bool)
        if mask is not None:
            if mask.shape[1] != len(cols) or r0 + len(ids) > mask.shape[0]:
                raise DataError(f"{p.mask}: the mask is {mask.shape}, the matrix has "
                                f"{len(cols)} columns and more rows")
            made = np.asarray(mask[r0:r0 + len(ids)]) != 0
        same = np.asarray(ids, dtype=object)[:, None] == np.asarray(cols, dtype=object)[None]
        made &= ~same
        if square is None or square:
            square = list(ids) == list(cols[r0:r0 + len(ids)])
        if square and upper:  # each pair once: column after row
            made &= np.arange(len(cols))[None, :] > (r0 + np.arange(len(ids)))[:, None]
        seen_rows = r0 + len(ids)
        r, c = np.nonzero(made)
        yield RawChunk(Keys(r.astype(np.int64), list(ids)), Keys(col_codes[c], list(cols)),
                       None, None, vals[r, c], r0 + 2)
    if mask is not None and mask.shape[0] != seen_rows:
        raise DataError(f"{p.mask}: the mask has {mask.shape[0]} rows, the matrix "
                        f"{seen_rows}")


def candidate_chunks(p: ScoresParams) -> Iterator[tuple[Keys, Keys, np.ndarray, Keys,
                                                          np.ndarray, int]]:
    """(search ids, probe ids, rank, candidate ids, score, first line) per chunk of a 1:N
    candidate list; an empty candidate id marks a search that returned nobody."""
    f = Path(p.path)  # type: ignore[arg-type]
    have = _header(f)
    _check_header(f, have, CANDIDATES)
    types = {c: pa.string() for c in have} | {"rank": pa.float64(), "score": pa.float64()}
    for b, line in TextReader(f, None, p.chunk_rows, types, "candidate list",
                              header=True).batches():
        rank = np.asarray(b.column("rank").to_numpy(zero_copy_only=False), dtype=np.float64)
        yield (keys(b.column("search_id")), keys(b.column("probe_id")), rank,
               keys(b.column("candidate_id")), scores(b.column("score")), line)


def search_list(p: ScoresParams) -> tuple[list[str], list[str]]:
    """(search ids, probe ids) of every search made, from ``params.searches``."""
    f = Path(p.searches)  # type: ignore[arg-type]
    have = _header(f)
    _check_header(f, have, ("search_id", "probe_id"))
    sid: list[str] = []
    pid: list[str] = []
    for b, _ in TextReader(f, None, p.chunk_rows, {c: pa.string() for c in have},
                           "search list", header=True).batches():
        sid += [str(x) for x in b.column("search_id").to_pylist()]
        pid += [str(x) for x in b.column("probe_id").to_pylist()]
    return sid, pid


def gallery_ids(p: ScoresParams) -> list[str]:
    """The enrolled image or subject ids of a candidate list's gallery."""
    return _id_list(p.gallery, "gallery")  # type: ignore[arg-type]
