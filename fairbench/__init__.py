"""fairbench: measure how face-recognition systems treat demographic groups.

The public API (stable; see the README):

- :func:`run` a config (a YAML path, a mapping or a :class:`~fairbench.config.Config`);
- :func:`load` a stored run folder (1:1 or 1:N);
- :func:`evaluate` your own embeddings in memory;
- :func:`compare` two runs on the same data; :func:`check_claims` against a run;
- :class:`Run` and :class:`RateFrame`, the results objects, and the plot displays
  :class:`DetCurveDisplay` and :class:`RateDisplay`.

>>> import fairbench
>>> sorted(fairbench.__all__)[:3]
['DetCurveDisplay', 'RateDisplay', 'RateFrame']
"""

from fairbench.privacy import quiet_dependencies

quiet_dependencies()  # before any dependency is imported, by us or through us

from fairbench._version import __version__  # noqa: E402

__all__ = ["DetCurveDisplay", "RateDisplay", "RateFrame", "Run", "__version__", "check_claims",
           "compare", "evaluate", "load", "run"]

#: where each public name lives: imported on first use, so ``import fairbench`` (and every
#: process that only needs a part of it, such as an extraction worker) stays light
_LAZY = {"run": "fairbench.api", "load": "fairbench.api", "evaluate": "fairbench.api",
         "compare": "fairbench.api", "check_claims": "fairbench.api",
         "RateFrame": "fairbench.metrics.frame", "Run": "fairbench.results.run",
         "DetCurveDisplay": "fairbench.report.displays",
         "RateDisplay": "fairbench.report.displays"}


def __getattr__(name: str) -> object:
    """The public API, loaded when first asked for (plot displays bring matplotlib)."""
    where = _LAZY.get(name)
    if where is None:
        raise AttributeError(f"module 'fairbench' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(where), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
