"""numpy oracle for fastnn.ops.dense: the Dense epilogues and the weight penalty.

Non-finite values follow torch: NaN propagates through every activation; ReLU keeps -0.0 and passes NaN
(``z < 0 ? 0 : z``, not ``np.maximum``, which turns -0.0 into 0.0); ReLU's backward is a select that zeroes
dy where the output is <= 0, even a NaN dy (torch's threshold_backward), while the others multiply."""
from __future__ import annotations

import math

import numpy as np

_erf = np.vectorize(math.erf, otypes=[np.float64])


@np.errstate(over="ignore", invalid="ignore")  # exp(+inf) and -inf * 0 are expected on non-finite input
def act(z: np.ndarray, name: str, alpha: float = 0.01) -> np.ndarray:
    z64 = z.astype(np.float64)
    if name == "identity":
        y = z64
    elif name == "relu":
        y = np.where(z64 < 0, 0.0, z64)
    elif name == "leaky_relu":
        y = np.where(z64 > 0, z64, alpha * z64)
    elif name == "sigmoid":
        y = 1.0 / (1.0 + np.exp(-z64))
    elif name == "tanh":
        y = np.tanh(z64)
    elif name == "gelu":
        y = 0.5 * z64 * (1.0 + _erf(z64 / math.sqrt(2.0)))
    else:
        raise ValueError(name)
    return y.astype(z.dtype)


@np.errstate(over="ignore", invalid="ignore")
def act_grad(z: np.ndarray, name: str, alpha: float = 0.01) -> np.ndarray:
    z64 = z.astype(np.float64)
    if name == "identity":
        d = np.ones_like(z64)
    elif name == "relu":
        d = np.where(z64 <= 0, 0.0, 1.0)
    elif name == "leaky_relu":
        d = np.where(z64 > 0, 1.0, alpha)
    elif name == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-z64))
        d = s * (1 - s)
    elif name == "tanh":
        d = 1.0 - np.tanh(z64) ** 2
    elif name == "gelu":
        d = 0.5 * (1.0 + _erf(z64 / math.sqrt(2.0))) + z64 * np.exp(-0.5 * z64 ** 2) / math.sqrt(2 * math.pi)
    else:
        raise ValueError(name)
    return d


def bias_act_forward(z, b, activation="identity", alpha=0.01):
    pre = z if b is None else z + b
    return act(pre, activation, alpha)


def act_backward(dy, y, z, activation="identity", alpha=0.01):
    """Returns (dz, db), differentiating at the pre-activation z (the oracle does not need the output y)."""
    dy64 = dy.astype(np.float64)
    if activation == "relu":  # a select, not a product: 0 * NaN would be NaN
        dz = np.where(z.astype(np.float64) <= 0, 0.0, dy64)
    else:
        dz = dy64 * act_grad(z, activation, alpha)
    return dz.astype(dy.dtype), dz.sum(axis=0).astype(dy.dtype)


def weight_penalty(w, grad_io, l1, l2):
    """Returns l1 * sum|w| + l2 * sum w^2 and adds its gradient l1 sign(w) + 2 l2 w into grad_io (unless None)."""
    w64 = w.astype(np.float64)
    value = float(l1 * np.abs(w64).sum() + l2 * (w64 * w64).sum())
    if grad_io is not None:
        r = grad_io.dtype.type
        grad_io += r(l1) * np.sign(w).astype(grad_io.dtype) + r(2.0 * l2) * w
    return value
