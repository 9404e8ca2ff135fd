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
from fairbench.api import check_claims, compare, evaluate, load, run  # noqa: E402
from fairbench.metrics.frame import RateFrame  # noqa: E402
from fairbench.results.run import Run  # noqa: E402

__all__ = ["DetCurveDisplay", "RateDisplay", "RateFrame", "Run", "__version__", "check_claims",
           "compare", "evaluate", "load", "run"]


def __getattr__(name: str) -> object:
    """Plot displays load matplotlib only when asked for."""
    if name in ("DetCurveDisplay", "RateDisplay"):
        from fairbench.report import displays

        return getattr(displays, name)
    raise AttributeError(f"module 'fairbench' has no attribute {name!r}")
