"""The typer application and the one wrapper every command runs through.

Typer (click) handles usage errors itself: the usage, the error, exit status 2. Inside a
command, :func:`command` turns a :class:`~fairbench.errors.FairbenchError` into one message
and exit status 2, and Ctrl-C into its promised line and exit status 130.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from fairbench.errors import FairbenchError

EXIT_STATUSES = ("Exit status: 0 ok; 1 a claim was refuted (check-claims) or a matcher failed its "
                 "checks (matchers check); 2 bad input or a usage error; 130 interrupted.")

app = typer.Typer(add_completion=False, no_args_is_help=True, epilog=EXIT_STATUSES,
                  help="Measure how face-recognition systems treat demographic groups.",
                  pretty_exceptions_enable=False)
datasets_app = typer.Typer(no_args_is_help=True, epilog=EXIT_STATUSES,
                           help="List, validate and fetch datasets.")
matchers_app = typer.Typer(no_args_is_help=True, epilog=EXIT_STATUSES,
                           help="List installed matchers; check one against the contract.")
bench_app = typer.Typer(no_args_is_help=True, epilog=EXIT_STATUSES,
                        help="Benchmarks that report ratios to a baseline.")
app.add_typer(datasets_app, name="datasets")
app.add_typer(matchers_app, name="matchers")
app.add_typer(bench_app, name="bench")

F = TypeVar("F", bound=Callable[..., Any])

INTERRUPTED = "interrupted: nothing was written to the results folder"


def guarded(fn: F) -> F:
    """Run a command body: user errors -> message + exit 2, Ctrl-C -> message + exit 130."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except FairbenchError as exc:
            typer.echo(f"error: {exc.render()}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo(INTERRUPTED, err=True)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def command(group: typer.Typer, name: str) -> Callable[[F], F]:
    """``@command(app, "run")``: register a guarded command with the exit-status epilog."""
    def register(fn: F) -> F:
        # a docstring's line breaks are the source's, not the help's: join each paragraph
        # into one line so the terminal wraps it (the command list and --help alike)
        doc = inspect.cleandoc(fn.__doc__ or "")
        text = "\n\n".join(" ".join(p.split()) for p in doc.split("\n\n"))
        group.command(name, epilog=EXIT_STATUSES, help=text or None)(guarded(fn))
        return fn

    return register
