"""fairbench: measure how face-recognition systems treat demographic groups.

The one orchestration path is :func:`fairbench.api.run`; the CLI (``fairbench``) is a thin
shell over it.
"""

__version__ = "0.1.0"
