"""Matrix products for the Dense layers (kernel in csrc/gemm.c): the same bits for any thread count.

``gemm(a, b, out)`` writes ``a @ b`` into ``out``. Operands may be transposed or sliced views (any element strides,
read-only is fine): ``gemm(x.T, dz, out=dW)`` and ``gemm(dz, W.T, out=dx)`` run without copies. The output is cut
into fixed tasks computed by one thread each (csrc/gemm.h), so no element is summed across threads and the result
does not depend on ``n_threads``; it may differ between CPUs in the last bits (FMA or not, fnn_simd.h).
"""
from __future__ import annotations

import numpy as np

from .._config import GEMM_MACS_PER_ELEMENT, explicit_threads, threads_for
from .._ext import gemm as _gemm
from ..validation import c_array
from ._checks import apart, out_array, real_array

# scalar helpers (codes, keys, sizes): no kernel, no threads; every other function is a kernel entry point
HELPERS = ("simd_available", "set_simd", "product_work")


def _operand(name: str, a, dtype) -> np.ndarray:
    """``a`` as a 2-D array the kernel can read: element strides (a copy only for odd byte strides or alignment)."""
    if isinstance(a, np.ndarray) and (not a.flags.aligned or any(s % a.itemsize for s in a.strides)):
        a = c_array(a)
    return real_array(name, a, ndim=2, dtype=dtype, contiguous=False)


def gemm(a: np.ndarray, b: np.ndarray, out: np.ndarray, n_threads: int | None = None,
         check: bool = True) -> np.ndarray:
    """out = a @ b (a: (m, k), b: (k, n), out: (m, n) C-contiguous, not overlapping a or b); returns out.

    ``check=False`` skips the argument checks (about 5 us a call) for a caller that owns the buffers and guarantees
    them: one float dtype, aligned, element strides, shapes that chain, ``out`` C-contiguous and apart (the Dense
    layers inside a training step)."""
    if check:
        a, b = _checked(a, b, out, None)
    (m, k), n = a.shape, out.shape[1]
    _gemm.gemm(a, b, out, _threads(m, n, k) if n_threads is None else explicit_threads(int(n_threads)))
    return out


def _checked(a, b, out: np.ndarray, dtype) -> tuple[np.ndarray, np.ndarray]:
    """``a`` and ``b`` as the kernel reads them, after the checks of ``out = a @ b`` (``dtype``: None, or the one
    the operands must have)."""
    a = _operand("a", a, dtype)
    b = _operand("b", b, a.dtype)
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"a {a.shape} and b {b.shape} do not chain: a has {a.shape[1]} columns, b {b.shape[0]} rows")
    out_array("out", out, (a.shape[0], b.shape[1]), a.dtype)
    apart("out", out, a=a, b=b)
    return a, b


def _threads(m: int, n: int, k: int) -> int:
    """The thread count of a product: ``threads_for`` of its :func:`product_work`."""
    return threads_for(product_work(m, n, k))


def product_work(m: int, n: int, k: int) -> int:
    """The work of an (m, k) x (k, n) product in elements of elementwise work (as ``threads_for`` counts it): the
    multiply-adds it costs over ``GEMM_MACS_PER_ELEMENT``. A register tile is 32 float32 columns wide and stores
    its block after each run over k, so a product narrower than 32 columns or summing over fewer than 32 terms (a
    10-class output layer's three products) costs like 32 of them (measured: those run ~3x below the wide ones'
    rate per multiply-add; at batch 1024 two threads take 25 / 38 / 22 us instead of 47 / 60 / 31)."""
    return m * (n if n > 32 else 32) * (k if k > 32 else 32) // GEMM_MACS_PER_ELEMENT


def simd_available() -> int:
    """The best SIMD rung this CPU runs: 0 baseline, 1 AVX2 + FMA, 2 AVX-512."""
    return int(_gemm.simd_available())


def set_simd(max_level: int) -> None:
    """Cap the rung gemm uses (tests compare every rung with the reference)."""
    _gemm.set_simd(int(max_level))


def gemm_update(a: np.ndarray, b: np.ndarray, updates, index: int, n_threads: int | None = None,
                check: bool = True) -> int:
    """``updates.grads[index] = a @ b``, then the optimizer step of that tensor (``updates``: a
    fastnn.ops.optim.TensorUpdates) applied to each block of it right after the thread that computed the block
    wrote it, while it is in that core's cache. The same bits as the product followed by the step: the update
    is elementwise. Returns the number of gradient elements the step's clamp changed."""
    out = updates.grads[index]
    if check:
        a, b = _checked(a, b, out, out.dtype)
    (m, k), n = a.shape, out.shape[1]
    threads = _threads(m, n, k) if n_threads is None else explicit_threads(int(n_threads))
    return _gemm.gemm(a, b, out, threads, updates.epilogue, updates.addresses[index])
