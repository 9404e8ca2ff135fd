"""NIST Special Database 32, Multiple Encounter Dataset II (MEDS-II), as distributed.

::

    NIST_SD32_MEDS-II_face/        the unpacked NIST_SD32_MEDS-II_face.zip; ROOT may be this
      subject_metadata.csv         folder or the one holding it
      image_pose.csv               (optional: checked against subject_metadata when present)
      data/aa/S001-01-t10_01.jpg   chunks of about 200 images (aa..ag), not a folder per person

Image names are ``S<subject>-<encounter>-t10_<record>.jpg`` (the ANSI/NIST Type-10 record
within the encounter). ``subject_metadata.csv`` (CRLF, one row per image) names the image
by ``img_dname`` (``./data/aa``) and ``img_name``; ``image_pose.csv`` calls the same column
``img_fname``. Columns read: ``subject_id``, ``enc_num``, ``img_num`` (checked against the
file name), ``sex`` (M, F), ``rac`` (A, B, I, U, W; U is the record's unknown),
``age_phd`` (years at the photo; 0 means no date, written as missing) and ``label`` (the
human-reviewed pose bin). Some images are grey-scale JPEGs; matchers read them as colour.

``subject_id`` is ``S<nnn>`` as in the file names. Options: ``poses`` (pose bins to keep,
default ``[Frontal]``), ``metadata`` (``subject_metadata.csv``'s path, relative to the
root, if it is kept elsewhere). A missing file or column, an image without a row, a row
without an image, a row disagreeing with its file name: all listed in one error.

Sources: biometrics/openbr data/MEDS/truth/subject_metadata.csv and image_pose.csv (the
headers, values and CRLF line ends), biometrics/openbr scripts/downloadMEDS.sh and
usnistgov/frvt 1N_2018/validation/scripts/get_images.sh (the zip's data/*/ layout),
bioidiap/bob.bio.face src/bob/bio/face/database/meds.py (race codes); see the card.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from fairbench.data.adapters import Loaded, option, unknown_options
from fairbench.data.manifest import Manifest
from fairbench.errors import DataError

TOP = "NIST_SD32_MEDS-II_face"
ZIP = f"{TOP}.zip"
SUBJECTS = "subject_metadata.csv"
POSE_FILE = "image_pose.csv"
POSES = ("Frontal", "Left Angle", "Right Angle", "Left Profile", "Right Profile")
NAME = re.compile(r"^S(\d+)-(\d+)-t10_(\d+)\.jpg$")
DNAME = re.compile(r"^(?:\./)?(data/[^/]+)$")
NEED = ("img_dname", "img_name", "subject_id", "enc_num", "img_num", "age_phd", "no_phd",
        "inv_phd", "sex", "rac", "label")
NEED_POSE = ("img_dname", "img_fname", "human_review_bin_label")


def _base(root: Path) -> Path:
    return root / TOP if (root / TOP).is_dir() else root


def _read_csv(path: Path, need: tuple[str, ...], problems: list[str]
              ) -> list[tuple[int, dict[str, str]]] | None:
    """(line, row) pairs of a MEDS metadata CSV (CRLF or LF), or None with its problems."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            lines = list(csv.reader(fh))
    except FileNotFoundError:
        problems.append(f"{path}: missing")
        return None
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{path}: cannot read it ({exc})")
        return None
    if not lines:
        problems.append(f"{path}: empty (no header line)")
        return None
    header = [h.strip() for h in lines[0]]
    lacking = [c for c in need if c not in header]
    if lacking:
        problems.append(f"{path}: no column {', '.join(map(repr, lacking))} (has "
                        f"{', '.join(header)})")
        return None
    out = []
    for k, cells in enumerate(lines[1:], start=2):
        if not cells:
            continue
        if len(cells) != len(header):
            problems.append(f"{path} line {k}: {len(cells)} fields, the header has "
                            f"{len(header)}")
            continue
        out.append((k, {h: c.strip() for h, c in zip(header, cells)}))
    return out


def _int(v: str) -> int | None:
    try:
        return int(float(v))
    except ValueError:
        return None


def load(root: Path, card: Any, options: Mapping[str, Any]) -> Loaded:
    unknown_options(options, ("poses", "metadata"), "meds2")
    value = option(options, "poses", ["Frontal"], (list, str))
    poses = [value] if isinstance(value, str) else list(value)
    if not poses or any(p not in POSES for p in poses):
        raise DataError(f"dataset.options.poses: expected a non-empty list of "
                        f"{', '.join(POSES)}; got {value!r}")
    base = _base(root)
    meta = base / option(options, "metadata", SUBJECTS, (str,))
    if not (base / "data").is_dir() and not meta.exists():
        hint = (f"; {root / ZIP} is still zipped: unzip it (unzip {ZIP} -d {TOP}) and point "
                f"root at {root / TOP}") if (root / ZIP).exists() else ""
        raise DataError(f"{root}: not an unpacked MEDS-II distribution (expected "
                        f"{TOP}/ holding data/ and {SUBJECTS}, or that folder itself){hint}")
    problems: list[str] = []
    table = _read_csv(meta, NEED, problems)
    has_data = (base / "data").is_dir()
    if not has_data:
        problems.append(f"{base / 'data'}: no such folder (the images, data/<chunk>/*.jpg)")
    rows, seen, labels = [], {}, {}
    ages_missing = no_date = invalid_date = 0
    for k, r in table or ():
        where = f"{meta.name} line {k}"
        d = DNAME.match(r["img_dname"])
        m = NAME.match(r["img_name"])
        if d is None or m is None:
            problems.append(f"{where}: {r['img_dname']}/{r['img_name']} is not "
                            "./data/<chunk>/S<subject>-<encounter>-t10_<record>.jpg")
            continue
        rel = f"{d.group(1)}/{r['img_name']}"
        if rel in seen:
            problems.append(f"{where}: {rel} listed again (first on line {seen[rel]})")
            continue
        seen[rel] = k
        labels[rel] = r["label"]
        sid, enc, rec = (int(x) for x in m.groups())
        if (_int(r["subject_id"]), _int(r["enc_num"]), _int(r["img_num"])) != (sid, enc, rec):
            problems.append(f"{where}: subject_id/enc_num/img_num {r['subject_id']}/"
                            f"{r['enc_num']}/{r['img_num']} disagree with the file name "
                            f"{r['img_name']}")
        if has_data and not (base / rel).is_file():
            problems.append(f"{where}: image {rel} not found under {base}")
        if r["label"] not in POSES:
            problems.append(f"{where}: label {r['label']!r} is not a pose bin "
                            f"({', '.join(POSES)})")
        try:
            age = float(r["age_phd"])
        except ValueError:
            problems.append(f"{where}: age_phd {r['age_phd']!r} is not a number")
            continue
        if r["label"] not in poses:
            continue
        ages_missing += age == 0
        no_date += r["no_phd"] == "1"
        invalid_date += r["inv_phd"] == "1"
        rows.append({"image_id": Path(r["img_name"]).stem, "path": rel,
                     "subject_id": r["img_name"].split("-")[0], "encounter": r["enc_num"],
                     "sex": r["sex"], "race": r["rac"],
                     "age": "" if age == 0 else r["age_phd"], "pose": r["label"]})
    if table is not None:
        problems += [f"{p.relative_to(base).as_posix()}: image without a row in {meta.name}"
                     for p in sorted((base / "data").rglob("*.jpg"))
                     if p.relative_to(base).as_posix() not in seen]
        problems += _check_poses(base / POSE_FILE, labels, meta.name)
    if problems:
        raise DataError(f"{root}: not a MEDS-II layout fairbench can read", problems)
    if not rows:
        raise DataError(f"{root}: no images with pose {', '.join(poses)} "
                        "(dataset.options.poses)")
    frame = pd.DataFrame(rows)
    n_people = frame["subject_id"].nunique()
    notes = [f"MEDS-II poses {', '.join(poses)} (dataset.options.poses): {len(frame):,} of "
             f"{len(seen):,} images, {n_people:,} people."]
    if ages_missing:
        notes.append(f"MEDS-II: {ages_missing:,} image(s) with age_phd 0 (no photo date): age "
                     "missing.")
    if no_date or invalid_date:
        notes.append(f"MEDS-II: {no_date:,} image(s) flagged no_phd and {invalid_date:,} "
                     "inv_phd (taken to mean no / an invalid photo date; NIST's meaning not "
                     "verified): their age_phd is kept as the record gives it, unless 0.")
    return Loaded(Manifest(frame, base, str(meta)), notes=notes)


def _check_poses(path: Path, labels: dict[str, str], listing: str) -> list[str]:
    """image_pose.csv, when shipped: each row names a listed image and agrees on its pose."""
    if not path.exists():
        return []
    problems: list[str] = []
    for k, r in _read_csv(path, NEED_POSE, problems) or ():
        d = DNAME.match(r["img_dname"])
        rel = f"{d.group(1) if d else r['img_dname']}/{r['img_fname']}"
        if rel not in labels:
            problems.append(f"{path.name} line {k}: {rel} has no row in {listing}")
        elif r["human_review_bin_label"] != labels[rel]:
            problems.append(f"{path.name} line {k}: {rel} is {r['human_review_bin_label']!r}"
                            f" here but {labels[rel]!r} in {listing}")
    return problems
