"""Small score files in bob's, CSV, matrix and pyeer layouts, and a brute force over them.

Scores are rounded to two decimals (many ties) and about 1 % are failed (``nan``); group b
is noisier, so its FMR and EER differ from a's and c's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

GROUPS = ("a", "b", "c")


@dataclass
class Row:
    probe: str  # probe sample / image id
    probe_subject: str
    reference: str  # reference model / image id
    reference_subject: str
    score: float  # native; NaN = failed

    @property
    def mated(self) -> bool:
        return self.probe_subject == self.reference_subject


def people(n: int = 30) -> pd.DataFrame:
    subs = [f"s{k:03d}" for k in range(n)]
    return pd.DataFrame({"subject_id": subs, "grp": [GROUPS[k % 3] for k in range(n)],
                         "sex": ["f" if k % 2 else "m" for k in range(n)]})


def scored_rows(subjects: pd.DataFrame, per: int = 2, seed: int = 0,
                distance: bool = False) -> list[Row]:
    """Every probe sample of every subject against every subject's model."""
    rng = np.random.default_rng(seed)
    grp = dict(zip(subjects.subject_id, subjects.grp))
    rows = []
    for real in subjects.subject_id:
        for t in range(per):
            for claimed in subjects.subject_id:
                mated = claimed == real
                s = rng.normal(2.0 if mated else 0.0, 2.0 if grp[real] == "b" else 1.0)
                s = np.nan if rng.random() < 0.01 else round(float(s), 2)
                rows.append(Row(f"{real}/{t}.png", real, claimed, claimed,
                                -s if distance else s))
    return rows


def write_bob4(rows: list[Row], path: Path) -> Path:
    path.write_text("".join(f"{r.reference_subject} {r.probe_subject} {r.probe} "
                            f"{'nan' if np.isnan(r.score) else r.score}\n" for r in rows))
    return path


def write_bob5(rows: list[Row], path: Path) -> Path:
    path.write_text("".join(f"{r.reference_subject} model-{r.reference} {r.probe_subject} "
                            f"{r.probe} {'nan' if np.isnan(r.score) else r.score}\n"
                            for r in rows))
    return path


def brute(rows: list[Row], groups: dict[str, str], similarity: bool = True):
    """(genuine by group, same-group impostors by group, pooled impostors); internal scale
    (higher = more alike), failed as -inf."""
    def s(r: Row) -> float:
        if np.isnan(r.score):
            return -np.inf
        return r.score if similarity else -r.score
    gen: dict[str, list[float]] = {"all": []}
    imp: dict[str, list[float]] = {"all": []}
    for r in rows:
        ga, gb = groups[r.probe_subject], groups[r.reference_subject]
        if r.mated:
            gen["all"].append(s(r))
            gen.setdefault(ga, []).append(s(r))
        else:
            imp["all"].append(s(r))
            if ga == gb:
                imp.setdefault(ga, []).append(s(r))
    return ({k: np.array(v) for k, v in gen.items()}, {k: np.array(v) for k, v in imp.items()})


def threshold(impostors: np.ndarray, f: float, rule: str = "fairbench") -> float | None:
    """The target-FMR threshold by the documented rule, by sorting everything."""
    n = len(impostors)
    desc = np.sort(impostors)[::-1]
    if rule == "bob":  # bob.measure far_threshold, transcribed from its C++
        asc = desc[::-1]
        index = int(np.ceil((1 - f) * n - 1))
        while index < n - 1 and asc[index] == asc[index + 1]:
            index += 1
        return float(asc[index]) if index < n - 1 else None
    m = int(np.floor(f * n))
    return None if m < 1 else float(np.nextafter(desc[m], np.inf))


def eer(genuine: np.ndarray, impostors: np.ndarray) -> tuple[float, float]:
    """(EER, threshold) by trying every observed finite score."""
    from fractions import Fraction

    cand = np.unique(np.r_[genuine, impostors])
    cand = cand[np.isfinite(cand)]
    best = None
    for t in cand:  # exact rationals: ties are ties
        fm = Fraction(int((impostors >= t).sum()), len(impostors))
        fnm = Fraction(int((genuine < t).sum()), len(genuine))
        key = (abs(fm - fnm), -t)
        if best is None or key < best[0]:
            best = (key, float((fm + fnm) / 2), t)
    return best[1], best[2]


def images(subjects: pd.DataFrame, per: int = 2) -> pd.DataFrame:
    """An image manifest: ``per`` images of every subject (no files: scores are given)."""
    rows = [{"image_id": f"{s}_{k}", "subject_id": s, "grp": g}
            for s, g in zip(subjects.subject_id, subjects.grp) for k in range(per)]
    return pd.DataFrame(rows)


def matrix(manifest: pd.DataFrame, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """An all-against-all similarity matrix over the manifest's images (NaN = failed)."""
    rng = np.random.default_rng(seed)
    ids = manifest.image_id.tolist()
    subj = manifest.subject_id.to_numpy()
    noisy = (manifest.grp == "b").to_numpy()
    mated = subj[:, None] == subj[None, :]
    sd = np.where(noisy[:, None] | noisy[None, :], 2.0, 1.0)
    m = np.round(rng.normal(np.where(mated, 2.0, 0.0), sd), 2)
    m[rng.random(m.shape) < 0.01] = np.nan
    return m, ids


def matrix_rows(m: np.ndarray, ids: list[str], manifest: pd.DataFrame,
                mask: np.ndarray | None = None, both: bool = False) -> list[Row]:
    """The comparisons a square matrix over one id list holds: each pair once (its upper
    triangle), or both ways round."""
    subj = dict(zip(manifest.image_id, manifest.subject_id))
    return [Row(ids[i], subj[ids[i]], ids[j], subj[ids[j]], float(m[i, j]))
            for i in range(len(ids)) for j in range(len(ids))
            if (i != j if both else i < j) and (mask is None or mask[i, j])]


def write_csv(rows: list[Row], path: Path, subjects: bool = False) -> Path:
    df = pd.DataFrame({"probe_id": [r.probe for r in rows],
                       "reference_id": [r.reference for r in rows],
                       "score": [r.score for r in rows]})
    if subjects:
        df["probe_subject"] = [r.probe_subject for r in rows]
        df["reference_subject"] = [r.reference_subject for r in rows]
    df.to_csv(path, index=False, na_rep="nan")
    return path


def write_pyeer(rows: list[Row], folder: Path) -> tuple[Path, Path]:
    """pyeer's two files (genuine, impostor): one comparison per line, score last."""
    out = []
    for kind in ("genuine", "impostor"):
        p = folder / f"{kind}.txt"
        p.write_text("".join(f"{r.probe} {r.reference} {r.score}\n" for r in rows
                             if r.mated == (kind == "genuine")))
        out.append(p)
    return out[0], out[1]
