"""Plugins by name: built-ins and third-party packages go through one entry-point path.

A plugin package declares, in its ``pyproject.toml``::

    [project.entry-points."fairbench.matchers"]
    myvendor = "myvendor_fairbench:MyMatcher"

fairbench itself declares its built-ins the same way (its ``pyproject.toml`` is the one
list of built-ins), so nothing is special-cased. Lookup is lazy (a plugin module is imported
only when its name is asked for). In-process plugins (tests, notebooks) register with the
:meth:`Registry.plugin` decorator. Set ``FAIRBENCH_DISABLE_PLUGINS=1`` for audits: then only
entry points of the installed ``fairbench`` distribution itself load, whatever module
another package's entry point names.

>>> @matchers.plugin("my-matcher")       # doctest: +SKIP
... class MyMatcher(Matcher): ...
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from importlib import import_module
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from fairbench.errors import FairbenchError


class UnknownPluginError(FairbenchError):
    """Asked for a plugin name that no installed package provides."""


def _load_target(target: str) -> Any:
    module, _, attr = target.partition(":")
    obj = import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass
class Registry:
    """Name -> plugin class for one entry-point group, resolved lazily."""

    group: str
    _extra: dict[str, Any] = field(default_factory=dict)

    def _targets(self) -> dict[str, str | Any]:
        targets: dict[str, str | Any] = {}
        disabled = os.environ.get("FAIRBENCH_DISABLE_PLUGINS", "") not in ("", "0")
        for ep in entry_points(group=self.group):
            if disabled and not _is_own(ep):
                continue
            targets[ep.name] = ep.value
        targets.update(self._extra)  # explicit in-process registration is always honoured
        return targets

    def names(self) -> list[str]:
        """Every name that can be asked for, sorted."""
        return sorted(self._targets())

    def register(self, name: str, obj: Any) -> None:
        """Register an in-process plugin (tests, notebooks); wins over entry points."""
        self._extra[name] = obj

    def plugin(self, name: str) -> Any:
        """Decorator form of :meth:`register`: ``@matchers.plugin("name")`` on a class."""
        def register(obj: Any) -> Any:
            self.register(name, obj)
            return obj

        return register

    def unregister(self, name: str) -> None:
        self._extra.pop(name, None)

    def get(self, name: str) -> Any:
        """The plugin class for ``name``; an error with did-you-mean suggestions if unknown."""
        targets = self._targets()
        if name not in targets:
            close = difflib.get_close_matches(name, list(targets), n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            known = ", ".join(sorted(targets)) or "none"
            raise UnknownPluginError(
                f"unknown {self.group.split('.')[-1][:-1]} {name!r}.{hint} Known: {known}."
            )
        target = targets[name]
        return _load_target(target) if isinstance(target, str) else target


def _is_own(ep: EntryPoint) -> bool:
    """Whether an entry point belongs to the installed fairbench distribution itself."""
    dist = getattr(ep, "dist", None)
    name = getattr(dist, "name", None) or (dist.metadata["Name"] if dist is not None else "")
    return str(name).lower() == "fairbench"


matchers = Registry("fairbench.matchers")
pad = Registry("fairbench.pad")  # presentation-attack detection (liveness) plugins
executors = Registry("fairbench.executors")  # where a run's work happens (local, ray)
