"""``fairbench matchers``."""

from __future__ import annotations

import typer

from fairbench.cli.app import command, matchers_app


@command(matchers_app, "list")
def matchers_list_cli() -> None:
    """Registered matcher names (built-ins and plugins, one path for both)."""
    from fairbench.registry import matchers

    for n in matchers.names():
        typer.echo(n)
