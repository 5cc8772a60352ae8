"""numpy oracle for fastnn.ops.norm: the textbook formulas in float64, results cast to the input dtype.

Same names and argument order as the ops, minus the ``*_out`` buffers: each returns its outputs.
"""
from __future__ import annotations

import numpy as np


def _affine(xhat, gamma, beta):
    return xhat if gamma is None else xhat * gamma.astype(np.float64) + beta.astype(np.float64)


def bn_forward_train(x, gamma, beta, running_mean_io=None, running_var_io=None, eps=1e-5, momentum=0.1):
    """Returns (y, mean, invstd, new_running_mean, new_running_var) (new arrays: the running statistics given
    are not changed); the running ones None when not given."""
    x64 = x.astype(np.float64)
    n = x64.shape[0]
    mean = x64.mean(axis=0)
    var = ((x64 - mean) ** 2).mean(axis=0)
    invstd = 1.0 / np.sqrt(var + eps)
    y = _affine((x64 - mean) * invstd, gamma, beta).astype(x.dtype)
    rm = rv = None
    if running_mean_io is not None:
        rm = ((1 - momentum) * running_mean_io.astype(np.float64) + momentum * mean).astype(x.dtype)
        rv = ((1 - momentum) * running_var_io.astype(np.float64) + momentum * var * n / (n - 1)).astype(x.dtype)
    return y, mean, invstd, rm, rv


def bn_forward_eval(x, gamma, beta, running_mean, running_var, eps=1e-5):
    """Returns (y, mean, invstd) with the running statistics."""
    mean = running_mean.astype(np.float64)
    invstd = 1.0 / np.sqrt(running_var.astype(np.float64) + eps)
    y = _affine((x.astype(np.float64) - mean) * invstd, gamma, beta).astype(x.dtype)
    return y, mean, invstd


def bn_backward(x, dy, gamma, mean, invstd, batch_stats=True):
    """Returns (dx, dgamma, dbeta)."""
    x64, dy64 = x.astype(np.float64), dy.astype(np.float64)
    n = x64.shape[0]
    xhat = (x64 - mean) * invstd
    dbeta = dy64.sum(axis=0)
    dgamma = (dy64 * xhat).sum(axis=0)
    k = invstd if gamma is None else gamma.astype(np.float64) * invstd
    if batch_stats:
        dx = k * (dy64 - dbeta / n - xhat * dgamma / n)
    else:
        dx = k * dy64
    return dx.astype(x.dtype), dgamma.astype(x.dtype), dbeta.astype(x.dtype)


def ln_stats(x64, eps):
    """Per-row (mean, invstd) of a float64 (rows, features) array, invstd = 1 / sqrt(var + eps) with the biased
    variance. A finite row whose squared deviations overflow is taken scaled by s, the power of two that brings
    its largest |x| into [0.5, 1): mean = mean(x s) / s, invstd = s / sqrt(var(x s) + eps s^2), the kernels'
    rescue (csrc/fnn_ln_scale_tmpl.h). Other rows have s = 1, which changes no bit of the textbook formulas."""
    with np.errstate(over="ignore", invalid="ignore"):
        plain_var = ((x64 - x64.mean(axis=1, keepdims=True)) ** 2).mean(axis=1)
    rescue = ~np.isfinite(plain_var) & np.isfinite(x64).all(axis=1)
    s = np.ones(len(x64))
    s[rescue] = np.ldexp(1.0, -np.frexp(np.abs(x64[rescue]).max(axis=1))[1])
    xs = x64 * s[:, None]
    mean = xs.mean(axis=1)
    var = ((xs - mean[:, None]) ** 2).mean(axis=1)
    return mean / s, s / np.sqrt(var + eps * s * s)


def ln_forward(x, gamma, beta, eps=1e-5):
    """Returns (y, mean, invstd), statistics per row (``ln_stats``)."""
    x64 = x.astype(np.float64)
    mean, invstd = ln_stats(x64, eps)
    y = _affine((x64 - mean[:, None]) * invstd[:, None], gamma, beta).astype(x.dtype)
    return y, mean, invstd


def ln_backward(x, dy, gamma, mean, invstd):
    """Returns (dx, dgamma, dbeta)."""
    x64, dy64 = x.astype(np.float64), dy.astype(np.float64)
    n = x64.shape[1]
    xhat = (x64 - mean[:, None]) * invstd[:, None]
    g = dy64 if gamma is None else dy64 * gamma.astype(np.float64)
    dx = invstd[:, None] * (g - g.sum(axis=1, keepdims=True) / n
                            - xhat * (g * xhat).sum(axis=1, keepdims=True) / n)
    return dx.astype(x.dtype), (dy64 * xhat).sum(axis=0).astype(x.dtype), dy64.sum(axis=0).astype(x.dtype)
