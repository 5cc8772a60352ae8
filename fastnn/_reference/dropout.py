"""numpy oracle for fastnn.ops.dropout: the counter-based masks rebuilt with uint64 array arithmetic."""
from __future__ import annotations

import numpy as np

from .random import bits, dropout_key  # noqa: F401  (the generator; dropout_key re-exported as ops' twin)


def threshold_and_scale(p: float) -> tuple[int, float]:
    """(threshold on 32 random bits, scale of kept units): round(p 2^32) and 1 / (1 - p) (0 for p = 1)."""
    return round(float(p) * 2.0 ** 32), (0.0 if p == 1.0 else 1.0 / (1.0 - p))


def dropout_mask(n: int, p: float, key: int) -> np.ndarray:
    """uint8 mask of n elements: element e uses the low (e even) or high (e odd) 32 bits of bits(key, e // 2),
    kept when those bits >= round(p * 2^32)."""
    threshold, _ = threshold_and_scale(p)
    pairs = (n + 1) // 2
    with np.errstate(over="ignore"):
        h = bits(key, np.arange(pairs, dtype=np.uint64))
    words = np.empty(2 * pairs, dtype=np.uint64)
    words[0::2] = h & np.uint64(0xFFFFFFFF)
    words[1::2] = h >> np.uint64(32)
    return (words[:n] >= np.uint64(threshold) if threshold < 2 ** 32 else np.zeros(n, bool)).astype(np.uint8)


def dropout_forward(x, p, key):
    """Returns (y, mask)."""
    mask = dropout_mask(x.size, p, key).reshape(x.shape)
    _, scale = threshold_and_scale(p)
    y = np.where(mask.astype(bool), x * x.dtype.type(scale), x.dtype.type(0))
    return y.astype(x.dtype), mask


def dropout_backward(dy, mask, p):
    _, scale = threshold_and_scale(p)
    return np.where(mask.astype(bool), dy * dy.dtype.type(scale), dy.dtype.type(0)).astype(dy.dtype)
