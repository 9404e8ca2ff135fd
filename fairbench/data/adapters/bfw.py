"""Balanced Faces in the Wild (BFW; Robinson et al., CVPRW 2020) as distributed.

ROOT holds the release (``BFW-Release.zip`` unpacked: ``bfw-datatable.csv``,
``bfw-faces-cropped.zip`` and its ``.md5``; or the legacy ``bfw-v0.1.5-datatable.csv``) and
the faces, i.e. somewhere below ROOT the folder holding the 8 subgroup folders
(``asian_females`` ... ``white_males``) with ``<subgroup>/<VGGFace2 id>/<image>.jpg``. The
path inside the zip varies between releases, so the folder is found, not assumed.

The datatable is the official pair list: ``fold, p1, p2, label, id1, id2, att1, att2,
<model scores>, a1, a2, g1, g2, e1, e2``; ``p1``/``p2`` are relative to the subgroup
folder's parent; ``e`` (A, B, I, W), ``g`` (F, M) and ``att`` (subgroup) are the labels,
kept as spelled. Options: ``protocol`` (``all_pairs`` or ``official_pairs``),
``exclude_reported_errors`` (default true: the three images the authors report as a wrong
identity or a cartoon are left out, with a note). A genuine label that disagrees with the
subject folders is an error; the table's repeated rows are counted in a note and kept
(each row is a comparison of the protocol).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from fairbench.data.adapters import Loaded, PairList, option, unknown_options
from fairbench.data.manifest import Manifest, read_table
from fairbench.errors import DataError

SUBGROUPS = ("asian_females", "asian_males", "black_females", "black_males",
             "indian_females", "indian_males", "white_females", "white_males")
COLUMNS = ("fold", "p1", "p2", "label", "att1", "att2", "g1", "g2", "e1", "e2")
#: reported in the BFW repository's data/README.md ("Reported bugs")
REPORTED = ("asian_females/n002509/0139_03.jpg", "white_females/n003391/0017_02.jpg",
            "asian_males/n006741/0275_02.jpg")


def datatable(root: Path) -> Path:
    found = sorted(root.glob("bfw-datatable.csv")) + sorted(root.glob("bfw-v*-datatable.csv"))
    if not found:
        raise DataError(f"{root}: no BFW datatable (bfw-datatable.csv or "
                        "bfw-v<version>-datatable.csv); unpack BFW-Release.zip here")
    return found[0]


def faces_folder(root: Path) -> Path:
    """The folder holding the subgroup folders, searched below ROOT."""
    if all((root / g).is_dir() for g in SUBGROUPS[:1]):
        return root
    for hit in sorted(root.rglob(SUBGROUPS[0])):
        if hit.is_dir() and len(hit.relative_to(root).parts) <= 8:
            return hit.parent
    zipped = " (bfw-faces-cropped.zip is not unpacked: unpack it here, or use `fairbench " \
        "datasets import bfw`)" if (root / "bfw-faces-cropped.zip").is_file() else ""
    raise DataError(f"{root}: no folder of BFW faces ({', '.join(SUBGROUPS[:2])}, ...) "
                    f"below it{zipped}")


def load(root: Path, card: Any, options: Mapping[str, Any]) -> Loaded:
    unknown_options(options, ("protocol", "exclude_reported_errors"), "bfw")
    protocol = option(options, "protocol", "all_pairs", (str,), ("all_pairs",
                                                                 "official_pairs"))
    exclude = option(options, "exclude_reported_errors", True, (bool,))
    table_path = datatable(root)
    faces = faces_folder(root)
    t = read_table(table_path)
    missing = [c for c in COLUMNS if c not in t.columns]
    if missing:
        raise DataError(f"{table_path}: lacks column(s) {', '.join(missing)} (has "
                        f"{', '.join(t.columns)})")
    notes = [f"BFW protocol: {protocol}; pairs from {table_path.name}"]
    if exclude:
        drop = t.p1.isin(REPORTED) | t.p2.isin(REPORTED)
        if drop.any():
            gone = (set(t.p1[drop]) | set(t.p2[drop])) & set(REPORTED)
            notes.append(f"left out {len(gone)}"
                         f" image(s) the BFW authors report as mislabelled ({int(drop.sum()):,}"
                         " pairs)")
        t = t[~drop]
    problems: list[str] = []
    images: dict[str, dict[str, str]] = {}
    for side in ("1", "2"):
        for p, att, g, e in zip(t[f"p{side}"], t[f"att{side}"], t[f"g{side}"], t[f"e{side}"]):
            parts = p.split("/")
            if len(parts) != 3 or parts[0] != att:
                problems.append(f"{table_path}: {p!r} is not <subgroup>/<subject>/<file> of "
                                f"subgroup {att!r}")
                continue
            row = {"image_id": p.rsplit(".", 1)[0], "path": p, "subject_id": "/".join(
                parts[:2]), "ethnicity": e, "gender": g, "subgroup": att}
            seen = images.setdefault(p, row)
            if seen != row:
                problems.append(f"{table_path}: {p!r} is labelled both {seen['ethnicity']}/"
                                f"{seen['gender']} and {e}/{g}")
    if problems:
        raise DataError(f"{table_path}: not a BFW datatable fairbench can read",
                        sorted(set(problems))[:50])
    same = t.p1.str.rsplit("/", n=1).str[0] == t.p2.str.rsplit("/", n=1).str[0]
    wrong = same != (t.label.astype(str).str.strip() == "1")
    if wrong.any():
        rows = (wrong[wrong].index[:10] + 2).tolist()
        raise DataError(f"{table_path}: {int(wrong.sum()):,} rows whose label disagrees with "
                        "the subject folders", [f"row {r}" for r in rows])
    repeated = int(t.duplicated(subset=["p1", "p2"]).sum())
    if repeated:
        notes.append(f"{repeated:,} pairs appear more than once in {table_path.name}; "
                     "each row is kept as one comparison")
    pairs = None
    if protocol == "official_pairs":
        pairs = PairList([p.rsplit(".", 1)[0] for p in t.p1],
                         [p.rsplit(".", 1)[0] for p in t.p2], str(table_path),
                         [bool(x) for x in same])
    frame = pd.DataFrame(list(images.values())).sort_values("image_id", ignore_index=True)
    return Loaded(Manifest(frame, faces, str(table_path)), pairs, notes=notes)
