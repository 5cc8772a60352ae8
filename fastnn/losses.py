"""Losses, each fused with its gradient in one C pass (csrc/loss_tmpl.h).

Every loss is a weighted mean: ``sum_i w_i l_i / sum_i w_i`` over the rows of a batch, where ``l_i`` is row i's
loss (cross_entropy) or the mean of its elements (binary_cross_entropy, mse) and ``w_i`` its weight (``fit``'s
``sample_weight`` times its ``class_weight``; 1 without them). Unweighted this is PyTorch's default
``reduction="mean"``; with class weights on cross_entropy it is ``torch.nn.CrossEntropyLoss(weight=...)``'s
weighted mean. A batch whose weights sum to 0 has loss 0 and no gradient. Batch targets carry their weights as
:class:`Weighted` (targets, weights).

Names (``get``): "cross_entropy" (integer labels or one-hot / soft target rows), "binary_cross_entropy", "mse",
and Keras's aliases "sparse_categorical_crossentropy" (integer labels only), "categorical_crossentropy" (one-hot
or probability rows only), "binary_crossentropy", "mean_squared_error". Unlike Keras's losses (whose
``from_logits`` defaults to False), the model's last layer gives logits and the loss applies the softmax /
sigmoid, which is what a Keras model with a softmax / sigmoid output layer computes.
"""
from __future__ import annotations

from numbers import Real
from typing import Any, NamedTuple

import numpy as np

from ._registry import Registry, class_config
from .ops import dense as _dense
from .ops import loss as ops
from .validation import c_array, check_scalar


class Weighted(NamedTuple):
    """A batch's prepared targets with one float64 weight per row."""
    targets: np.ndarray
    weights: np.ndarray


def split_weights(targets: np.ndarray | Weighted) -> tuple[np.ndarray, np.ndarray | None]:
    """(targets, weights or None) of a batch."""
    if isinstance(targets, Weighted):
        return targets.targets, targets.weights
    return targets, None


class Loss:
    name = ""
    has_accuracy = True
    predicts_probabilities = False  # transform_output gives probabilities (predict_proba is defined)

    def prepare_targets(self, y, n: int, n_outputs: int, dtype) -> np.ndarray:
        """Validate the whole target array once, before training; returns it in the kernel's layout."""
        raise NotImplementedError

    def target_buffer(self, batch: int, n_outputs: int, dtype) -> np.ndarray:
        raise NotImplementedError

    def kernel(self, out: np.ndarray, targets: np.ndarray, weights: np.ndarray | None, grad_out: np.ndarray | None,
               scale: float) -> tuple[float, int]:
        """(summed weighted loss, correct count); grad_out gets ``scale`` times the weighted gradient."""
        raise NotImplementedError

    def __call__(self, out: np.ndarray, targets: np.ndarray | Weighted,
                 grad_out: np.ndarray | None) -> tuple[float, int]:
        """(summed weighted loss, correct count) over the batch; grad_out gets d(mean loss)/d(out), the mean
        dividing by :meth:`denominator`."""
        t, w = split_weights(targets)
        return self.kernel(out, t, w, grad_out, 1.0 / self.denominator(out, targets))

    def weight(self, out: np.ndarray, targets: np.ndarray | Weighted) -> float:
        """How many loss terms the batch counts: (rows, or the sum of the row weights) * values_per_row; 0 for a
        batch whose weights sum to 0. A mean over several batches divides their summed losses by the sum of
        their weights."""
        _, w = split_weights(targets)
        rows = out.shape[0] if w is None else float(w.sum())
        return rows * self.values_per_row(out.shape[1] if out.ndim > 1 else 1)

    def denominator(self, out: np.ndarray, targets: np.ndarray | Weighted) -> float:
        """What one batch's summed loss is divided by: its :meth:`weight`, or 1 for a batch whose weights sum to
        0 (loss 0, no gradient)."""
        return self.weight(out, targets) or 1.0

    def transform_output(self, out: np.ndarray) -> np.ndarray:
        """Map raw outputs to predictions in place (probabilities for the classification losses)."""
        return out

    def values_per_row(self, n_outputs: int) -> int:
        """How many loss terms (and accuracy decisions) one sample contributes: the mean divides by
        rows * values_per_row."""
        return 1

    def n_classes(self, n_outputs: int) -> int | None:
        """How many classes 1-D labels of this loss name (None: the loss takes no class labels)."""
        return None

    def row_classes(self, targets: np.ndarray) -> np.ndarray | None:
        """The class index of every row of prepared targets (for ``class_weight``); None without classes."""
        return None

    def predicted_classes(self, out: np.ndarray) -> np.ndarray:
        """Class indices from raw outputs (``predict_classes``)."""
        raise ValueError(f"the loss {self.name!r} predicts no classes: use predict")

    def get_config(self) -> str | dict[str, Any]:
        """The loss's name, or ``{"class": ..., **parameters}`` when it has non-default parameters."""
        return self.name

    def __repr__(self) -> str:
        config = self.get_config()
        return f"{type(self).__name__}()" if isinstance(config, str) else f"{type(self).__name__}({config})"


TARGET_FORMATS = ("auto", "labels", "probabilities")


class CrossEntropy(Loss):
    """Softmax + cross entropy from logits (torch.nn.CrossEntropyLoss), on integer labels or on target rows
    (one-hot or class probabilities, torch's probability targets):
    loss_i = -sum_c q_ic log softmax(x_i)_c with q_i = onehot(y_i) or the given row.

    label_smoothing eps (PyTorch's formula): q_i becomes (1 - eps) q_i + eps / C; fused in the kernel for
    labels, applied to the target rows once for probability targets. targets: "auto" (1-D labels or 2-D rows),
    "labels" (sparse_categorical_crossentropy) or "probabilities" (categorical_crossentropy). Target rows must
    be non-negative and sum to 1 (within 1e-3). Accuracy compares the argmax of the logits with the label (the
    argmax of a target row). With class weights, a row's class is its label (the argmax of its target row, as
    Keras); with label smoothing, each row's smoothed loss is weighted by its class's weight (PyTorch instead
    weights each term of the smoothing sum by its own class: the two agree when only one is used)."""
    name = "cross_entropy"
    predicts_probabilities = True

    def __init__(self, label_smoothing: float = 0.0, targets: str = "auto") -> None:
        self.label_smoothing = float(check_scalar(label_smoothing, "label_smoothing", Real, min_val=0.0,
                                                  max_val=1.0))
        if targets not in TARGET_FORMATS:
            raise ValueError(f"targets must be one of {TARGET_FORMATS}, got {targets!r}")
        self.targets = targets

    def prepare_targets(self, y, n, n_outputs, dtype):
        y = np.asarray(y)
        if n_outputs < 2:
            raise ValueError("cross_entropy needs at least 2 outputs; use binary_cross_entropy for one logit")
        if y.ndim == 2 and self.targets != "labels":
            return self._prepare_rows(y, n, n_outputs, dtype)
        if y.ndim != 1 or self.targets == "probabilities":
            expected = {"auto": f"integer labels of shape ({n},) or target rows of shape ({n}, {n_outputs})",
                        "labels": f"integer labels of shape ({n},)",
                        "probabilities": f"one-hot or probability rows of shape ({n}, {n_outputs})"}[self.targets]
            raise ValueError(f"{self.name} expects {expected}, got shape {y.shape}")
        if y.dtype.kind == "f":
            if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
                raise ValueError("cross_entropy labels must be integers; got non-integer float values")
        elif y.dtype.kind not in "iub":
            raise TypeError(f"cross_entropy labels must be integers, got dtype {y.dtype}")
        if len(y) and (y.min() < 0 or y.max() >= n_outputs):
            bad = int(np.flatnonzero((y < 0) | (y >= n_outputs))[0])
            raise ValueError(f"label {y[bad]} at row {bad} is out of range for {n_outputs} classes "
                             f"(labels must lie in [0, {n_outputs}))")
        return c_array(y, np.int64)

    def _prepare_rows(self, y: np.ndarray, n: int, n_outputs: int, dtype) -> np.ndarray:
        if y.shape != (n, n_outputs):
            raise ValueError(f"{self.name} target rows must have shape ({n}, {n_outputs}), got {y.shape}")
        if y.dtype.kind not in "biuf":
            raise TypeError(f"{self.name} target rows must be numeric, got dtype {y.dtype}")
        t = np.array(y, dtype=dtype, order="C")  # a copy: smoothing below writes into it
        if not np.all(np.isfinite(t)) or (t.size and t.min() < 0):
            raise ValueError(f"{self.name} target rows must be finite and non-negative")
        sums = t.sum(axis=1, dtype=np.float64)
        if len(sums) and np.abs(sums - 1.0).max() > 1e-3:
            bad = int(np.argmax(np.abs(sums - 1.0)))
            raise ValueError(f"{self.name} target rows must sum to 1 (one-hot or class probabilities); row {bad} "
                             f"sums to {sums[bad]:.6g}")
        if self.label_smoothing:
            t *= 1.0 - self.label_smoothing
            t += self.label_smoothing / n_outputs
        return t

    def target_buffer(self, batch, n_outputs, dtype):
        return np.empty(batch, np.int64)

    def kernel(self, out, targets, weights, grad_out, scale):
        if targets.ndim == 2:
            return ops.softmax_xent_soft(out, targets, grad_out, scale, weights=weights)
        return ops.softmax_xent(out, targets, grad_out, scale, checked_labels=True, weights=weights,
                                smoothing=self.label_smoothing)

    def transform_output(self, out):
        return ops.softmax(out, out)

    def n_classes(self, n_outputs):
        return n_outputs

    def row_classes(self, targets):
        return targets if targets.ndim == 1 else targets.argmax(axis=1)

    def predicted_classes(self, out):
        return out.argmax(axis=1)

    def get_config(self):
        params = {k: v for k, v in (("label_smoothing", self.label_smoothing), ("targets", self.targets))
                  if v != {"label_smoothing": 0.0, "targets": "auto"}[k]}
        return class_config(self, **params) if params else self.name


class _ElementwiseLoss(Loss):
    def prepare_targets(self, y, n, n_outputs, dtype):
        y = np.asarray(y)
        if y.dtype.kind not in "biuf":
            raise TypeError(f"{self.name} targets must be numeric, got dtype {y.dtype}")
        if y.ndim == 1 and n_outputs == 1:
            y = y.reshape(-1, 1)
        if y.shape != (n, n_outputs):
            raise ValueError(f"{self.name} targets must have shape ({n}, {n_outputs}), got {np.shape(y)}")
        with np.errstate(over="ignore"):  # an overflow is reported below
            targets = c_array(y, dtype)
        finite = np.isfinite(targets)
        if not finite.all():
            row, col = (int(i) for i in np.argwhere(~finite)[0])
            if np.isfinite(y[row, col]):  # a finite target the cast to the model's dtype made inf
                raise ValueError(f"{self.name} targets hold {float(y[row, col])!r} at row {row}, column {col}, "
                                 f"which overflows the model's dtype {np.dtype(dtype)} to inf; rescale the "
                                 "targets or use a float64 model")
            raise ValueError(f"{self.name} targets contain NaN or inf (first at row {row})")
        return targets

    def target_buffer(self, batch, n_outputs, dtype):
        return np.empty((batch, n_outputs), dtype)

    def values_per_row(self, n_outputs):
        return n_outputs


class BinaryCrossEntropy(_ElementwiseLoss):
    """Sigmoid + binary cross entropy from logits (torch.nn.BCEWithLogitsLoss), mean over elements:
    loss = mean [max(x, 0) - x t + log(1 + exp(-|x|))]. Targets in [0, 1]. With one output, 1-D labels name two
    classes (a row's class is t > 0.5); with several outputs each is its own yes/no label (multilabel)."""
    name = "binary_cross_entropy"
    predicts_probabilities = True

    def prepare_targets(self, y, n, n_outputs, dtype):
        y = super().prepare_targets(y, n, n_outputs, dtype)
        if y.size and (y.min() < 0 or y.max() > 1):
            raise ValueError("binary_cross_entropy targets must lie in [0, 1]")
        return y

    def kernel(self, out, targets, weights, grad_out, scale):
        return ops.bce_logits(out, targets, grad_out, scale, weights=weights)

    def transform_output(self, out):
        # sigmoid via the fused activation kernel
        return _dense.bias_act_forward(out, None, out, "sigmoid")

    def n_classes(self, n_outputs):
        return 2 if n_outputs == 1 else None

    def row_classes(self, targets):
        return (targets[:, 0] > 0.5).astype(np.int64) if targets.shape[1] == 1 else None

    def predicted_classes(self, out):
        classes = (out > 0).astype(np.int64)  # logit > 0 <=> probability > 0.5
        return classes[:, 0] if out.shape[1] == 1 else classes


class MeanSquaredError(_ElementwiseLoss):
    """loss = mean over elements of (out - t)^2 (torch.nn.MSELoss)."""
    name = "mse"
    has_accuracy = False

    def kernel(self, out, targets, weights, grad_out, scale):
        return ops.mse(out, targets, grad_out, scale, weights=weights), 0


LOSSES = {"cross_entropy": CrossEntropy, "binary_cross_entropy": BinaryCrossEntropy, "mse": MeanSquaredError}
# Keras's names; each builds the loss above with the target format it implies.
ALIASES = {"sparse_categorical_crossentropy": lambda: CrossEntropy(targets="labels"),
           "categorical_crossentropy": lambda: CrossEntropy(targets="probabilities"),
           "binary_crossentropy": BinaryCrossEntropy, "mean_squared_error": MeanSquaredError}
LOSS_CLASSES = Registry("loss", (CrossEntropy, BinaryCrossEntropy, MeanSquaredError))


def get(loss: str | dict[str, Any] | Loss) -> Loss:
    """A Loss from an instance, a name (or Keras alias) or a config ``{"class": "CrossEntropy", ...}``."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, dict):
        return LOSS_CLASSES.from_config(loss)
    factory = (LOSSES.get(loss) or ALIASES.get(loss)) if isinstance(loss, str) else None
    if factory is None:
        raise ValueError(f"unknown loss {loss!r}; expected one of {sorted(LOSSES) + sorted(ALIASES)}, a Loss or "
                         "a loss config dict")
    return factory()
