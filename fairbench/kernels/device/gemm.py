"""Tile products ``A @ B.T`` into a float32 buffer, in the precision a device kernel asks for.

- ``float32``: float32 inputs, float32 accumulation. On numpy this is the CPU kernels' own
  call (the same strips of rows into the same buffers, one BLAS thread), so the products are
  bit-identical to theirs. On CUDA, cuBLAS SGEMM with TF32 switched off: every product is a
  correctly rounded float32 operation, but cuBLAS sums the d terms in its own order
  (blocked, sometimes split over K), so a score may differ from OpenBLAS's in its last bits.
- ``tf32``: inputs rounded to 10 mantissa bits, float32 accumulation (cuBLAS TF32 tensor
  cores). numpy emulates it by rounding the inputs to nearest-even first.
- ``float16``: inputs rounded to float16, float32 accumulation and a float32 result
  (``cublasSgemmEx`` with half inputs; never a half result). The products of two float16
  values are exact in float32, so numpy's emulation (round, widen, SGEMM) differs from the
  GPU only in summation order.

Never bfloat16: its 8-bit mantissa moves tail counts by up to 0.65 %.
"""

from __future__ import annotations

from contextlib import contextmanager
from types import ModuleType
from typing import Any

import numpy as np


def round_inputs(xp: ModuleType, a: Any, precision: str) -> Any:
    """What the GEMM reads: float32 as is, float16, or float32 rounded to TF32 (numpy only)."""
    if precision == "float16":
        return a.astype(xp.float16)
    if precision == "tf32" and xp is np:
        bits = a.view(np.uint32)
        lsb = (bits >> np.uint32(13)) & np.uint32(1)
        return ((bits + np.uint32(0xFFF) + lsb) & np.uint32(0xFFFFE000)).view(np.float32)
    return a


@contextmanager
def _cupy_compute_type(precision: str):  # pragma: no cover - needs a GPU
    """cuBLAS float32 GEMMs with TF32 on (``tf32``) or off (anything else) inside the block."""
    from cupy._core import _routines_linalg as rl

    old = rl.get_compute_type(np.float32)
    rl.set_compute_type(np.float32, rl.COMPUTE_TYPE_TF32 if precision == "tf32"
                        else rl.COMPUTE_TYPE_DEFAULT)
    try:
        yield
    finally:
        rl.set_compute_type(np.float32, old)


def _sgemm_ex_half(A: Any, B: Any, out: Any) -> None:  # pragma: no cover - needs a GPU
    """``out = A @ B.T`` for C-contiguous float16 A (m, d), B (n, d) into float32 out (m, n).

    Row-major C = A B^T is column-major C^T = B^T' A: cuBLAS op(B) = T, op(A) = N."""
    import cupy
    from cupy_backends.cuda.libs import cublas

    m, d = A.shape
    n = B.shape[0]
    if not (out.flags.c_contiguous and out.shape == (m, n) and out.dtype == np.float32):
        raise ValueError("the float16 product needs a C-contiguous float32 (m, n) output")
    one = np.ones(1, np.float32)
    zero = np.zeros(1, np.float32)
    handle = cupy.cuda.device.get_cublas_handle()
    r16, r32 = cupy.cuda.runtime.CUDA_R_16F, cupy.cuda.runtime.CUDA_R_32F
    mode = cublas.getPointerMode(handle)
    cublas.setPointerMode(handle, cublas.CUBLAS_POINTER_MODE_HOST)  # alpha, beta on the host
    cublas.setStream(handle, cupy.cuda.get_current_stream().ptr)
    try:
        cublas.sgemmEx(handle, cublas.CUBLAS_OP_T, cublas.CUBLAS_OP_N, n, m, d,
                       one.ctypes.data, B.data.ptr, r16, d, A.data.ptr, r16, d,
                       zero.ctypes.data, out.data.ptr, r32, n)
    finally:
        cublas.setPointerMode(handle, mode)


def product(xp: ModuleType, A: Any, B: Any, out: Any, precision: str, strip: int = 256) -> Any:
    """``A @ B.T`` into ``out`` (float32, shape (len(A), len(B))); A, B as ``round_inputs``
    made them. numpy multiplies ``strip`` rows at a time, exactly as the CPU kernel does."""
    if xp is np:
        a32 = A if A.dtype == np.float32 else A.astype(np.float32)
        b32 = a32 if B is A else (B if B.dtype == np.float32 else B.astype(np.float32))
        for s0 in range(0, len(a32), strip):
            s1 = min(len(a32), s0 + strip)
            np.matmul(a32[s0:s1], b32.T, out=out[s0:s1])
        return out
    if precision == "float16":  # pragma: no cover - needs a GPU
        _sgemm_ex_half(xp.ascontiguousarray(A), xp.ascontiguousarray(B), out)
        return out
    with _cupy_compute_type(precision):  # pragma: no cover - needs a GPU
        xp.matmul(A, B.T, out=out)
    return out
