"""Inverted dropout kernels (csrc/dropout.c): validation, key derivation, thread count, call.

The mask of a call is a pure function of (seed, step, stream, element index) — see csrc/dropout_tmpl.h and
csrc/fnn_random.h — so the same seed gives the same masks for any thread count, and
``fastnn._reference.dropout`` rebuilds them.
"""
from __future__ import annotations

import numpy as np

from .._ext import dropout as _dropout
from ._checks import out_array, real_array, resolve_threads

# scalar helpers (codes, keys, sizes): no kernel, no threads; every other function is a kernel entry point
HELPERS = ("dropout_key", "threshold_and_scale")

MASK64 = (1 << 64) - 1


def dropout_key(seed: int, step: int, stream: int = 0) -> int:
    """64-bit key of one dropout call: key(seed, step, stream) of the counter-based generator
    (csrc/fnn_random.h); seed (of fit), step (optimizer step), stream (layer index in the model)."""
    for name, v in (("seed", seed), ("step", step), ("stream", stream)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"dropout {name} must be an integer, got {v!r}")
    return _dropout.key(int(seed) & MASK64, int(step) & MASK64, int(stream) & MASK64)


def threshold_and_scale(p: float) -> tuple[int, float]:
    """(threshold on 32 random bits, scale of kept units) for drop probability p in [0, 1]."""
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p!r}")
    threshold = int(round(p * 2.0 ** 32))
    return threshold, (0.0 if p == 1.0 else 1.0 / (1.0 - p))


def dropout_forward(x: np.ndarray, y_out: np.ndarray, mask_out: np.ndarray, p: float, key: int,
                    n_threads: int | None = None) -> np.ndarray:
    """y_out = x * mask / (1 - p); mask_out (uint8, x's shape) receives the mask (1 = kept)."""
    real_array("x", x)
    out_array("y_out", y_out, x.shape, x.dtype)
    _mask_array("mask_out", mask_out, x.shape)
    threshold, scale = threshold_and_scale(p)
    _dropout.forward(x.reshape(-1), y_out.reshape(-1), mask_out.reshape(-1), int(key) & MASK64, threshold, scale,
                     resolve_threads(n_threads, x.size))
    return y_out


def dropout_backward(dy: np.ndarray, mask: np.ndarray, dx_out: np.ndarray, p: float,
                     n_threads: int | None = None) -> np.ndarray:
    """dx_out = dy * mask / (1 - p); dx_out may be dy."""
    real_array("dy", dy)
    _mask_array("mask", mask, dy.shape)
    out_array("dx_out", dx_out, dy.shape, dy.dtype)
    _, scale = threshold_and_scale(p)
    _dropout.backward(dy.reshape(-1), mask.reshape(-1), dx_out.reshape(-1), scale, resolve_threads(n_threads, dy.size))
    return dx_out


def dropout_mask(mask_out: np.ndarray, p: float, key: int, n_threads: int | None = None) -> np.ndarray:
    """Only the mask (uint8, 1 = kept) for drop probability p and ``key``."""
    if not isinstance(mask_out, np.ndarray) or mask_out.dtype != np.uint8 or not mask_out.flags.c_contiguous:
        raise TypeError("mask_out must be a C-contiguous uint8 array")
    threshold, _ = threshold_and_scale(p)
    _dropout.mask(mask_out.reshape(-1), int(key) & MASK64, threshold, resolve_threads(n_threads, mask_out.size))
    return mask_out


def _mask_array(name, m, shape):
    if not isinstance(m, np.ndarray) or m.dtype != np.uint8:
        raise TypeError(f"{name} must be a uint8 numpy array")
    if m.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {m.shape}")
    if not m.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")
