"""fairbench: measure how face-recognition systems treat demographic groups.

The public API (stable; see the README):

- :func:`run` a config (a YAML path, a mapping or a :class:`~fairbench.config.Config`);
- :func:`load` a stored run folder (1:1 or 1:N);
- :func:`evaluate` your own embeddings in memory;
- :func:`compare` two runs on the same data; :func:`check_claims` against a run;
- :class:`Run` and :class:`RateFrame`, the results objects.

>>> import fairbench
>>> sorted(fairbench.__all__)[:3]
['RateFrame', 'Run', '__version__']
"""

from fairbench.privacy import quiet_dependencies

quiet_dependencies()  # before any dependency is imported, by us or through us

from fairbench._version import __version__  # noqa: E402
from fairbench.api import check_claims, compare, evaluate, load, run  # noqa: E402
from fairbench.metrics.frame import RateFrame  # noqa: E402
from fairbench.results.run import Run  # noqa: E402

__all__ = ["RateFrame", "Run", "__version__", "check_claims", "compare", "evaluate", "load",
           "run"]
