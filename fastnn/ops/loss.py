"""Fused losses: forward and gradient in one pass (kernels in csrc/loss.c). Summed losses are fixed-block
reductions: the same bits for any thread count."""
from __future__ import annotations

import numpy as np

from .._ext import loss as _loss
from ..validation import c_array
from ._checks import out_array, real_array, resolve_threads

HELPERS = ("softmax_xent_work", "softmax_work", "bce_logits_work")


def _labels(labels, rows: int, classes: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (rows,):
        raise ValueError(f"labels must have shape ({rows},), got {labels.shape}")
    if labels.dtype != np.int64:
        labels = labels.astype(np.int64)
    if rows and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"labels must lie in [0, {classes}), got range [{labels.min()}, {labels.max()}]")
    return c_array(labels)


def _logits(logits) -> np.ndarray:
    """2-D float logits with at least one class: the kernels read each row's first logit (its running max)."""
    real_array("logits", logits, ndim=2)
    if logits.shape[1] == 0:
        raise ValueError(f"logits must have at least one class (column), got shape {logits.shape}")
    return logits


def _weights(weights: np.ndarray | None, rows: int) -> np.ndarray | None:
    """Per-row weights as C-contiguous float64 (None: every row weighs 1); finite and non-negative."""
    if weights is None:
        return None
    weights = c_array(weights, np.float64)
    if weights.shape != (rows,):
        raise ValueError(f"weights must have shape ({rows},), got {weights.shape}")
    return weights


# Work of one element of the softmax cross entropy in the parallel threshold's units (fastnn._config.threads_for:
# elements of a streaming pass): two exp and a share of a log in double, ~10 ns on one thread, against ~0.2 ns an
# element of the bias and activation pass (measured 2026-12-02). So 2 threads from ~410 rows of 10 classes; a
# warm pool halves the call from 2 blocks of rows on (1024 x 10: 104 -> 54 us; bench/RESULTS.md, thirteenth
# session). Without a gradient (evaluation) an element has one exp: half. The rows split into fixed blocks: the bits
# do not depend on the threads.
EXP_ELEMENT_WORK = 64


def softmax_xent_work(logits: np.ndarray, grad_out: np.ndarray | None) -> int:
    """The work a softmax cross entropy call counts toward its thread count (fastnn._config.threads_for)."""
    return logits.size * (EXP_ELEMENT_WORK if grad_out is not None else EXP_ELEMENT_WORK // 2)


def softmax_work(logits: np.ndarray) -> int:
    """The work of a row-wise softmax: one exp an element, as the cross entropy's evaluation (measured: 5.6 ns an
    element on one thread against the cross entropy's 11; bench/loss_threads.py, fifteenth session)."""
    return logits.size * (EXP_ELEMENT_WORK // 2)


def bce_logits_work(logits: np.ndarray) -> int:
    """The work of a binary cross entropy from logits: an exp, a log1p and a division an element in double, with or
    without the gradient (whose sigmoid reuses the exp); measured 19 ns an element on one thread, more than an
    element of the softmax cross entropy, whose weight it takes: its sum runs in blocks of FNN_REDUCE_BLOCK
    elements, so below two blocks a second thread has nothing to take (bench/loss_threads.py)."""
    return logits.size * EXP_ELEMENT_WORK


def softmax_xent(logits: np.ndarray, labels: np.ndarray, grad_out: np.ndarray | None, scale: float,
                 checked_labels: bool = False, n_threads: int | None = None, *, weights: np.ndarray | None = None,
                 smoothing: float = 0.0) -> tuple[float, int]:
    """Softmax cross entropy against integer labels with label smoothing ``smoothing`` (PyTorch's formula: the
    target is q = (1 - smoothing) onehot + smoothing / classes); row i's loss and gradient are multiplied by
    ``weights[i]`` (None: 1). grad_out = scale * w_i * (softmax - q).

    Returns (summed weighted loss over rows, number of rows whose argmax equals the label). ``checked_labels``
    skips the label validation when the caller validated the whole label array once (the training loop).
    """
    _logits(logits)
    if not checked_labels:
        labels = _labels(labels, *logits.shape)
    if grad_out is not None:
        out_array("grad_out", grad_out, logits.shape, logits.dtype)
    if not 0.0 <= smoothing <= 1.0:
        raise ValueError(f"smoothing must lie in [0, 1], got {smoothing}")
    return _loss.softmax_xent(logits, labels, _weights(weights, logits.shape[0]), grad_out, scale, smoothing,
                              resolve_threads(n_threads, softmax_xent_work(logits, grad_out)))


def softmax_xent_soft(logits: np.ndarray, targets: np.ndarray, grad_out: np.ndarray | None, scale: float,
                      n_threads: int | None = None, *, weights: np.ndarray | None = None) -> tuple[float, int]:
    """Softmax cross entropy against target distributions (one-hot or soft rows, PyTorch's probability targets):
    loss_i = -w_i sum_c t_ic log softmax(x_i)_c, grad_out = scale * w_i * (softmax(x_i) sum_c t_ic - t_i).

    Returns (summed weighted loss over rows, number of rows whose argmax equals the target's argmax)."""
    _logits(logits)
    real_array("targets", targets, ndim=2, dtype=logits.dtype)
    if targets.shape != logits.shape:
        raise ValueError(f"targets have shape {targets.shape}, expected {logits.shape}")
    if grad_out is not None:
        out_array("grad_out", grad_out, logits.shape, logits.dtype)
    return _loss.softmax_xent_soft(logits, targets, _weights(weights, logits.shape[0]), grad_out, scale,
                                   resolve_threads(n_threads, softmax_xent_work(logits, grad_out)))


def softmax(logits: np.ndarray, probs_out: np.ndarray, n_threads: int | None = None) -> np.ndarray:
    """Row-wise softmax; ``probs_out`` may be ``logits``."""
    real_array("logits", logits, ndim=2)
    out_array("probs_out", probs_out, logits.shape, logits.dtype)
    _loss.softmax(logits, probs_out, resolve_threads(n_threads, softmax_work(logits)))
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


def _row_weights(pred: np.ndarray, weights: np.ndarray | None) -> tuple[np.ndarray | None, int]:
    """(weights checked against the rows of ``pred``, values per row); a 1-D ``pred`` is one row per value."""
    rows, cols = (pred.shape[0], int(np.prod(pred.shape[1:], dtype=np.int64))) if pred.ndim else (1, 1)
    return _weights(weights, rows), max(cols, 1)


def bce_logits(logits: np.ndarray, targets: np.ndarray, grad_out: np.ndarray | None,
               scale: float, n_threads: int | None = None, *, weights: np.ndarray | None = None) -> tuple[float, int]:
    """Binary cross entropy from logits; grad_out = scale * w_row * (sigmoid(x) - t), ``weights`` one per row of
    ``logits`` (None: 1).

    Returns (summed weighted loss, number of elements with (x > 0) == (t > 0.5)).
    """
    w, cols = _row_weights(logits, weights)
    x, t, g = _flat_pair(logits, targets, grad_out)
    return _loss.bce_logits(x, t, w, g, cols, scale, resolve_threads(n_threads, bce_logits_work(x)))


def mse(pred: np.ndarray, targets: np.ndarray, grad_out: np.ndarray | None, scale: float,
        n_threads: int | None = None, *, weights: np.ndarray | None = None) -> float:
    """Summed squared error, each row weighted by ``weights`` (None: 1); grad_out = scale * w_row * 2 (pred -
    targets). Returns the weighted sum."""
    w, cols = _row_weights(pred, weights)
    p, t, g = _flat_pair(pred, targets, grad_out)
    return _loss.mse(p, t, w, g, cols, scale, resolve_threads(n_threads, p.size))
