"""Capture-stage outputs: tables/capture_by_group.csv, liveness_by_group.csv,
transaction_by_group.csv, fte_by_group.csv, a capture.md note, and run.json entries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

TABLES = ("capture_by_group", "liveness_by_group", "transaction_by_group", "fte_by_group")


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = df.astype(object).where(df.notna(), None).to_dict(orient="records")
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in out]


def notes(cap: Any) -> list[str]:
    """Plain-language labels every reader of these tables must see."""
    s = cap.summary
    out = [f"capture: acquired means {s['acquisition_rule']}; stress conditions "
           f"{', '.join(s['conditions'])} (seed {s['seed']})."]
    if s.get("skin_tone_method"):
        out.append(f"skin_tone_group is DERIVED, not self-reported: {s['skin_tone_method']}.")
    live = s.get("liveness")
    if live and not live.get("validated"):
        out.append("liveness: the PAD model is UNVALIDATED (a toy model for plumbing); "
                   "BPCER/APCER figures are not evidence about any deployed system.")
    return out


def add_to_record(record: dict[str, Any], cap: Any) -> None:
    """Put the capture tables under metrics and the stage summary under capture.stage."""
    for name in TABLES:
        df = getattr(cap, name)
        if len(df):
            record["metrics"][name] = _records(df)
    record["capture"]["stage"] = cap.summary
    record["notes"].extend(notes(cap))


def with_skin_tone(images: pd.DataFrame, cap: Any) -> pd.DataFrame:
    """images.csv plus derived skin tone (with its label source) and clean liveness score."""
    extra = cap.images.reset_index(drop=True)
    out = pd.concat([images.reset_index(drop=True), extra], axis=1)
    if "skin_tone_group" in extra:
        out["skin_tone_label_source"] = cap.label_sources["skin_tone_group"]
    return out


def skin_tone_agreement(cap: Any) -> pd.DataFrame:
    """Derived tone against every other attribute: ITA median and quartiles, and the share
    of each group's images in each derived tone group (so disagreement is visible)."""
    o = cap.outcomes[cap.outcomes["condition"] == "clean"]
    if "skin_tone_group" not in o:
        return pd.DataFrame()
    tones = sorted(o["skin_tone_group"].astype(str).unique())
    rows = []
    for attr in cap.summary.get("attributes", []):
        if attr == "skin_tone_group" or "|" in attr:
            continue
        for grp, g in o.groupby(o[attr].astype(str)):
            ita = g["skin_tone_ita"].astype(float)
            row: dict[str, Any] = {
                "attribute": attr, "group": grp, "n_images": len(g),
                "n_ita_measured": int(ita.notna().sum()), "ita_median": ita.median(),
                "ita_q25": ita.quantile(0.25), "ita_q75": ita.quantile(0.75)}
            share = g["skin_tone_group"].astype(str).value_counts(normalize=True)
            row |= {f"share_{t}": float(share.get(t, 0.0)) for t in tones}
            rows.append(row)
    return pd.DataFrame(rows)


def write_capture_tables(tables_dir: Path, cap: Any) -> list[Path]:
    """Write each non-empty capture table as CSV, plus capture.md with the notes."""
    tables_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in TABLES:
        df = getattr(cap, name)
        if len(df):
            p = tables_dir / f"{name}.csv"
            df.to_csv(p, index=False, lineterminator="\n")
            written.append(p)
    agree = skin_tone_agreement(cap)
    if len(agree):
        p = tables_dir / "skin_tone_agreement.csv"
        agree.to_csv(p, index=False, lineterminator="\n")
        written.append(p)
    keep = ["image_id", "subject_id", "condition", "acquired", "failure_reason",
            "detector_score", "face_px", "sharpness", "liveness_score", "mated_score", "stage"]
    o = cap.outcomes[[c for c in keep if c in cap.outcomes]]
    p = tables_dir.parent / "capture_outcomes.csv"  # per image and condition, for audits
    o.to_csv(p, index=False, lineterminator="\n")
    written.append(p)
    md = tables_dir / "capture.md"
    md.write_text("# Capture, liveness and transaction\n\n" + "\n".join(
        f"- {n}" for n in notes(cap)) + "\n", encoding="utf-8")
    written.append(md)
    return written
