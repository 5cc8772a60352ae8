"""Synthetic classification data for benchmarks and tests (no scikit-learn needed)."""
from __future__ import annotations

import numbers

import numpy as np

from ..validation import check_scalar
from ._digits import real_dtype

__all__ = ["make_classification"]


def _int(name: str, value, minimum: int) -> int:
    return check_scalar(value, name, numbers.Integral, min_val=minimum)


def make_classification(n_samples: int, n_features: int, n_classes: int, n_informative: int | None = None,
                        seed: int = 0, dtype="float32", *, class_sep: float = 1.0,
                        clusters_per_class: int = 1):
    """Gaussian clusters, one set per class, in a random subset of the features; the rest is noise.

    For each class ``c`` and cluster ``k < clusters_per_class`` a centre ``mu[c, k] ~ N(0, class_sep^2 I)`` is
    drawn in ``n_informative`` dimensions; a sample of class ``c`` is ``mu[c, k] + N(0, I)`` with ``k`` uniform.
    The other ``n_features - n_informative`` features are ``N(0, 1)`` noise, and the informative columns are
    scattered at random positions. Classes are balanced (``n_samples // n_classes`` each, the remainder to
    the first classes) and the rows are shuffled. Everything is drawn in float64 from
    ``numpy.random.default_rng(seed)`` and cast at the end, so the float32 and float64 sets agree to float32
    rounding and the same arguments always give the same arrays.

    ``n_informative`` defaults to ``min(n_features, max(2, n_classes))``.

    Returns ``(X, y)``: X of shape (n_samples, n_features) and ``dtype``; y int64 in ``0..n_classes-1``.
    """
    n_samples = _int("n_samples", n_samples, 1)
    n_features = _int("n_features", n_features, 1)
    n_classes = _int("n_classes", n_classes, 2)
    clusters_per_class = _int("clusters_per_class", clusters_per_class, 1)
    if n_informative is None:
        n_informative = min(n_features, max(2, n_classes))
    n_informative = _int("n_informative", n_informative, 1)
    if n_informative > n_features:
        raise ValueError(f"n_informative={n_informative} exceeds n_features={n_features}")
    class_sep = check_scalar(class_sep, "class_sep", numbers.Real, min_val=0.0)
    dt = real_dtype(dtype)

    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, class_sep, size=(n_classes, clusters_per_class, n_informative))
    y = rng.permutation(np.arange(n_samples, dtype=np.int64) % n_classes)
    cluster = rng.integers(0, clusters_per_class, size=n_samples)
    X = rng.standard_normal((n_samples, n_features))
    columns = rng.permutation(n_features)[:n_informative]
    X[:, columns] += centres[y, cluster]
    return X.astype(dt, copy=False), y
