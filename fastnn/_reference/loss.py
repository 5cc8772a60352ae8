"""numpy oracle for fastnn.ops.loss: the fused losses (summed loss, scaled gradient), in float64."""
from __future__ import annotations

import numpy as np


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
