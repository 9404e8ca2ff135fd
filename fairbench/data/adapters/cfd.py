"""The Chicago Face Database 3.0 (main set, CFD-MR and CFD-INDIA) as it is distributed.

::

    CFD Version 3.0/                      ROOT may be this folder or the one holding it
      CFD 3.0 Norming Data and Codebook.xlsx
      Images/CFD/<Model>/CFD-<Model>-<nnn>-<EXPR>.jpg        a folder per model
      Images/CFD-MR/CFD-M<G>-<nnn>-<nnn>-N.jpg               flat, neutral only
      Images/CFD-INDIA/CFD-I<G>-<nnn>-<nnn>-N.jpg            flat, neutral only, except
      Images/CFD-INDIA/<folder>/CFD-I<G>-<nnn>-<nnn>-{1,2}-N.jpg   models with two shots

File names are ``CFD-<R><G>-<n1>-<n2>[-<rep>]-<EXPR>.jpg``; ``EXPR`` is N (neutral),
A (angry), F (fear), HC (happy, closed mouth) or HO (happy, open mouth); most models have
only N. The workbook's sheets are found by name, never by position (CFD 2.x put the norming
data first, 3.0 the codebook): ``CFD U.S. Norming Data`` (main set), ``CFD-MR U.S. Norming
Data``, ``CFD-I U.S. Norming Data`` and ``CFD-I INDIA Norming Data`` (the India set rated by
U.S. and by Indian raters). A norming sheet has title rows, a VarID row, the VarLabel row
(first cell ``Model``, row 8 in 3.0; found by that cell, not by its number), a sub-header
row with an empty first cell, then one row per model; columns with an empty VarLabel (the
paired SD columns) are ignored. Ratings are of each model's neutral photograph.

Images join to rows by the model key: ``AF-200`` in the main set and CFD-MR (the file's
``<R><G>-<n1>``), ``IF601-519`` in CFD-INDIA (``<R><G><n1>-<n2>``, no dash after IF/IM, the
photo number included, ``-1`` for a two-shot model). Two documented quirks are handled by
name, each recorded in the notes: the ``-2`` shot of a two-shot India model has no row and
is labelled from its ``-1`` row (same person, same photo number); the file
``CFD-IM-719-221-N.jpg`` belongs to row ``IM719-220`` (:data:`KNOWN_KEY_FIXES`). Any other
image without a row, a row without an image, a missing sheet or column, a ``.jpg`` whose
name is not a CFD name: all listed in one error. ``subject_id`` is the norming row's key.

Options: ``parts`` (default all three), ``expressions`` (default all five),
``india_ratings`` (``U.S.`` or ``India``: which CFD-INDIA sheet ``age_rated`` comes from).

Sources: Ma, Correll & Wittenbrink (2015) and the two extension papers (the card's
citation); the loaders in SHEscher/FaceSim3D (code/facesim3d/modeling/
face_attribute_processing.py: sheet names, header rows), aalok-sathe/chicago-faces-neural
(2.0.3 layout) and the chicagofaces.org pages listed in the card's ``sources``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from fairbench.data.adapters import Loaded, option, unknown_options
from fairbench.data.manifest import Manifest
from fairbench.errors import DataError

TOP = "CFD Version 3.0"
WORKBOOK = "CFD 3.0 Norming Data and Codebook.xlsx"
PARTS = ("CFD", "CFD-MR", "CFD-INDIA")
EXPRESSIONS = ("N", "A", "F", "HC", "HO")
RATERS = ("U.S.", "India")
SHEETS = {("CFD", "U.S."): "CFD U.S. Norming Data",
          ("CFD-MR", "U.S."): "CFD-MR U.S. Norming Data",
          ("CFD-INDIA", "U.S."): "CFD-I U.S. Norming Data",
          ("CFD-INDIA", "India"): "CFD-I INDIA Norming Data"}
FILE = re.compile(r"^CFD-([A-Z])([A-Z])-(\d+)-(\d+)(?:-(\d+))?-([A-Z]{1,2})\.jpg$")
#: A file's key -> the norming row it belongs to (a known mismatch in CFD 3.0)
KNOWN_KEY_FIXES = {"IM719-221": "IM719-220"}
#: VarLabel -> manifest column
COLUMNS = {"EthnicitySelf": "ethnicity", "GenderSelf": "gender", "AgeSelf": "age",
           "AgeRated": "age_rated"}
#: VarLabels a sheet must have; AgeSelf is filled for CFD-MR and CFD-INDIA only (the main
#: set's models gave no age), so the main sheet may lack it
REQUIRED = {"CFD": ("EthnicitySelf", "GenderSelf", "AgeRated"),
            "CFD-MR": ("EthnicitySelf", "GenderSelf", "AgeSelf", "AgeRated"),
            "CFD-INDIA": ("EthnicitySelf", "GenderSelf", "AgeSelf", "AgeRated")}
HEADER_SEARCH = 30  # rows searched for the VarLabel row ("Model" in column A)

LICENCE_NOTICE = (
    "CFD licence: the terms of use, as copied into a third-party public loader (check them "
    "against the current terms at https://www.chicagofaces.org), allow non-commercial "
    "scientific research only, forbid redistribution and publication of the photographs, "
    "and forbid attempts to identify the people shown 'including, but not limited to, the "
    "use of CFD photographs in facial recognition software'. Running a face-recognition "
    "benchmark on CFD therefore needs the CFD maintainers' written permission "
    "(University of Chicago, Center for Decision Research); keep that permission with "
    "these results and do not publish the images.")


def _text(v: Any) -> str:
    """A cell as text: integral numbers without '.0', None as ''."""
    if v is None:
        return ""
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    return str(v).strip()


def _base(root: Path) -> Path:
    """The ``CFD Version 3.0`` folder: ``root`` itself or its child of that name."""
    return root / TOP if (root / TOP).is_dir() else root


def _read_sheet(ws: Any, where: str, need: tuple[str, ...],
                problems: list[str]) -> dict[str, dict[str, str]] | None:
    """Rows of a norming sheet by model key, with the columns of :data:`COLUMNS`."""
    rows = ws.iter_rows(values_only=True)
    labels: list[str] | None = None
    for _ in range(HEADER_SEARCH):
        cells = next(rows, None)
        if cells is None:
            break
        if cells and _text(cells[0]) == "Model":
            labels = [_text(c) for c in cells]
            break
    if labels is None:
        problems.append(f"{where}: no header row (a VarLabel row whose first cell is "
                        f"'Model') in the first {HEADER_SEARCH} rows")
        return None
    index: dict[str, int] = {}
    for k, lab in enumerate(labels):
        if lab in COLUMNS:
            if lab in index:
                problems.append(f"{where}: column {lab!r} appears twice")
            index.setdefault(lab, k)
    lacking = [c for c in need if c not in index]
    if lacking:
        problems.append(f"{where}: no column {', '.join(map(repr, lacking))} in the "
                        "header row (the VarLabel row starting 'Model')")
        return None
    out: dict[str, dict[str, str]] = {}
    for cells in rows:
        key = _text(cells[0]) if cells else ""
        if not key:  # the sub-header row, blank rows
            continue
        if key in out:
            problems.append(f"{where}: model {key!r} has two rows")
            continue
        out[key] = {col: _text(cells[index[lab]]) if lab in index and index[lab] < len(cells)
                    else "" for lab, col in COLUMNS.items()}
    if not out:
        problems.append(f"{where}: no model rows below the header")
    return out


def _read_workbook(path: Path, sheets: dict[str, str], problems: list[str]
                   ) -> dict[str, dict[str, dict[str, str]]]:
    """part -> rows by key, for the parts' sheets (problems collected)."""
    import openpyxl

    if not path.is_file():
        near = sorted(p.name for p in path.parent.glob("*.xls*")) if path.parent.is_dir() \
            else []
        problems.append(f"{path}: the norming workbook is missing"
                        + (f" (found {', '.join(near)}; CFD 2.x workbooks are not supported)"
                           if near else ""))
        return {}
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # a damaged or non-xlsx file: openpyxl/zipfile errors vary
        problems.append(f"{path}: not a readable .xlsx workbook ({type(exc).__name__}: {exc})")
        return {}
    out = {}
    try:
        for part, name in sheets.items():
            where = f"{path.name}, sheet {name!r}"
            if name not in wb.sheetnames:
                problems.append(f"{path}: no sheet {name!r} (it has: "
                                f"{', '.join(map(repr, wb.sheetnames))})")
                continue
            rows = _read_sheet(wb[name], where, REQUIRED[part], problems)
            if rows is not None:
                out[part] = rows
    finally:
        wb.close()
    return out


def _list(options: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> list[str]:
    value = option(options, key, list(allowed), (list, str))
    values = [value] if isinstance(value, str) else list(value)
    bad = [v for v in values if v not in allowed]
    if bad or not values:
        raise DataError(f"dataset.options.{key}: expected a non-empty list of "
                        f"{', '.join(allowed)}; got {value!r}")
    return list(dict.fromkeys(values))


def load(root: Path, card: Any, options: Mapping[str, Any]) -> Loaded:
    unknown_options(options, ("parts", "expressions", "india_ratings"), "cfd")
    parts = [p for p in PARTS if p in _list(options, "parts", PARTS)]
    expressions = _list(options, "expressions", EXPRESSIONS)
    raters = option(options, "india_ratings", "U.S.", (str,), RATERS)
    base = _base(root)
    if not (base / WORKBOOK).exists() and not (base / "Images").is_dir():
        raise DataError(f"{root}: not a CFD 3.0 distribution (expected {TOP}/ holding "
                        f"{WORKBOOK} and Images/, or that folder itself)")
    problems: list[str] = []
    sheets = {p: SHEETS[(p, raters if p == "CFD-INDIA" else "U.S.")] for p in parts}
    book = _read_workbook(base / WORKBOOK, sheets, problems)
    rows: list[dict[str, str]] = []
    used: dict[str, set[str]] = defaultdict(set)
    replicates, fixed = [], []
    for part in parts:
        folder = base / "Images" / part
        if not folder.is_dir():
            problems.append(f"{folder}: no such folder (dataset.options.parts has {part})")
            continue
        table = book.get(part)
        where = f"{WORKBOOK}, sheet {sheets[part]!r}"
        for f in sorted(folder.rglob("*")):
            if not f.is_file() or f.name.startswith(".") or f.suffix.lower() != ".jpg":
                continue
            rel = f.relative_to(base).as_posix()
            m = FILE.match(f.name)
            if m is None or m.group(6) not in EXPRESSIONS:
                problems.append(f"{rel}: not a CFD image name (CFD-<R><G>-<nnn>-<nnn>"
                                f"[-<shot>]-<{'|'.join(EXPRESSIONS)}>.jpg)")
                continue
            r, g, n1, n2, shot, expr = m.groups()
            if part == "CFD-INDIA":
                key = f"{r}{g}{n1}-{n2}" + (f"-{shot}" if shot else "")
            else:
                key = f"{r}{g}-{n1}"
                if part == "CFD" and f.parent != folder and f.parent.name != key:
                    problems.append(f"{rel}: in folder {f.parent.name!r}, but its model is "
                                    f"{key!r}")
                    continue
            if table is None:
                continue  # the sheet's problem is already listed
            row_key = key
            if key not in table and part == "CFD-INDIA" and shot == "2" \
                    and key[:-1] + "1" in table:
                row_key = key[:-1] + "1"
                replicates.append(f"{f.name} -> {row_key}")
            elif key not in table and KNOWN_KEY_FIXES.get(key) in table:
                row_key = KNOWN_KEY_FIXES[key]
                fixed.append(f"{f.name} -> {row_key}")
            elif key not in table:
                problems.append(f"{rel}: no row {key!r} in {where}")
                continue
            used[part].add(row_key)
            if expr in expressions:
                rows.append({"image_id": f.stem, "path": rel, "subject_id": row_key,
                             "part": part, **table[row_key], "expression": expr})
        for key in sorted(set(table or ()) - used[part]):
            problems.append(f"{where}: model {key!r} has no image under Images/{part}/")
    if problems:
        raise DataError(f"{root}: not a CFD 3.0 layout fairbench can read", problems)
    if not rows:
        raise DataError(f"{root}: no images of parts {', '.join(parts)} with expressions "
                        f"{', '.join(expressions)}")
    frame = pd.DataFrame(rows)
    cols = ["image_id", "path", "subject_id", "part", "ethnicity", "gender", "age",
            "age_rated", "expression"]
    frame = frame[cols]
    return Loaded(Manifest(frame, base, str(base / WORKBOOK)),
                  notes=_notes(frame, parts, expressions, raters, replicates, fixed))


def _notes(frame: pd.DataFrame, parts: list[str], expressions: list[str], raters: str,
           replicates: list[str], fixed: list[str]) -> list[str]:
    per = frame.groupby("subject_id").size()
    notes = [LICENCE_NOTICE,
             f"CFD parts {', '.join(parts)}, expressions {', '.join(expressions)}: "
             f"{len(frame):,} images of {len(per):,} models; {int((per > 1).sum()):,} "
             "models have more than one image and only they give mated pairs (one session "
             "per model: mated pairs differ by expression or shot only).",
             "CFD norming values (age_rated) are ratings of each model's neutral photograph, "
             "also on the model's expression images."]
    if "CFD-INDIA" in parts:
        notes.append(f"CFD-INDIA age_rated: from the sheet {SHEETS[('CFD-INDIA', raters)]!r} "
                     f"({raters} raters; dataset.options.india_ratings); the main set and "
                     "CFD-MR were rated by U.S. raters.")
    if replicates:
        notes.append("CFD-INDIA second shots without a norming row, kept and labelled from "
                     "the first shot's row (same person, same photo number): "
                     + "; ".join(replicates))
    if fixed:
        notes.append("CFD files whose name differs from their norming row (a known mismatch "
                     "in CFD 3.0), joined to that row: " + "; ".join(fixed))
    return notes
