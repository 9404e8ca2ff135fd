"""User-facing errors: the CLI turns these into one clear message and exit status 2."""

from __future__ import annotations


class FairbenchError(Exception):
    """A problem with the user's input (file, row, key); never a bug in fairbench.

    ``problems`` lists every problem found, so one run reports them all at once.
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.headline = message
        self.problems = list(problems or [])
        super().__init__(message)

    def render(self) -> str:
        """The full message: the headline and one indented line per problem."""
        return "\n".join([self.headline, *(f"  - {p}" for p in self.problems)])

    def __str__(self) -> str:
        return self.render()


class ConfigError(FairbenchError):
    """The config file or an override is invalid."""


class DataError(FairbenchError):
    """A manifest, dataset card or data folder is invalid or missing."""


class MatcherError(FairbenchError):
    """A matcher cannot be built: missing model, wrong checksum, bad parameters."""
