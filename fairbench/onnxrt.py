"""ONNX Runtime, as every fairbench model uses it: pinned files, usable providers, one
input contract, telemetry off.

Shared by the ONNX matcher, the insightface matcher and the ONNX liveness plugin, so a model
is loaded, checked and fed the same way everywhere. :mod:`fairbench.privacy` switches
ONNX Runtime's telemetry off before it is first imported; :func:`open_session` calls its
API switch as well.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator

from fairbench.errors import MatcherError
from fairbench.provenance import sha256_file

Channels = float | tuple[float, float, float]

_INTRA_OP_THREADS = 0  # 0: ONNX Runtime's default (one thread per physical core)


def set_intra_op_threads(n: int) -> None:
    """Intra-op threads of the sessions :func:`open_session` opens from now on (0: ONNX
    Runtime's default). Template extraction sizes it to the cores it runs on."""
    global _INTRA_OP_THREADS
    _INTRA_OP_THREADS = max(0, int(n))


def intra_op_threads() -> int:
    """The intra-op thread count new sessions get (0: ONNX Runtime's default)."""
    return _INTRA_OP_THREADS


class InputSpec(BaseModel):
    """A model's input tensor; a pixel p becomes ``(p * scale - mean) / std``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    size: PositiveInt
    layout: Literal["NHWC", "NCHW"] = "NHWC"
    color: Literal["RGB", "BGR"] = "RGB"
    scale: float = 1.0
    mean: Channels = 0.0
    std: Channels = 1.0

    @field_validator("std")
    @classmethod
    def _nonzero(cls, v: Channels) -> Channels:
        if np.any(np.asarray(v, dtype=np.float64) == 0):
            raise ValueError("std must be non-zero")
        return v


class OnnxModelSpec(BaseModel):
    """The parameters every ONNX model takes: the file (pinned by sha256 when given), its
    input contract, the output tensor and the execution providers to try, in order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: Path
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    input: InputSpec
    output: str
    providers: list[str] = Field(default_factory=lambda: ["CPUExecutionProvider"], min_length=1)


def preprocess(crops: np.ndarray, spec: InputSpec) -> np.ndarray:
    """(N, S, S, 3) RGB uint8 -> the model's input tensor, per ``spec``."""
    x = crops.astype(np.float32)
    if spec.color == "BGR":
        x = x[..., ::-1]
    mean = np.asarray(spec.mean, dtype=np.float32)
    std = np.asarray(spec.std, dtype=np.float32)
    x = (x * np.float32(spec.scale) - mean) / std
    if spec.layout == "NCHW":
        x = x.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x, dtype=np.float32)


def usable_providers(requested: Sequence[str]) -> list[str]:
    """The requested ONNX Runtime providers this installation has, in the requested order."""
    import onnxruntime

    available = onnxruntime.get_available_providers()
    usable = [p for p in requested if p in available]
    dropped = [p for p in requested if p not in available]
    if dropped:
        logging.getLogger(__name__).warning(
            "ONNX Runtime providers not available, skipped: %s", ", ".join(dropped))
    if not usable:
        raise MatcherError(
            f"none of the requested providers {list(requested)} is available",
            [f"available: {', '.join(available)}"],
        )
    return usable


def provider_note(requested: Sequence[str], used: Sequence[str]) -> str | None:
    """A run note when ONNX Runtime did not run every requested provider, else None.

    ONNX Runtime falls back to the next provider silently: a CUDA provider that this build
    lacks (``onnxruntime`` instead of ``onnxruntime-gpu``) or that cannot load its CUDA
    libraries leaves the session on the CPU. ``used`` is ``session.get_providers()``.

    >>> provider_note(["CUDAExecutionProvider"], ["CPUExecutionProvider"])[:48]
    'ONNX Runtime did not run CUDAExecutionProvider ('
    >>> provider_note(["CPUExecutionProvider"], ["CPUExecutionProvider"]) is None
    True
    """
    missing = [p for p in requested if p not in used]
    if not missing:
        return None
    gpu = any(p in ("CUDAExecutionProvider", "TensorrtExecutionProvider") for p in missing)
    return (f"ONNX Runtime did not run {', '.join(missing)} (requested: "
            f"{', '.join(requested)}; ran: {', '.join(used) or 'nothing'})"
            + ("; GPU providers need the onnxruntime-gpu package instead of onnxruntime"
               if gpu else ""))


def open_session(path: Path, sha256: str | None, providers: Sequence[str], key: str
                 ) -> tuple[Any, str]:
    """An ONNX Runtime session on ``path`` and the file's sha256.

    The file must match ``sha256`` when one is given, and must load: both failures are a
    :class:`~fairbench.errors.MatcherError` naming ``key`` (the config key of the file), so
    a broken model stops the run at once instead of failing every image.
    """
    import onnxruntime as ort

    if hasattr(ort, "disable_telemetry_events"):  # absent from some builds
        ort.disable_telemetry_events()
    sha = sha256_file(path)
    if sha256 is not None and sha != sha256.lower():
        raise MatcherError(f"{key}: {path} has sha256 {sha}, but the config pins "
                           f"{sha256.lower()}; refusing to run on a different file")
    try:
        options = ort.SessionOptions()
        options.intra_op_num_threads = _INTRA_OP_THREADS
        # idle pool threads sleep instead of spinning: they share the cores with the reader
        # thread, OpenCV's detector and other processes (the numbers are the same)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(str(path), sess_options=options,
                                       providers=usable_providers(providers))
    except MatcherError:
        raise
    except Exception as exc:
        raise MatcherError(f"{key}: cannot load ONNX model {path}: {exc}") from None
    return session, sha
