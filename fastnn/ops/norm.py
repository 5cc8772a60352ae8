"""Batch and layer normalization kernels (csrc/norm.c): validation, thread count, call.

Conventions (PyTorch's BatchNorm1d / LayerNorm): x is (rows, features); the saved statistics ``mean`` and
``invstd`` = 1 / sqrt(var + eps) are float64 (one per feature for BatchNorm, one per row for LayerNorm) whatever
the dtype of x, because the kernels accumulate in double. ``gamma``/``beta`` are both given or both None.
"""
from __future__ import annotations

import numpy as np

from .._ext import norm as _norm
from ._checks import out_array, real_array, resolve_threads

# scalar helpers (codes, keys, sizes): no kernel, no threads; every other function is a kernel entry point
HELPERS = ("bn_scratch_size", "ln_scratch_shape")

F64 = np.dtype(np.float64)
LN_ROW_BLOCK = int(_norm.ln_row_block())
BN_ROW_BLOCK = int(_norm.bn_row_block())


def bn_scratch_size(rows: int, cols: int) -> int:
    """float64 scratch (per-block partial sums) of bn_forward_train / bn_backward."""
    return 3 * max(1, -(-rows // BN_ROW_BLOCK)) * cols


def _bn_scratch(scratch, rows, cols):
    size = bn_scratch_size(rows, cols)
    if scratch is None:
        return np.empty(size, F64)
    real_array("scratch", scratch, ndim=1, dtype=F64)
    if scratch.size < size or not scratch.flags.writeable:
        raise ValueError(f"scratch must be a writeable float64 array of at least {size} elements, got {scratch.size}")
    return scratch


def _affine(gamma, beta, cols, dtype):
    if (gamma is None) != (beta is None):
        raise ValueError("gamma and beta must both be given or both be None")
    if gamma is not None:
        out_array("gamma", gamma, (cols,), dtype)
        out_array("beta", beta, (cols,), dtype)


def _stat(name, a, n):
    return out_array(name, a, (n,), F64)


def _grads(dgamma_out, dbeta_out, gamma, cols, dtype):
    if (dgamma_out is None) != (dbeta_out is None):
        raise ValueError("dgamma_out and dbeta_out must both be given or both be None")
    if dgamma_out is not None:
        if gamma is None:
            raise ValueError("dgamma_out/dbeta_out need gamma (the layer has no affine parameters)")
        out_array("dgamma_out", dgamma_out, (cols,), dtype)
        out_array("dbeta_out", dbeta_out, (cols,), dtype)



def _check_backward(x, dy, gamma, mean, invstd, dx_out, dgamma_out, dbeta_out, stats_axis: int):
    """Checks shared by the BatchNorm and LayerNorm backward passes; statistics run along ``stats_axis`` of x
    (1: per feature, BatchNorm; 0: per row, LayerNorm). Returns x.shape."""
    real_array("x", x, ndim=2)
    rows, cols = x.shape
    real_array("dy", dy, ndim=2, dtype=x.dtype)
    if dy.shape != x.shape:
        raise ValueError(f"dy has shape {dy.shape}, expected {x.shape}")
    if gamma is not None:
        out_array("gamma", gamma, (cols,), x.dtype)
    _stat("mean", mean, x.shape[stats_axis])
    _stat("invstd", invstd, x.shape[stats_axis])
    if dx_out is not None:
        out_array("dx_out", dx_out, x.shape, x.dtype)
    _grads(dgamma_out, dbeta_out, gamma, cols, x.dtype)
    return rows, cols

def bn_forward_train(x, gamma, beta, y_out, mean_out, invstd_out, running_mean_io=None, running_var_io=None,
                     eps: float = 1e-5, momentum: float = 0.1, scratch=None,
                     n_threads: int | None = None) -> np.ndarray:
    """Batch statistics: y_out = (x - mu) / sqrt(var + eps) * gamma + beta; saves mu and invstd (float64) and,
    when given, updates running_mean/var with ``momentum`` (the weight of the new batch; running_var gets the
    unbiased variance). Needs at least 2 rows. ``scratch``: float64, ``bn_scratch_size`` elements (allocated
    here if None; pass one from a workspace to allocate nothing)."""
    real_array("x", x, ndim=2)
    rows, cols = x.shape
    if rows < 2:
        raise ValueError(f"BatchNorm in training mode needs more than 1 sample per batch to compute a variance, "
                         f"got a batch of {rows}")
    _affine(gamma, beta, cols, x.dtype)
    out_array("y_out", y_out, x.shape, x.dtype)
    _stat("mean_out", mean_out, cols)
    _stat("invstd_out", invstd_out, cols)
    if (running_mean_io is None) != (running_var_io is None):
        raise ValueError("running_mean_io and running_var_io must both be given or both be None")
    if running_mean_io is not None:
        out_array("running_mean_io", running_mean_io, (cols,), x.dtype)
        out_array("running_var_io", running_var_io, (cols,), x.dtype)
    if not (eps > 0 and np.isfinite(eps)) or not (0.0 <= momentum <= 1.0):
        raise ValueError(f"need eps > 0 and 0 <= momentum <= 1, got eps={eps!r}, momentum={momentum!r}")
    scratch = _bn_scratch(scratch, rows, cols)
    _norm.bn_forward_train(x, gamma, beta, y_out, mean_out, invstd_out, running_mean_io, running_var_io, scratch,
                           float(eps), float(momentum), resolve_threads(n_threads, x.size))
    return y_out


def bn_forward_eval(x, gamma, beta, running_mean, running_var, y_out, mean_out, invstd_out,
                    eps: float = 1e-5, n_threads: int | None = None) -> np.ndarray:
    """Running statistics: y_out = (x - running_mean) / sqrt(running_var + eps) * gamma + beta; saves the
    statistics used (float64) for a backward pass in evaluation mode."""
    real_array("x", x, ndim=2)
    cols = x.shape[1]
    _affine(gamma, beta, cols, x.dtype)
    out_array("running_mean", running_mean, (cols,), x.dtype)
    out_array("running_var", running_var, (cols,), x.dtype)
    out_array("y_out", y_out, x.shape, x.dtype)
    _stat("mean_out", mean_out, cols)
    _stat("invstd_out", invstd_out, cols)
    if not (eps > 0 and np.isfinite(eps)):
        raise ValueError(f"need eps > 0, got {eps!r}")
    _norm.bn_forward_eval(x, gamma, beta, running_mean, running_var, y_out, mean_out, invstd_out, float(eps),
                          resolve_threads(n_threads, x.size))
    return y_out


def bn_backward(x, dy, gamma, mean, invstd, dx_out, dgamma_out, dbeta_out, batch_stats: bool = True,
                scratch=None, n_threads: int | None = None):
    """dgamma_out = sum dy * xhat, dbeta_out = sum dy (column sums in double); dx_out (or None) is the input
    gradient, through the batch statistics when ``batch_stats`` (training) or with them held constant (eval).
    ``dx_out`` may be ``dy``. ``scratch`` as in bn_forward_train."""
    cols = _check_backward(x, dy, gamma, mean, invstd, dx_out, dgamma_out, dbeta_out, stats_axis=1)[1]
    scratch = _bn_scratch(scratch, x.shape[0], cols)
    _norm.bn_backward(x, dy, gamma, mean, invstd, dx_out, dgamma_out, dbeta_out, scratch, bool(batch_stats),
                      resolve_threads(n_threads, x.size))
    return dx_out


def ln_forward(x, gamma, beta, y_out, mean_out, invstd_out, eps: float = 1e-5,
               n_threads: int | None = None) -> np.ndarray:
    """Per row: y_out = (x - mu) / sqrt(var + eps) * gamma + beta (biased variance); saves mu, invstd per row."""
    real_array("x", x, ndim=2)
    rows, cols = x.shape
    _affine(gamma, beta, cols, x.dtype)
    out_array("y_out", y_out, x.shape, x.dtype)
    _stat("mean_out", mean_out, rows)
    _stat("invstd_out", invstd_out, rows)
    if not (eps > 0 and np.isfinite(eps)):
        raise ValueError(f"need eps > 0, got {eps!r}")
    _norm.ln_forward(x, gamma, beta, y_out, mean_out, invstd_out, float(eps), resolve_threads(n_threads, x.size))
    return y_out


def ln_scratch_shape(rows: int, cols: int) -> tuple[int, int, int]:
    """Shape of the float64 scratch ln_backward needs for gamma/beta gradients (allocate once per batch size)."""
    return (max(1, -(-rows // LN_ROW_BLOCK)), 2, cols)


def ln_backward(x, dy, gamma, mean, invstd, dx_out, dgamma_out, dbeta_out, scratch=None,
                n_threads: int | None = None):
    """dx_out (or None) = invstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * gamma, per row;
    dgamma_out = sum_rows dy * xhat, dbeta_out = sum_rows dy, summed per fixed row block in ``scratch``
    (float64, ``ln_scratch_shape``; allocated here if None). ``dx_out`` may be ``dy``."""
    rows, cols = _check_backward(x, dy, gamma, mean, invstd, dx_out, dgamma_out, dbeta_out, stats_axis=0)
    if dgamma_out is not None:
        shape = ln_scratch_shape(rows, cols)
        if scratch is None:
            scratch = np.empty(shape, F64)
        out_array("scratch", scratch, shape, F64)
        scratch = scratch.reshape(-1)
    else:
        scratch = None
    _norm.ln_backward(x, dy, gamma, mean, invstd, dx_out, dgamma_out, dbeta_out, scratch,
                      resolve_threads(n_threads, x.size))
    return dx_out
