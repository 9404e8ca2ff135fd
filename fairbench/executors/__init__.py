"""Executors: where a run's work happens (this process, or a Ray cluster).

Found by name through the ``fairbench.executors`` entry points, like matchers; the
``executor:`` config section picks one. See :mod:`fairbench.executors.base` for the
protocol and ``docs/scale.md`` for running on a cluster.

>>> with open_executor(ExecutorConfig()) as ex:
...     ex.map(lambda shared, x: x * shared, [1, 2, 3], shared=10)
[10, 20, 30]
"""

from __future__ import annotations

from fairbench.config.sections import ExecutorConfig
from fairbench.errors import ConfigError
from fairbench.executors.base import Executor
from fairbench.executors.local import LocalExecutor
from fairbench.registry import UnknownPluginError, executors


def open_executor(config: ExecutorConfig | None = None) -> Executor:
    """The configured executor (not started: a cluster is joined on first use)."""
    config = config or ExecutorConfig()
    try:
        cls = executors.get(config.name)
    except UnknownPluginError as exc:
        raise ConfigError(f"executor.name: {exc}") from None
    if cls is LocalExecutor:
        return LocalExecutor()
    return cls(address=config.address, num_cpus=config.num_cpus)  # type: ignore[no-any-return]


__all__ = ["Executor", "LocalExecutor", "open_executor"]
