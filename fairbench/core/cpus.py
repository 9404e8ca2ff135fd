"""How many CPUs this process may use: what every pool of threads or workers is sized by."""

from __future__ import annotations

import os


def cores() -> int:
    """The CPUs this process may run on: its affinity mask (``taskset``, a container's
    cpuset), not the host's count, which would oversubscribe a restricted process."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no affinity masks on this platform
        return max(1, os.cpu_count() or 1)
