"""Which device runs a mode's kernel: checked before any work, recorded in run.json.

``verification.device`` / ``identification.device``: ``cpu`` (the numba kernels on every
core) or ``cuda`` (:mod:`fairbench.kernels.device` with CuPy on this machine's GPU). A
``cuda`` run on a machine without CuPy or without a usable GPU stops at once with a
:class:`~fairbench.errors.ConfigError` (exit 2) saying how to install it; there is no
silent fallback to the CPU. ``provenance.kernels`` records what really ran.
"""

from __future__ import annotations

from typing import Any

from fairbench.errors import ConfigError
from fairbench.kernels.device import INSTALL, cuda_problem, describe

CPU_KERNELS = {"verification": "fairbench.kernels.stream",
               "identification": "fairbench.kernels.search"}


def _section(config: Any) -> tuple[str, Any]:
    mode = config.mode
    return mode, getattr(config, mode, None)


def check_devices(config: Any) -> None:
    """A ConfigError when the run's mode asks for ``cuda`` and cannot have it."""
    mode, sec = _section(config)
    if sec is None or getattr(sec, "device", "cpu") != "cuda":
        return
    problem = cuda_problem()
    if problem:
        raise ConfigError(f"{mode}.device: cuda cannot run here: {problem}",
                          [f"install the GPU extra: {INSTALL}", f"or set {mode}.device: cpu"])
    executor = getattr(getattr(config, "executor", None), "name", "local")
    if executor != "local":
        raise ConfigError(f"{mode}.device: cuda runs on this machine's GPU, not through "
                          f"executor {executor!r}; use one or the other")


def kernel_record(mode: str, device: str, precision: str) -> dict[str, Any]:
    """What ran for ``mode``: the CPU kernel, or the device kernel with the GPU's details."""
    if device == "cuda":
        rec = describe("cuda", precision)
        part = "allpairs" if mode == "verification" else "search"
        rec["kernel"] = f"fairbench.kernels.device.{part}"
        return rec
    return {"device": "cpu", "precision": "float32", "kernel": CPU_KERNELS[mode]}
