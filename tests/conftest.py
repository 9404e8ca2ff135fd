"""Shared test fixtures: where ../shared lives, and the CI rule for missing data.

Tests that need ``../shared`` (the London set, the london16 fixture, the ONNX models) use
the fixtures below. When the data is missing they fail under ``CI=true`` and skip otherwise,
with a message saying how to get it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_root() -> Path:
    """The shared folder: beside $FAIRBENCH_DATA_ROOT if set, else ../shared."""
    data_root = os.environ.get("FAIRBENCH_DATA_ROOT")
    if data_root:
        return Path(data_root).resolve().parent
    return (REPO.parent / "shared").resolve()


def need(path: Path, what: str) -> Path:
    """Return ``path`` if it exists; otherwise fail in CI, skip elsewhere."""
    if path.exists():
        return path
    msg = (
        f"{what} not found at {path}. Get it with `fairbench datasets fetch london` and set "
        "FAIRBENCH_DATA_ROOT, or place the project's shared/ folder beside the repository."
    )
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests never touch the user's ~/.cache/fairbench."""
    os.environ["FAIRBENCH_CACHE"] = str(tmp_path_factory.mktemp("fairbench-cache"))


@pytest.fixture(scope="session")
def london16() -> Path:
    """The 16-identity, 320 px London fixture (labels.csv + JPEGs)."""
    return need(shared_root() / "fixtures" / "london16", "london16 fixture")


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """../shared/models: YuNet, faceres, mobileface and the toy PAD models."""
    return need(shared_root() / "models", "shared models folder")


@pytest.fixture(scope="session")
def london_root() -> Path:
    """The full London set (204 images)."""
    root = os.environ.get("FAIRBENCH_DATA_ROOT")
    base = Path(root) if root else shared_root() / "datasets"
    return need(base / "london", "London dataset")


@pytest.fixture()
def london16_manifest(london16: Path, tmp_path: Path) -> Path:
    """A generic manifest CSV over the london16 fixture (paths relative to its folder)."""
    import pandas as pd

    lab = pd.read_csv(london16 / "labels.csv", dtype=str)
    df = pd.DataFrame({
        "image_id": lab["file"].str.replace(".jpg", "", regex=False),
        "path": lab["file"],
        "subject_id": lab["face_id"],
        "eth": lab["eth"],
        "sex": lab["sex"],
        "age": lab["age"],
    })
    out = tmp_path / "london16.csv"
    df.to_csv(out, index=False)
    return out


@dataclass
class Outcome:
    code: int
    out: str
    err: str
    exception: BaseException | None = None


@pytest.fixture()
def fairbench_cmd(monkeypatch, capsys):
    """``fairbench ARGS`` in-process (exit status, stdout, stderr); an exception that
    escapes is returned too, so a test can say 'no traceback'."""
    from fairbench import cli

    def call(*args: str, cwd: Path | None = None) -> Outcome:
        if cwd is not None:
            monkeypatch.chdir(cwd)
        monkeypatch.setattr(sys, "argv", ["fairbench", *map(str, args)])
        exc = None
        try:
            cli.main()
            code = 0
        except SystemExit as e:
            code = int(e.code or 0)
        except BaseException as e:  # noqa: BLE001 - reported, never swallowed silently
            code, exc = -1, e
        cap = capsys.readouterr()
        return Outcome(code, cap.out, cap.err, exc)

    return call
