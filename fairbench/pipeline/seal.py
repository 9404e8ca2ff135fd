"""Write a run folder whole, then rename it into place: the one seal of every mode."""

from __future__ import annotations

import time
from pathlib import Path

from fairbench.errors import FairbenchError
from fairbench.pipeline.parts import RunParts
from fairbench.report.rebuild import header
from fairbench.report.tables import write_run_tables
from fairbench.results.arrays import save_replicates
from fairbench.results.folder import StagingDir, write_json


def seal(parts: RunParts, output_dir: str | Path, t0: float) -> Path:
    """Write every file of ``parts`` under a hidden name; run.json last (with the time
    writing took, ``timings_s.report``, and the total); rename the folder into place. On
    any error nothing is left behind."""
    out = Path(output_dir)
    base, k = parts.run_id, 1
    while (out / parts.run_id).exists():  # the same study run twice within one second
        k += 1
        parts.record["run_id"] = f"{base}-{k}"
    stage = StagingDir(out / parts.run_id)
    t = time.perf_counter()
    try:
        for name, write in parts.files.items():
            write(stage.path / name)
        if parts.replicates:
            save_replicates(stage.path / "bootstrap.npz", parts.replicates)
        write_run_tables(stage.path / "tables", parts.tables, header(parts.record))
        timings = parts.record["timings_s"]
        timings["report"] = time.perf_counter() - t  # every file but run.json (last, small)
        timings["total"] = time.perf_counter() - t0
        write_json(stage.path / "run.json", parts.record)
        return stage.commit()
    except OSError as exc:  # a full disk, a folder made read-only meanwhile, ...
        stage.abort()
        raise FairbenchError(f"cannot write the run folder {out / parts.run_id} "
                             f"({exc.strerror}); nothing was left behind") from None
    except BaseException:
        stage.abort()
        raise
