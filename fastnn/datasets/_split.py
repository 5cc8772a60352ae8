"""Deterministic stratified train/test split."""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..validation import check_scalar

__all__ = ["stratified_split"]


def _check_fraction(test_fraction) -> float:
    return check_scalar(test_fraction, "test_fraction", numbers.Real, min_val=0.0, max_val=1.0,
                        include_boundaries="left")


def stratified_split(y, test_fraction: float = 0.25, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split sample indices into (train_idx, test_idx) keeping each class's share in both parts.

    The test set has ``ceil(test_fraction * n)`` samples (scikit-learn's rounding). Each class gets
    ``floor(count * n_test / n)`` test samples and the remaining ones go, one each, to the classes with the
    largest fractional parts (ties to the smaller label). Within a class the test samples are a random subset
    drawn from ``numpy.random.default_rng(seed)``, classes visited in sorted order; both index arrays are
    then shuffled with the same generator, so the result depends only on ``y``, ``test_fraction`` and
    ``seed``.
    """
    f = _check_fraction(test_fraction)
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, got shape {y.shape}")
    n = y.shape[0]
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    n_test = min(math.ceil(f * n), n)
    exact = counts * n_test / n if n else counts.astype(float)
    per_class = np.floor(exact).astype(np.int64)
    short = n_test - int(per_class.sum())
    if short > 0:
        # largest remainder first; np.argsort is stable, so ties keep label order
        order = np.argsort(-(exact - per_class), kind="stable")
        per_class[order[:short]] += 1
    per_class = np.minimum(per_class, counts)
    rng = np.random.default_rng(seed)
    train_parts, test_parts = [], []
    for k in range(len(classes)):
        idx = rng.permutation(np.flatnonzero(inverse == k))
        test_parts.append(idx[:per_class[k]])
        train_parts.append(idx[per_class[k]:])
    empty = np.empty(0, dtype=np.int64)
    train_idx = rng.permutation(np.concatenate(train_parts or [empty])).astype(np.int64)
    test_idx = rng.permutation(np.concatenate(test_parts or [empty])).astype(np.int64)
    return train_idx, test_idx
