"""Dense-layer epilogues and fused losses (kernels in csrc/dense.c, csrc/loss.c)."""
from __future__ import annotations

import numpy as np

from .._config import threads_for
from .._ext import dense as _dense
from .._ext import loss as _loss
from ._checks import out_array, real_array

ACTIVATIONS = {"identity": 0, "relu": 1, "leaky_relu": 2, "sigmoid": 3, "tanh": 4, "gelu": 5}


def activation_code(name: str) -> int:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}") from None


def bias_act_forward(z: np.ndarray, b: np.ndarray | None, y_out: np.ndarray, activation: str = "identity",
                     alpha: float = 0.01) -> np.ndarray:
    """y_out = act(z + b). ``y_out`` may be ``z`` (in place); otherwise ``z`` is left holding z + b."""
    real_array("z", z, ndim=2)
    out_array("y_out", y_out, z.shape, z.dtype)
    if b is not None:
        out_array("b", b, (z.shape[1],), z.dtype)
    _dense.bias_act_forward(z, b, y_out, activation_code(activation), alpha, threads_for(z.size))
    return y_out


def act_backward(dy: np.ndarray, y: np.ndarray, z: np.ndarray | None, dz_out: np.ndarray,
                 db_out: np.ndarray | None, activation: str = "identity", alpha: float = 0.01) -> np.ndarray:
    """dz_out = dy * act'(z) (written from y; GELU needs z) and db_out = dz_out.sum(0) accumulated in double."""
    real_array("dy", dy, ndim=2)
    out_array("y", y, dy.shape, dy.dtype)
    out_array("dz_out", dz_out, dy.shape, dy.dtype)
    code = activation_code(activation)
    if code == ACTIVATIONS["gelu"]:
        if z is None:
            raise ValueError("GELU backward needs the pre-activation z")
        out_array("z", z, dy.shape, dy.dtype)
    if db_out is not None:
        out_array("db_out", db_out, (dy.shape[1],), dy.dtype)
    _dense.act_backward(dy, y, z, dz_out, db_out, code, alpha, threads_for(dy.size))
    return dz_out


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
                 checked_labels: bool = False) -> tuple[float, int]:
    """Softmax cross entropy; grad_out = scale * (softmax - onehot).

    Returns (summed loss over rows, number of rows whose argmax equals the label). ``checked_labels`` skips the
    label validation when the caller validated the whole label array once (the training loop).
    """
    real_array("logits", logits, ndim=2)
    if not checked_labels:
        labels = _labels(labels, *logits.shape)
    if grad_out is not None:
        out_array("grad_out", grad_out, logits.shape, logits.dtype)
    return _loss.softmax_xent(logits, labels, grad_out, scale, threads_for(logits.size))


def softmax(logits: np.ndarray, probs_out: np.ndarray) -> np.ndarray:
    """Row-wise softmax; ``probs_out`` may be ``logits``."""
    real_array("logits", logits, ndim=2)
    out_array("probs_out", probs_out, logits.shape, logits.dtype)
    _loss.softmax(logits, probs_out, threads_for(logits.size))
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
               scale: float) -> tuple[float, int]:
    """Binary cross entropy from logits; grad_out = scale * (sigmoid(x) - t).

    Returns (summed loss, number of elements with (x > 0) == (t > 0.5)).
    """
    x, t, g = _flat_pair(logits, targets, grad_out)
    return _loss.bce_logits(x, t, g, scale, threads_for(x.size))


def mse(pred: np.ndarray, targets: np.ndarray, grad_out: np.ndarray | None, scale: float) -> float:
    """Summed squared error; grad_out = scale * 2 (pred - targets). Returns the sum."""
    p, t, g = _flat_pair(pred, targets, grad_out)
    return _loss.mse(p, t, g, scale, threads_for(p.size))


def weight_penalty(w: np.ndarray, grad_io: np.ndarray | None, l1: float, l2: float) -> float:
    """Returns l1 * sum|w| + l2 * sum w^2 and adds its gradient l1 * sign(w) + 2 * l2 * w into grad_io
    (value only when grad_io is None)."""
    real_array("w", w)
    if grad_io is not None:
        out_array("grad_io", grad_io, w.shape, w.dtype)
        grad_io = grad_io.reshape(-1)
    return _dense.weight_penalty(w.reshape(-1), grad_io, l1, l2, threads_for(w.size))
