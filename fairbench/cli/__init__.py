"""The ``fairbench`` command: a thin shell, one module per command group, over plain
functions.

Exit statuses: 0 ok; 1 a claim was refuted (``check-claims``) or a matcher failed its checks
(``matchers check``); 2 bad input or a usage error
(one clear message, no traceback); 130 interrupted (nothing half-written is left behind).
"""

from __future__ import annotations

import sys

from fairbench.cli import bench, datasets, matchers, results, run, summarize  # noqa: F401
from fairbench.cli.app import app


def main() -> None:
    """Entry point (``fairbench``): typer parses; usage errors exit 2 with the usage."""
    app(prog_name="fairbench")


if __name__ == "__main__":
    sys.exit(main())
