"""How much rounding the raw rows to a float32 model's dtype costs its preprocessor's output.

A float32 model casts its raw rows to float32 before the preprocessor (so do PyTorch and Keras pipelines that
hold float32 tensors): a raw value x carries an error of up to |x| * 2**-24, which standardizing divides by the
feature's spread, not by |x|. For features far from zero relative to their spread (timestamps in seconds, say:
1.7e9 +- 100), that wipes the feature out: the standardized values are off by most of a standard deviation.
"""
from __future__ import annotations

from typing import Any

import numpy as np

#: rows of X that the check transforms twice (float64 and the model's dtype)
SAMPLE_ROWS = 1024


def rounding_error(preprocess: Any, X: np.ndarray, dtype: Any) -> tuple[float, int]:
    """(the largest change of a preprocessed value, in units of that output feature's standard deviation over
    the sample, and that feature's index) when the first ``SAMPLE_ROWS`` raw rows of X are rounded to
    ``dtype`` before ``preprocess`` instead of transformed in float64. (0.0, -1) when X is already in
    ``dtype`` or narrower (nothing is rounded here), or ``dtype`` is float64."""
    dt = np.dtype(dtype)
    if dt == np.float64 or X.dtype == dt or X.dtype.itemsize < dt.itemsize and X.dtype.kind == "f":
        return 0.0, -1
    sample = np.asarray(X[:SAMPLE_ROWS], dtype=np.float64)
    exact = preprocess.transform(sample)
    rounded = preprocess.transform(sample.astype(dt)).astype(np.float64)
    spread = exact.std(axis=0)
    spread[~(spread > 0)] = 1.0  # a constant output feature: absolute error
    relative = np.abs(rounded - exact).max(axis=0) / spread
    j = int(np.argmax(relative))
    return float(relative[j]), j
