"""Input checks at the public API boundary: every check runs before any state changes, and each error says
what is wrong, where, and what was expected."""
from __future__ import annotations

import numbers

import numpy as np

_CHECK_CHUNK_ROWS = 1 << 16  # rows per finiteness check, so a memmapped X is never loaded whole


def as_2d_features(X, name: str = "X", n_features: int | None = None) -> np.ndarray:
    """Return X as a 2-D numeric array (memmaps stay memmaps), refusing what cannot be trained on."""
    if not isinstance(X, np.ndarray):
        try:
            X = np.asarray(X)
        except (ValueError, TypeError) as exc:
            raise TypeError(f"{name} must be a numeric array, could not convert: {exc}") from None
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric (bool, int or float), got dtype {X.dtype}")
    if X.ndim == 1 and n_features is not None and n_features > 1 and X.shape[0] == n_features:
        raise ValueError(f"{name} is 1-D with {X.shape[0]} values; pass a 2-D array of shape (n_samples, "
                         f"{n_features}) (use X.reshape(1, -1) for a single sample)")
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty: it has 0 samples")
    if X.shape[1] == 0:
        raise ValueError(f"{name} has 0 features")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features, but the model expects {n_features}")
    return X


def check_finite(X: np.ndarray, name: str = "X") -> None:
    """Raise naming the first row holding NaN or inf; reads X in chunks (memmap friendly)."""
    if X.dtype.kind != "f":
        return
    for start in range(0, X.shape[0], _CHECK_CHUNK_ROWS):
        chunk = X[start:start + _CHECK_CHUNK_ROWS]
        finite = np.isfinite(chunk)
        if not finite.all():
            row, col = np.argwhere(~finite)[0]
            raise ValueError(f"{name} contains {chunk[row, col]} at row {start + row}, column {col}; "
                             "remove or impute non-finite values before training")


def positive_int(name: str, value, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return int(value)


def non_negative_int(name: str, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return int(value)


def check_length(name: str, y, n: int) -> None:
    if len(y) != n:
        raise ValueError(f"{name} has {len(y)} rows but X has {n}")
