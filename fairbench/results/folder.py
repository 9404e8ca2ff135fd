"""Writing a run folder so that nothing is ever half-written.

Every file is written to a temporary name in its own folder and renamed into place; the
whole run folder is assembled under a hidden name (``.RUNID.xxxx``) and renamed when
complete. A folder left behind by a killed run is never mistaken for a result.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from fairbench.errors import FairbenchError


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write`` on a temporary file beside ``path``, then rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; results are meant to be read and shared
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_text(path: Path, text: str) -> None:
    """Write UTF-8 text atomically."""
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Strict JSON (NaN and infinities become null), written atomically."""
    text = json.dumps(_finite(data), indent=1, default=_jsonable, allow_nan=False) + "\n"
    atomic_text(path, text)


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    """A compressed .npz written atomically (no pickles: object arrays are refused)."""
    for k, v in arrays.items():
        if np.asarray(v).dtype == object:
            raise TypeError(f"{path.name}: array {k!r} has dtype object; store strings as str")
    atomic_write(path, lambda f: np.savez_compressed(f, **arrays))


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


OWNER = ".fairbench-staging"  # in a staging folder: the pid and host writing it


def check_writable(folder: Path) -> None:
    """Fail now, not after the work, when results cannot be written into ``folder``
    (creating nothing: a folder that does not exist yet is checked through its parent)."""
    folder = Path(folder).absolute()
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    why = None
    if not probe.is_dir():
        why = f"{probe} is not a folder"
    elif probe == folder:
        try:
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".fairbench-write-test-")
            os.close(fd)
            os.unlink(tmp)
        except OSError as exc:
            why = exc.strerror
    elif not os.access(probe, os.W_OK | os.X_OK):
        why = f"{probe} is not writable"
    if why:
        raise FairbenchError(f"cannot write results into {folder} ({why}); choose another "
                             "folder with -o/--output")


def stale_staging(folder: Path) -> list[Path]:
    """Staging folders left in ``folder`` by runs that were killed (their process on this
    host is gone); a live run's folder is never listed."""
    host = socket.gethostname()
    out = []
    for d in folder.glob(".*"):
        owner = d / OWNER
        if not (d.is_dir() and owner.is_file()):
            continue
        try:
            pid_s, owner_host = owner.read_text().split()[:2]
            pid = int(pid_s)
        except (OSError, ValueError):
            continue
        if owner_host != host:
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            out.append(d)
        except PermissionError:  # alive, another user's
            pass
    return out


class StagingDir:
    """A hidden temporary run folder that becomes ``final`` only when complete.

    It records which process writes it, so the next run in the same results folder removes
    what a killed run left behind (and says so), and never touches a live run's folder.
    """

    def __init__(self, final: Path) -> None:
        self.final = final
        final.parent.mkdir(parents=True, exist_ok=True)
        self.cleaned = stale_staging(final.parent)
        for d in self.cleaned:
            shutil.rmtree(d, ignore_errors=True)
            logging.getLogger("fairbench").warning(
                "removed %s, left half-written by a run that was killed", d)
        self.path = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
        (self.path / OWNER).write_text(f"{os.getpid()} {socket.gethostname()}\n")

    def commit(self) -> Path:
        if self.final.exists():
            raise FairbenchError(f"{self.final} already exists; not overwriting a result")
        (self.path / OWNER).unlink()
        os.chmod(self.path, 0o755)  # mkdtemp makes 0700; results are meant to be shared
        os.rename(self.path, self.final)
        return self.final

    def abort(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
