"""The arrays of a run folder, from which every table is rebuilt without images or models.

- ``counts.npz`` (1:1): integer codes, impostor histograms, genuine scores, the kept
  impostor pairs, per-image ages where a breakdown bins pairs by their mean;
- ``search.npz`` (1:N): the codes and every search outcome, main run and sweeps;
- ``bootstrap.npz``: the replicate rates behind every bootstrap interval, so ratios and
  differences to any group can be read without recomputing.

No pickles: strings are stored as fixed-width unicode arrays.
"""

from __future__ import annotations

import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fairbench.core.codes import PairBanding, Plan
from fairbench.core.counts import Binning, ListedDesign, VerificationCounts
from fairbench.core.search import FIELDS, SearchOutcomes
from fairbench.errors import FairbenchError
from fairbench.results.folder import save_npz


@dataclass
class StoredCodes:
    """The plan of a stored run with its per-image flags."""

    plan: Plan
    acquired: np.ndarray
    failed: np.ndarray
    image_ids: list[str]


def _plan_arrays(plan: Plan, acquired: np.ndarray, failed: np.ndarray,
                 image_ids: list[str]) -> dict[str, np.ndarray]:
    out = {
        "image_id": np.array(image_ids, dtype=str), "subject": plan.subject,
        "stratum": plan.stratum, "acquired": acquired, "failed": failed,
        "strata_columns": np.array(list(plan.strata.columns), dtype=str),
        "strata_values": plan.strata.to_numpy(dtype=str).reshape(len(plan.strata), -1),
        "subjects": np.array(plan.subjects, dtype=str),
        "mated_i": plan.mated_i, "mated_j": plan.mated_j,
        "banded": np.array(list(plan.banded), dtype=str),
    }
    for name, b in plan.banded.items():
        out[f"banded_values:{name}"] = b.values
        out[f"banded_edges:{name}"] = np.asarray(b.edges, dtype=np.float64)
    return out


def _consistent(path: Path, codes: StoredCodes, counts: VerificationCounts | None = None
                ) -> None:
    """Refuse arrays that cannot come from a run: every problem named, exit status 2."""
    plan, n = codes.plan, len(codes.image_ids)
    problems = []
    for name, a in (("subject", plan.subject), ("stratum", plan.stratum),
                    ("acquired", codes.acquired), ("failed", codes.failed)):
        if len(a) != n:
            problems.append(f"{name} has {len(a)} entries for {n} images")
    if len(plan.subject) and (plan.subject.min() < 0 or plan.subject.max() >= plan.n_subjects):
        problems.append("subject codes outside the subject list")
    if len(plan.stratum) and (plan.stratum.min() < 0 or plan.stratum.max() >= plan.n_strata):
        problems.append("stratum codes outside the strata table")
    for name, a in (("mated_i", plan.mated_i), ("mated_j", plan.mated_j)):
        if len(a) and (a.min() < 0 or a.max() >= n):
            problems.append(f"{name} holds image indices outside 0..{n - 1}")
    if counts is not None:
        P = plan.n_strata * (plan.n_strata + 1) // 2
        if counts.hist.ndim != 2 or counts.hist.shape[0] != P:
            problems.append(f"hist has shape {counts.hist.shape}, expected ({P}, bins)")
        elif (counts.hist < 0).any():
            problems.append("hist holds negative counts")
        elif not np.array_equal(counts.hist.sum(axis=1), counts.n_nonmated):
            problems.append("n_nonmated differs from the histogram totals")
        if len(counts.mated_s) != plan.n_mated:
            problems.append(f"{len(counts.mated_s)} genuine scores for {plan.n_mated} mated pairs")
        if not (len(counts.kept_i) == len(counts.kept_j) == len(counts.kept_s)):
            problems.append("kept_i, kept_j and kept_s differ in length")
        kw = counts.kept_w
        if kw is not None and len(kw) != len(counts.kept_s):
            problems.append("kept_w and kept_s differ in length")
        elif kw is not None and (kw.dtype != np.uint32 or (len(kw) and kw.min() < 1)):
            problems.append("kept_w must hold counts of at least 1 (uint32)")
        elif kw is not None and counts.listed is None and counts.count() != int(
                counts.hist[:, counts.kept_floor_bin:].sum()):
            problems.append("kept_w stands for another number of impostor pairs than the "
                            "histogram holds at or above kept_floor_bin")
        if counts.kept_exact is not None and len(counts.kept_exact) != counts.binning.bins:
            problems.append(f"kept_exact has {len(counts.kept_exact)} entries for "
                            f"{counts.binning.bins} bins")
        for name, a in (("kept_i", counts.kept_i), ("kept_j", counts.kept_j)):
            if len(a) and (a.min() < 0 or a.max() >= n):
                problems.append(f"{name} holds image indices outside 0..{n - 1}")
        L = counts.listed
        if L is not None:
            if not (len(L.pair_a) == len(L.pair_b) == len(L.pair_slot) == len(L.pair_count)):
                problems.append("the listed subject pairs differ in length")
            elif len(L.pair_slot) and (L.pair_slot.min() < 0 or L.pair_slot.max() >= P):
                problems.append("listed subject pairs name stratum pairs that do not exist")
            for name, a in (("nonmated_failed", L.nonmated_failed),
                            ("window_lo", L.window_lo), ("window_hi", L.window_hi)):
                if len(a) != P:
                    problems.append(f"listed:{name} has {len(a)} entries for {P} stratum pairs")
            if len(L.nonmated_failed) == P and ((L.nonmated_failed < 0).any() or
                                               (L.nonmated_failed > counts.n_nonmated).any()):
                problems.append("listed:nonmated_failed exceeds the comparisons it counts")
    if problems:
        raise FairbenchError(f"{path}: damaged or not written by fairbench", problems)


def _open(path: Path) -> np.lib.npyio.NpzFile:
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise FairbenchError(f"{path}: not found") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise FairbenchError(f"{path}: cannot read ({exc})") from None


def _codes(z: np.lib.npyio.NpzFile) -> StoredCodes:
    strata = pd.DataFrame(z["strata_values"], columns=list(z["strata_columns"]))
    banded = {}
    for name in (z["banded"] if "banded" in z.files else []):
        banded[str(name)] = PairBanding(z[f"banded_values:{name}"],
                                        tuple(float(x) for x in z[f"banded_edges:{name}"]))
    plan = Plan(z["subject"], z["stratum"], strata, [str(s) for s in z["subjects"]],
                z["mated_i"], z["mated_j"], banded)
    acquired = z["acquired"]
    failed = z["failed"] if "failed" in z.files else ~acquired
    return StoredCodes(plan, acquired, failed, [str(x) for x in z["image_id"]])


LISTED = ("pair_a", "pair_b", "pair_slot", "pair_count", "nonmated_failed", "window_lo",
          "window_hi")


def save_counts(path: Path, codes: StoredCodes, counts: VerificationCounts) -> None:
    """Write counts.npz (a comparison list's design as ``listed:*`` arrays)."""
    b = counts.binning
    extra = {}
    if counts.listed is not None:
        extra = {f"listed:{k}": getattr(counts.listed, k) for k in LISTED}
        extra["listed:n_rows"] = np.array(counts.listed.n_rows)
        if counts.listed.population is not None:
            extra["listed:population"] = counts.listed.population
    if counts.kept_w is not None:  # verification.tail: people
        extra["kept_w"] = counts.kept_w
    if counts.kept_exact is not None:
        extra["kept_exact"] = counts.kept_exact
    save_npz(path, **_plan_arrays(codes.plan, codes.acquired, codes.failed, codes.image_ids),
             mated_s=counts.mated_s, hist=counts.hist, n_nonmated=counts.n_nonmated,
             binning=np.array([b.lo, b.hi, b.bins], dtype=np.float64),
             kept_i=counts.kept_i, kept_j=counts.kept_j, kept_s=counts.kept_s,
             kept_floor_bin=np.array(counts.kept_floor_bin), **extra)


def load_counts(path: Path) -> tuple[StoredCodes, VerificationCounts]:
    """Read counts.npz (schema 1.0 files included: their mated pairs are re-aligned)."""
    with _open(path) as z:
        try:
            codes = _codes(z)
            lo, hi, bins = z["binning"]
            mated_s = z["mated_s"]
            # 1.0 stored mated pairs in their own order; align them with the plan's (i, j)
            order = np.lexsort((codes.plan.mated_j, codes.plan.mated_i))
            plan = codes.plan
            plan.mated_i, plan.mated_j, mated_s = plan.mated_i[order], plan.mated_j[order], \
                mated_s[order]
            listed = None
            if "listed:pair_a" in z.files:
                listed = ListedDesign(*(z[f"listed:{k}"] for k in LISTED),
                                      int(z["listed:n_rows"]),
                                      z["listed:population"] if "listed:population" in z.files
                                      else None)
            counts = VerificationCounts(
                len(plan.strata), Binning(float(lo), float(hi), int(bins)), z["hist"],
                z["n_nonmated"], mated_s, z["kept_i"], z["kept_j"], z["kept_s"],
                int(z["kept_floor_bin"]), listed,
                z["kept_w"] if "kept_w" in z.files else None,  # checked below, not cast
                np.asarray(z["kept_exact"], bool) if "kept_exact" in z.files else None)
        except KeyError as exc:
            raise FairbenchError(f"{path}: lacks array {exc}") from None
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise FairbenchError(f"{path}: damaged ({type(exc).__name__}: {exc})") from None
    _consistent(path, codes, counts)
    return codes, counts


def save_search(path: Path, codes: StoredCodes, outcomes: dict[str, SearchOutcomes],
                roles: np.ndarray, gallery_subjects: dict[str, int]) -> None:
    """Write search.npz: codes, image roles and every named set of search outcomes."""
    arrays = _plan_arrays(codes.plan, codes.acquired, codes.failed, codes.image_ids)
    arrays["role"] = np.asarray(roles, dtype=str)
    arrays["sets"] = np.array(list(outcomes), dtype=str)
    for name, out in outcomes.items():
        for f in FIELDS:
            arrays[f"{name}:{f}"] = getattr(out, f)
        arrays[f"{name}:gallery_subjects"] = np.array(gallery_subjects[name])
    save_npz(path, **arrays)


def load_search(path: Path) -> tuple[StoredCodes, dict[str, SearchOutcomes], np.ndarray,
                                     dict[str, int]]:
    """Read search.npz back."""
    with _open(path) as z:
        try:
            codes = _codes(z)
            sets = [str(s) for s in z["sets"]]
            outs = {s: SearchOutcomes(*(z[f"{s}:{f}"] for f in FIELDS)) for s in sets}
            sizes = {s: int(z[f"{s}:gallery_subjects"]) for s in sets}
            roles = z["role"]
        except KeyError as exc:
            raise FairbenchError(f"{path}: lacks array {exc}") from None
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise FairbenchError(f"{path}: damaged ({type(exc).__name__}: {exc})") from None
    _consistent(path, codes)
    for name, out in outs.items():
        if len(out) and (out.probe.min() < 0 or out.probe.max() >= len(codes.image_ids)):
            raise FairbenchError(f"{path}: damaged: search set {name!r} names probes outside "
                                 "the images")
    return codes, outs, roles, sizes


def save_replicates(path: Path, replicates: dict[str, np.ndarray]) -> None:
    """Write bootstrap.npz: one (R, G) float32 array per ``rate|attribute|point`` key."""
    save_npz(path, **{k: np.asarray(v, dtype=np.float32) for k, v in replicates.items()})


def load_replicates(path: Path) -> dict[str, np.ndarray]:
    """Read bootstrap.npz; an absent file means no stored replicates."""
    if not path.is_file():
        return {}
    with _open(path) as z:
        try:
            return {k: z[k] for k in z.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise FairbenchError(f"{path}: damaged ({type(exc).__name__}: {exc})") from None
