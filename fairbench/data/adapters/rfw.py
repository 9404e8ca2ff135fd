"""Racial Faces in-the-Wild (RFW; Wang et al., ICCV 2019), its test set as distributed.

``test.tar.gz`` unpacked into ROOT (``ROOT/test/...``; ROOT may also be ``test/`` itself)::

    test/data/<Race>/<mid>/<mid>_<NNNN>.jpg      Race: African, Asian, Caucasian, Indian
    test/txts/<Race>/<Race>_images.txt           "<mid>_<NNNN>.jpg<TAB><label>"
    test/txts/<Race>/<Race>_pairs.txt            "<mid><TAB><n1><TAB><n2>" (genuine) or
                                                 "<mid1><TAB><n1><TAB><mid2><TAB><n2>"

Identity ids (Freebase machine ids) can contain underscores, so file names split on the
last one; 12-13 ids occur under two races, so a person is keyed by race and id. Options:
``races`` (default all four), ``protocol``: ``all_pairs`` (every image pair of the
chosen races) or ``official_pairs`` (the dataset's own 6,000 pairs per race, whose
genuine/impostor labels are checked against the identities). Layout sources: the card.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from fairbench.data.adapters import Loaded, PairList, option, unknown_options
from fairbench.data.manifest import Manifest
from fairbench.errors import DataError

RACES = ("African", "Asian", "Caucasian", "Indian")


def base_folder(root: Path) -> Path:
    """The folder holding ``data/`` and ``txts/`` (ROOT/test or ROOT)."""
    for cand in (root / "test", root):
        if (cand / "txts").is_dir() and (cand / "data").is_dir():
            return cand
    raise DataError(f"{root}: no RFW test set here (expected {root / 'test' / 'txts'} and "
                    f"{root / 'test' / 'data'}; unpack test.tar.gz into {root})")


def _lines(path: Path, problems: list[str]) -> list[str]:
    try:
        return [ln.rstrip("\r\n") for ln in path.read_text(encoding="utf-8").splitlines()]
    except FileNotFoundError:
        problems.append(f"{path}: missing")
    except UnicodeDecodeError:
        problems.append(f"{path}: not UTF-8 text")
    return []


def _images(base: Path, race: str, problems: list[str]) -> list[dict[str, str]]:
    path = base / "txts" / race / f"{race}_images.txt"
    rows = []
    for k, line in enumerate(_lines(path, problems), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        name = fields[0].strip()
        mid, sep, rest = name.rpartition("_")
        if not sep or not name.endswith(".jpg") or len(fields) != 2:
            problems.append(f"{path} line {k}: expected '<mid>_<NNNN>.jpg<TAB><label>', got "
                            f"{line[:80]!r}")
            continue
        rows.append({"image_id": f"{race}/{name[:-4]}", "path": f"data/{race}/{mid}/{name}",
                     "subject_id": f"{race}/{mid}", "race": race})
    return rows


def _pairs(base: Path, race: str, known: set[str], problems: list[str]
           ) -> tuple[list[str], list[str], list[bool]]:
    path = base / "txts" / race / f"{race}_pairs.txt"
    a, b, mated = [], [], []
    for k, line in enumerate(_lines(path, problems), 1):
        f = line.split("\t")
        if not line.strip():
            continue
        try:
            if len(f) == 3:
                ids = (f"{race}/{f[0]}_{int(f[1]):04d}", f"{race}/{f[0]}_{int(f[2]):04d}")
            elif len(f) == 4:
                ids = (f"{race}/{f[0]}_{int(f[1]):04d}", f"{race}/{f[2]}_{int(f[3]):04d}")
            else:
                raise ValueError
        except ValueError:
            problems.append(f"{path} line {k}: expected 3 (genuine) or 4 (impostor) "
                            f"tab-separated fields, got {line[:80]!r}")
            continue
        missing = [i for i in ids if i not in known]
        if missing:
            problems.append(f"{path} line {k}: no image {', '.join(missing)} in "
                            f"{race}_images.txt")
            continue
        a.append(ids[0])
        b.append(ids[1])
        mated.append(len(f) == 3)
    return a, b, mated


def load(root: Path, card: Any, options: Mapping[str, Any]) -> Loaded:
    unknown_options(options, ("races", "protocol"), "rfw")
    races = option(options, "races", list(RACES), (list,))
    protocol = option(options, "protocol", "all_pairs", (str,), ("all_pairs",
                                                                 "official_pairs"))
    bad = [r for r in races if r not in RACES]
    if bad:
        raise DataError(f"dataset.options.races: {bad} (RFW's races: {', '.join(RACES)})")
    base = base_folder(root)
    problems: list[str] = []
    rows = [r for race in races for r in _images(base, race, problems)]
    known = {r["image_id"] for r in rows}
    pairs = None
    if protocol == "official_pairs":
        a, b, mated = [], [], []
        for race in races:
            pa, pb, pm = _pairs(base, race, known, problems)
            a += pa
            b += pb
            mated += pm
        pairs = PairList(a, b, ", ".join(str(base / "txts" / r / f"{r}_pairs.txt")
                                        for r in races), mated)
    if problems:
        raise DataError(f"{base}: not an RFW test set fairbench can read", problems[:50])
    if not rows:
        raise DataError(f"{base}: no images listed in txts/<Race>/<Race>_images.txt")
    notes = [f"RFW protocol: {protocol} over {', '.join(races)}"]
    return Loaded(Manifest(pd.DataFrame(rows), base, str(base / "txts")), pairs, notes=notes)
