"""Ray for the executor tests: skipped where Ray is not installed, except in CI's Ray step
(``CI=true`` and ``FAIRBENCH_RAY_TESTS=1``), where a missing Ray is a failure.

A helper module, not a ``conftest.py``: two conftest files in sibling test folders clash
under ``--doctest-modules`` (both import as ``conftest``)."""

from __future__ import annotations

import os
from types import ModuleType

import pytest


def ray_required() -> bool:
    ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    return ci and os.environ.get("FAIRBENCH_RAY_TESTS", "") == "1"


def need_ray() -> ModuleType:
    """``import ray``, or skip the module (fail it in CI's Ray step)."""
    try:
        import ray
    except ImportError:
        msg = 'Ray is not installed: pip install -e ".[ray]"'
        if ray_required():
            pytest.fail(f"FAIRBENCH_RAY_TESTS=1 under CI: {msg}", pytrace=False)
        pytest.skip(msg, allow_module_level=True)
    return ray
