"""Fixtures in the exact layouts datasets are distributed in, with london16's pixels.

Each builder writes a tiny copy of a distribution (folders, file names, metadata files with
their real keys and spellings) into ``dst``; the labels are stand-ins (a layout test, not a
claim about anyone in london16).
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path


def build_folders(dst: Path, london16: Path) -> Path:
    """A folder per identity and an attributes.csv sidecar."""
    dst.mkdir(parents=True, exist_ok=True)
    with open(london16 / "labels.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    people = {}
    for r in rows:
        people.setdefault(r["face_id"], r)
        d = dst / f"person{r['face_id']}"
        d.mkdir(exist_ok=True)
        shutil.copy(london16 / r["file"], d / r["file"])
    with open(dst / "attributes.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["subject_id", "eth", "sex"])
        for fid, r in people.items():
            w.writerow([f"person{fid}", r["eth"], r["sex"]])
    return dst
