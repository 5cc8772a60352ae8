"""numpy oracle for fastnn.ops.dropout: the counter-based masks rebuilt with uint64 array arithmetic."""
from __future__ import annotations

import numpy as np

from ..ops.dropout import GOLDEN, MASK64, dropout_key, threshold_and_scale  # noqa: F401  (pure Python helpers)


def _splitmix64(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def dropout_mask(n: int, p: float, key: int) -> np.ndarray:
    """uint8 mask of n elements: element e uses the low (e even) or high (e odd) 32 bits of
    splitmix64(key + (e // 2 + 1) * GOLDEN), kept when those bits >= round(p * 2^32)."""
    threshold, _ = threshold_and_scale(p)
    pairs = (n + 1) // 2
    with np.errstate(over="ignore"):
        ctr = np.uint64(key & MASK64) + (np.arange(pairs, dtype=np.uint64) + np.uint64(1)) * np.uint64(GOLDEN)
        h = _splitmix64(ctr)
    bits = np.empty(2 * pairs, dtype=np.uint64)
    bits[0::2] = h & np.uint64(0xFFFFFFFF)
    bits[1::2] = h >> np.uint64(32)
    return (bits[:n] >= np.uint64(threshold) if threshold < 2 ** 32 else np.zeros(n, bool)).astype(np.uint8)


def dropout_forward(x, p, key):
    """Returns (y, mask)."""
    mask = dropout_mask(x.size, p, key).reshape(x.shape)
    _, scale = threshold_and_scale(p)
    y = np.where(mask.astype(bool), x * x.dtype.type(scale), x.dtype.type(0))
    return y.astype(x.dtype), mask


def dropout_backward(dy, mask, p):
    _, scale = threshold_and_scale(p)
    return np.where(mask.astype(bool), dy * dy.dtype.type(scale), dy.dtype.type(0)).astype(dy.dtype)
