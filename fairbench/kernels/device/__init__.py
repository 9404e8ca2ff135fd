"""Device kernels: all-pairs counts and 1:N top-k written once against an array module.

The same code runs with ``xp = cupy`` on a CUDA GPU (``device="cuda"``) and with
``xp = numpy`` on the CPU (``device="numpy"``: the reference CI runs, bit-identical to the
CPU kernels of :mod:`fairbench.kernels.stream` and :mod:`fairbench.kernels.search`). The
fast CPU path of a run stays the numba kernels; ``numpy`` here exists so the device code is
checked on every machine. What is and is not bit-identical on a GPU is said in
:mod:`fairbench.kernels.device.allpairs`.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import numpy as np

DEVICES = ("numpy", "cuda")
PRECISIONS = ("float32", "tf32", "float16")
INSTALL = 'pip install "fairbench[gpu]" (CuPy for CUDA 12: cupy-cuda12x)'


class DeviceUnavailable(RuntimeError):
    """``cuda`` was asked for but CuPy or a usable GPU is missing (the message says which)."""


def cuda_problem() -> str | None:
    """Why ``device: cuda`` cannot run here, or None when CuPy sees a GPU."""
    try:
        cupy = importlib.import_module("cupy")
    except Exception as exc:  # ImportError, or a broken CUDA library underneath
        return f"CuPy is not installed or does not import ({exc}); {INSTALL}"
    try:
        n = int(cupy.cuda.runtime.getDeviceCount())
    except Exception as exc:  # CUDARuntimeError: no driver, driver too old, no device
        return f"CuPy {cupy.__version__} finds no usable CUDA GPU ({exc})"
    if n < 1:
        return f"CuPy {cupy.__version__} finds no CUDA GPU"
    return None


def array_module(device: str) -> ModuleType:
    """``numpy`` or ``cupy`` for a device name; :class:`DeviceUnavailable` if cuda cannot run."""
    if device == "numpy":
        return np
    if device != "cuda":
        raise ValueError(f"unknown device {device!r}; one of {', '.join(DEVICES)}")
    problem = cuda_problem()
    if problem:
        raise DeviceUnavailable(f"device cuda: {problem}")
    return importlib.import_module("cupy")


def to_host(a: Any) -> np.ndarray:
    """A numpy copy (or the array itself) of a numpy or cupy array."""
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)


def describe(device: str, precision: str = "float32") -> dict[str, Any]:
    """What ran, for run.json: device, array module and versions, the GPU's name."""
    out: dict[str, Any] = {"device": device, "precision": precision,
                           "kernel": "fairbench.kernels.device", "numpy": np.__version__}
    if device == "cuda":
        xp = array_module("cuda")
        props = xp.cuda.runtime.getDeviceProperties(xp.cuda.runtime.getDevice())
        name = props["name"]
        out.update({
            "array_module": "cupy", "cupy": xp.__version__,
            "cuda_runtime": int(xp.cuda.runtime.runtimeGetVersion()),
            "cuda_driver": int(xp.cuda.runtime.driverGetVersion()),
            "gpu": name.decode() if isinstance(name, bytes) else str(name),
            "gpu_memory_bytes": int(props["totalGlobalMem"]),
        })
    else:
        out["array_module"] = "numpy"
    return out
