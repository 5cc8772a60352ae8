"""numpy oracle for fastnn.ops.core (dense epilogues and losses)."""
from __future__ import annotations

import math

import numpy as np

_erf = np.vectorize(math.erf, otypes=[np.float64])


def activation(z: np.ndarray, name: str, alpha: float = 0.01) -> np.ndarray:
    z64 = z.astype(np.float64)
    if name == "identity":
        y = z64
    elif name == "relu":
        y = np.maximum(z64, 0.0)
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


def activation_grad(z: np.ndarray, name: str, alpha: float = 0.01) -> np.ndarray:
    z64 = z.astype(np.float64)
    if name == "identity":
        d = np.ones_like(z64)
    elif name == "relu":
        d = (z64 > 0).astype(np.float64)
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


def bias_act_forward(z, b, activation_name="identity", alpha=0.01):
    pre = z if b is None else z + b
    return activation(pre, activation_name, alpha)


def act_backward(dy, z_pre, activation_name="identity", alpha=0.01):
    """Returns (dz, db) given the pre-activation z_pre."""
    dz = (dy.astype(np.float64) * activation_grad(z_pre, activation_name, alpha))
    return dz.astype(dy.dtype), dz.sum(axis=0).astype(dy.dtype)


def softmax(logits):
    x = logits.astype(np.float64)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(logits.dtype)


def softmax_xent(logits, labels, scale):
    """Returns (summed loss, gradient scaled by ``scale``)."""
    x = logits.astype(np.float64)
    m = x.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(x - m).sum(axis=1))
    rows = np.arange(len(labels))
    loss = float((lse - x[rows, labels]).sum())
    p = np.exp(x - lse[:, None])
    p[rows, labels] -= 1.0
    return loss, (p * scale).astype(logits.dtype)


def bce_logits(logits, targets, scale):
    x = logits.astype(np.float64)
    t = targets.astype(np.float64)
    loss = float((np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))).sum())
    return loss, ((1.0 / (1.0 + np.exp(-x)) - t) * scale).astype(logits.dtype)


def mse(pred, targets, scale):
    d = pred.astype(np.float64) - targets.astype(np.float64)
    return float((d * d).sum()), (2.0 * d * scale).astype(pred.dtype)


def weight_penalty(w, l1, l2):
    """Returns (l1 * sum|w| + l2 * sum w^2, its gradient)."""
    w64 = w.astype(np.float64)
    value = float(l1 * np.abs(w64).sum() + l2 * (w64 * w64).sum())
    return value, (l1 * np.sign(w64) + 2.0 * l2 * w64).astype(w.dtype)
