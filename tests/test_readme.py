"""The README's Quickstart has two command lines, and CI runs the test line verbatim."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def quickstart_lines() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "Quickstart has no bash block"
    return [ln for ln in block.group(1).splitlines() if ln.strip()]


def test_quickstart_has_two_lines_and_ci_runs_the_test_line():
    lines = quickstart_lines()
    assert len(lines) == 2
    assert "fairbench run configs/london-dlib.yaml" in lines[0]
    assert '".[test]"' in lines[1]
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert lines[1] in ci
    assert "export FAIRBENCH_DATA_ROOT=../shared/datasets" in ci
