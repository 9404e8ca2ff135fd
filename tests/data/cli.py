"""The CLI as a user runs it: a subprocess, with its exit status and both streams."""

from __future__ import annotations

import subprocess
import sys


def fairbench_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fairbench.cli", *args], capture_output=True,
                          text=True, timeout=120)
