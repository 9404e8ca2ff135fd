"""The run folder: written whole into a temporary folder, then renamed into place.

``counts.npz`` holds everything metrics are computed from (integer codes, histograms,
genuine scores, the impostor pairs at or above the operating points), so
``fairbench report`` can rebuild every table without images, models or the manifest.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fairbench.counts import Binning, VerificationCounts
from fairbench.errors import FairbenchError
from fairbench.plan import Plan
from fairbench.schema import RunRecord, validate


def save_counts(path: Path, plan: Plan, counts: VerificationCounts, acquired: np.ndarray,
                image_ids: list[str]) -> None:
    """Write counts.npz (no pickles: strings are stored as fixed-width unicode arrays)."""
    b = counts.binning
    np.savez_compressed(
        path,
        image_id=np.array(image_ids, dtype=str),
        subject=plan.subject, stratum=plan.stratum, acquired=acquired,
        strata_columns=np.array(list(plan.strata.columns), dtype=str),
        strata_values=plan.strata.to_numpy(dtype=str).reshape(len(plan.strata), -1),
        subjects=np.array(plan.subjects, dtype=str),
        mated_i=counts.mated_i, mated_j=counts.mated_j, mated_s=counts.mated_s,
        hist=counts.hist, n_nonmated=counts.n_nonmated,
        binning=np.array([b.lo, b.hi, b.bins], dtype=np.float64),
        kept_i=counts.kept_i, kept_j=counts.kept_j, kept_s=counts.kept_s,
        kept_floor_bin=np.array(counts.kept_floor_bin),
    )


def load_counts(path: Path) -> tuple[Plan, VerificationCounts, np.ndarray, list[str]]:
    """Read counts.npz back into a plan, counts, the acquired flags and image ids."""
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise FairbenchError(f"{path}: cannot read counts ({exc})") from None
    with z:
        strata = pd.DataFrame(z["strata_values"], columns=list(z["strata_columns"]))
        plan = Plan(z["subject"], z["stratum"], strata, list(z["subjects"]),
                    z["mated_i"], z["mated_j"])
        lo, hi, bins = z["binning"]
        counts = VerificationCounts(
            len(strata), Binning(float(lo), float(hi), int(bins)), z["hist"], z["n_nonmated"],
            z["mated_i"], z["mated_j"], z["mated_s"], z["kept_i"], z["kept_j"], z["kept_s"],
            int(z["kept_floor_bin"]),
        )
        return plan, counts, z["acquired"], list(z["image_id"])


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically (temp file in the same folder, then rename)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(_finite(data), f, indent=1, default=_jsonable, allow_nan=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _finite(x: Any) -> Any:
    """NaN and infinities become null: run.json stays strict JSON that any parser reads."""
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    if isinstance(x, (float, np.floating)) and not np.isfinite(x):
        return None
    return x


def _jsonable(x: Any) -> Any:
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def read_run(run_dir: Path) -> RunRecord:
    """Load and validate a run folder's run.json (older schema versions are upgraded)."""
    p = Path(run_dir) / "run.json"
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FairbenchError(f"{p}: not found; is {run_dir} a fairbench run folder?") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise FairbenchError(f"{p}: cannot read run.json ({exc})") from None
    try:
        return validate(data)
    except ValueError as exc:
        raise FairbenchError(f"{p}: invalid run.json ({exc})") from None


class StagingDir:
    """A hidden temporary run folder that becomes ``final`` only when complete."""

    def __init__(self, final: Path) -> None:
        self.final = final
        final.parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))

    def commit(self) -> Path:
        if self.final.exists():
            raise FairbenchError(f"{self.final} already exists; not overwriting a result")
        os.rename(self.path, self.final)
        return self.final

    def abort(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
