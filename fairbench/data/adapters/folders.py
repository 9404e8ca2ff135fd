"""The folder-per-identity layout many teams keep their test sets in.

::

    ROOT/
      attributes.csv        one row per person: subject_id (the folder name) + attributes
      alice/001.jpg
      alice/002.jpg
      bob/portrait.png

Images are the ``.jpg``, ``.jpeg``, ``.png``, ``.bmp`` and ``.webp`` files directly in each
person's folder (sorted by name); ``image_id`` is ``<folder>/<file stem>``. Options:
``sidecar`` (the attributes file, default ``attributes.csv``; CSV or Parquet),
``label_sources`` (attribute -> self-reported | annotated | derived, default unspecified).
A folder without a sidecar row, a row without a folder and an empty folder are errors,
listed together.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from fairbench.data.adapters import Loaded, option, unknown_options
from fairbench.data.manifest import Manifest, read_table
from fairbench.errors import DataError

IMAGES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
SOURCES = ("self-reported", "annotated", "derived")


def load(root: Path, card: Any, options: Mapping[str, Any]) -> Loaded:
    unknown_options(options, ("sidecar", "label_sources"), "folders")
    sidecar = root / option(options, "sidecar", "attributes.csv", (str,))
    sources = option(options, "label_sources", {}, (dict,))
    bad = {k: v for k, v in sources.items() if v not in SOURCES}
    if bad:
        raise DataError(f"dataset.options.label_sources: {bad} (each one of "
                        f"{', '.join(SOURCES)})")
    table = read_table(sidecar)
    if "subject_id" not in table.columns:
        raise DataError(f"{sidecar}: needs a subject_id column (the folder names); has "
                        f"{', '.join(table.columns)}")
    people = {str(s).strip(): r for s, r in zip(table["subject_id"], table.to_dict("records"))}
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    problems, rows = [], []
    for d in folders:
        files = sorted(f for f in d.iterdir() if f.is_file() and f.suffix.lower() in IMAGES)
        if d.name not in people:
            problems.append(f"{d}: a person's folder with no row in {sidecar.name}")
            continue
        if not files:
            problems.append(f"{d}: no images ({', '.join(IMAGES)})")
        for f in files:
            rows.append({**{k: str(v).strip() for k, v in people[d.name].items()},
                         "image_id": f"{d.name}/{f.stem}", "path": f"{d.name}/{f.name}",
                         "subject_id": d.name})
    names = {d.name for d in folders}
    problems += [f"{sidecar}: subject {s!r} has no folder under {root}" for s in people
                 if s not in names]
    if problems:
        raise DataError(f"{root}: not a folder-per-identity layout fairbench can read",
                        problems[:50])
    if not rows:
        raise DataError(f"{root}: no identity folders")
    frame = pd.DataFrame(rows)
    first = ["image_id", "path", "subject_id"]
    frame = frame[first + [c for c in frame.columns if c not in first]]
    return Loaded(Manifest(frame, root, str(sidecar)), label_sources=dict(sources))
