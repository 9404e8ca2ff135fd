"""Adapter for the Face Research Lab London set (neutral and smiling front images)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fairbench.data.manifest import Manifest, read_table
from fairbench.errors import DataError

VARIANTS = {"neutral": ("neutral_front", "03"), "smiling": ("smiling_front", "08")}


def london_manifest(root: Path) -> Manifest:
    """Build the manifest from ``london_info.csv``: two images per person.

    Columns: image_id ``NNN_neutral``/``NNN_smiling``, path, subject_id ``NNN``,
    ``eth``, ``sex``, ``age`` (all self-reported) and ``expression``.
    """
    info_path = root / "london_info.csv"
    info = read_table(info_path)
    need = {"face_id", "face_age", "face_gender", "face_eth"}
    if not need <= set(info.columns):
        raise DataError(
            f"{info_path}: expected columns {', '.join(sorted(need))}, "
            f"found {', '.join(info.columns)}"
        )
    rows = []
    for _, r in info.iterrows():
        fid = str(r["face_id"]).strip().zfill(3)
        for variant, (folder, suffix) in VARIANTS.items():
            rows.append(
                {
                    "image_id": f"{fid}_{variant}",
                    "path": f"{folder}/{fid}_{suffix}.jpg",
                    "subject_id": fid,
                    "eth": str(r["face_eth"]).strip(),
                    "sex": str(r["face_gender"]).strip(),
                    "age": str(r["face_age"]).strip(),
                    "expression": variant,
                }
            )
    return Manifest(pd.DataFrame(rows), root, str(info_path))
