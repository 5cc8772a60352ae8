"""When folding an offset into a bias cancels digits, and what is kept apart then.

A transform (x - m) @ A, folded into the Dense after it as x @ (A W) + (-m A W + b), replaces the differences
x_k - m_k by terms x_k A_kj that the bias cancels: on data far from the origin (mean 100, std 1e-3) those terms
are 1e5 times the outputs, and float32 loses as many digits. fastnn.fold and fastnn.inference.compile keep such
offsets apart, subtracted first as the model does; this module holds their shared test and imports nothing of
fastnn, so the inference path may use it.
"""
from __future__ import annotations

from typing import Any

import numpy as np

#: An offset folds into a bias while its :func:`cancellation` is at most this; above it the folded model
#: subtracts it first (a MeanCenter, or an unfolded BatchNorm). Measured on float32 100-64-10 models after a
#: StandardScaler (5 seeds, median of max |plan - model| / max |model|): folding every offset gives 4.4e-7 at
#: cancellation 1, 5.7e-7 at 2, 1.1e-6 at 4 and 1.6e-5 at 64; subtracting first, 1.9e-7 .. 2.5e-7 at any. At 2
#: folding leaves room under a plan's 2e-6 bound for the kernels' summation order (up to 1.1e-6 at width 1000).
#: One threshold for both dtypes: float64 would allow far more, at the cost of a rowwise pass kept.
KEEP_OFFSET_ABOVE = 2.0


def cancellation(m: np.ndarray, A: np.ndarray) -> np.ndarray:
    """Per input feature k, ``abs(m_k) * max_j abs(A_kj)``: the size of the terms x_k A_kj that a folded bias
    c - m @ A cancels down to outputs of order one (``abs(mean_k) / std_k`` for a StandardScaler; huge for a
    whitened constant feature). Float32 rounding of those terms is what folding adds to the outputs."""
    return np.abs(m) * np.max(np.abs(A), axis=1, initial=0.0)


def offset_cancels(bn: Any) -> bool:
    """Whether folding a BatchNorm's running mean into a shift would cancel digits (its :func:`cancellation`,
    ``abs(mean_k) * scale_k``, above ``KEEP_OFFSET_ABOVE``: a BatchNorm that normalizes raw features far from
    the origin). Such a BatchNorm is not folded into the next Dense; a plan subtracts its mean first."""
    mean, scale, _ = bn.centered_scale_shift()
    return bool(np.any(cancellation(mean, scale[:, None]) > KEEP_OFFSET_ABOVE))
