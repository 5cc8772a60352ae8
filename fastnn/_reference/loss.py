"""numpy oracle for fastnn.ops.loss: the fused losses (summed loss, scaled gradient), in float64. ``weights``:
one per row (None: 1), multiplying that row's loss and gradient."""
from __future__ import annotations

import numpy as np


def softmax(logits):
    x = logits.astype(np.float64)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(logits.dtype)


def _row_weights(weights, rows):
    return np.ones(rows) if weights is None else np.asarray(weights, np.float64)


def softmax_xent_soft(logits, targets, scale, weights=None):
    """Cross entropy against target distributions: returns (summed loss, gradient scaled by ``scale``)."""
    x = logits.astype(np.float64)
    t = targets.astype(np.float64)
    w = _row_weights(weights, len(x))
    m = x.max(axis=1, keepdims=True)
    # (x - m) - log(s), as torch's log_softmax: x - (m + log(s)) loses log(s) once |m| >~ 1e15
    log_p = (x - m) - np.log(np.exp(x - m).sum(axis=1, keepdims=True))
    loss = float((w * -(t * log_p).sum(axis=1)).sum())
    grad = np.exp(log_p) * t.sum(axis=1, keepdims=True) - t
    return loss, (grad * w[:, None] * scale).astype(logits.dtype)


def softmax_xent(logits, labels, scale, weights=None, smoothing=0.0):
    """Integer labels with label smoothing: the soft target (1 - smoothing) onehot + smoothing / classes."""
    classes = logits.shape[1]
    q = np.full(logits.shape, smoothing / classes)
    q[np.arange(len(labels)), labels] += 1.0 - smoothing
    return softmax_xent_soft(logits, q, scale, weights)


def bce_logits(logits, targets, scale, weights=None):
    x = logits.astype(np.float64)
    t = targets.astype(np.float64)
    w = _row_weights(weights, len(x)).reshape((-1,) + (1,) * (x.ndim - 1))
    loss = float((w * (np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x))))).sum())
    return loss, ((1.0 / (1.0 + np.exp(-x)) - t) * w * scale).astype(logits.dtype)


def mse(pred, targets, scale, weights=None):
    d = pred.astype(np.float64) - targets.astype(np.float64)
    w = _row_weights(weights, len(d)).reshape((-1,) + (1,) * (d.ndim - 1))
    return float((w * d * d).sum()), (2.0 * d * w * scale).astype(pred.dtype)
