"""Report fixtures: a stored London dlib run (schema 1.0) and its report, built once."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = Path(__file__).parent / "golden"
STORED_RUN = FIXTURES / "london-dlib-1.0"


@pytest.fixture()
def stored_run(tmp_path: Path) -> Path:
    """A writable copy of the stored run folder (run.json + counts.npz only)."""
    dst = tmp_path / STORED_RUN.name
    shutil.copytree(STORED_RUN, dst)
    return dst


@pytest.fixture(scope="session")
def built_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stored run with `fairbench report` applied once (tables, plots, report.html)."""
    from fairbench.report.rebuild import build_report

    dst = tmp_path_factory.mktemp("report") / STORED_RUN.name
    shutil.copytree(STORED_RUN, dst)
    build_report(dst)
    return dst


def need_program(path: str, what: str, hint: str) -> Path:
    """Return ``path`` if that program exists; otherwise fail under CI, skip elsewhere
    (the same rule as the shared-data fixtures in tests/conftest.py)."""
    p = Path(path)
    if p.exists():
        return p
    msg = f"{what} not found at {p}; {hint}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture()
def fairbench_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """Run ``fairbench ARGS`` in-process through cli.main (exit statuses included):
    returns (status, stdout, stderr). Faster than a subprocess per call."""
    from fairbench import cli

    def call(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr("sys.argv", ["fairbench", *args])
        code: int | str | None = 0
        try:
            cli.main()
        except SystemExit as exc:
            code = exc.code
        out = capsys.readouterr()
        return int(code or 0), out.out, out.err

    return call
