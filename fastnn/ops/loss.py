"""Fused losses: forward and gradient in one pass (kernels in csrc/loss.c). Summed losses are fixed-block
reductions: the same bits for any thread count."""
from __future__ import annotations

import numpy as np

from .._ext import loss as _loss
from ._checks import out_array, real_array, resolve_threads


def _labels(labels, rows: int, classes: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (rows,):
        raise ValueError(f"labels must have shape ({rows},), got {labels.shape}")
    if labels.dtype != np.int64:
        labels = labels.astype(np.int64)
    if rows and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"labels must lie in [0, {classes}), got range [{labels.min()}, {labels.max()}]")
    return np.ascontiguousarray(labels)


def softmax_xent(logits: np.ndarray, labels: np.ndarray, grad_out: np.ndarray | None, scale: float,
                 checked_labels: bool = False, n_threads: int | None = None) -> tuple[float, int]:
    """Softmax cross entropy; grad_out = scale * (softmax - onehot).

    Returns (summed loss over rows, number of rows whose argmax equals the label). ``checked_labels`` skips the
    label validation when the caller validated the whole label array once (the training loop).
    """
    real_array("logits", logits, ndim=2)
    if not checked_labels:
        labels = _labels(labels, *logits.shape)
    if grad_out is not None:
        out_array("grad_out", grad_out, logits.shape, logits.dtype)
    return _loss.softmax_xent(logits, labels, grad_out, scale, resolve_threads(n_threads, logits.size))


def softmax(logits: np.ndarray, probs_out: np.ndarray, n_threads: int | None = None) -> np.ndarray:
    """Row-wise softmax; ``probs_out`` may be ``logits``."""
    real_array("logits", logits, ndim=2)
    out_array("probs_out", probs_out, logits.shape, logits.dtype)
    _loss.softmax(logits, probs_out, resolve_threads(n_threads, logits.size))
    return probs_out


def _flat_pair(pred: np.ndarray, targets: np.ndarray, grad_out: np.ndarray | None):
    real_array("pred", pred)
    real_array("targets", targets, dtype=pred.dtype)
    if targets.shape != pred.shape:
        raise ValueError(f"targets have shape {targets.shape}, expected {pred.shape}")
    if grad_out is not None:
        out_array("grad_out", grad_out, pred.shape, pred.dtype)
        grad_out = grad_out.reshape(-1)
    return pred.reshape(-1), targets.reshape(-1), grad_out


def bce_logits(logits: np.ndarray, targets: np.ndarray, grad_out: np.ndarray | None,
               scale: float, n_threads: int | None = None) -> tuple[float, int]:
    """Binary cross entropy from logits; grad_out = scale * (sigmoid(x) - t).

    Returns (summed loss, number of elements with (x > 0) == (t > 0.5)).
    """
    x, t, g = _flat_pair(logits, targets, grad_out)
    return _loss.bce_logits(x, t, g, scale, resolve_threads(n_threads, x.size))


def mse(pred: np.ndarray, targets: np.ndarray, grad_out: np.ndarray | None, scale: float,
        n_threads: int | None = None) -> float:
    """Summed squared error; grad_out = scale * 2 (pred - targets). Returns the sum."""
    p, t, g = _flat_pair(pred, targets, grad_out)
    return _loss.mse(p, t, g, scale, resolve_threads(n_threads, p.size))
