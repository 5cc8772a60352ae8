"""Losses, each fused with its gradient in one C pass (csrc/loss.c). All are means over the batch, as
PyTorch's default ``reduction="mean"``: cross_entropy over rows, binary_cross_entropy and mse over elements."""
from __future__ import annotations

import numpy as np

from .ops import dense as _dense
from .ops import loss as ops


class Loss:
    name = ""
    has_accuracy = True
    predicts_probabilities = False  # transform_output gives probabilities (predict_proba is defined)

    def prepare_targets(self, y, n: int, n_outputs: int, dtype) -> np.ndarray:
        """Validate the whole target array once, before training; returns it in the kernel's layout."""
        raise NotImplementedError

    def target_buffer(self, batch: int, n_outputs: int, dtype) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, out: np.ndarray, targets: np.ndarray, grad_out: np.ndarray | None) -> tuple[float, int]:
        """(summed loss, correct count) over the batch; grad_out gets d(mean loss)/d(out)."""
        raise NotImplementedError

    def transform_output(self, out: np.ndarray) -> np.ndarray:
        """Map raw outputs to predictions in place (probabilities for the classification losses)."""
        return out

    def values_per_row(self, n_outputs: int) -> int:
        """How many loss terms (and accuracy decisions) one sample contributes: the mean divides by
        rows * values_per_row."""
        return 1


class CrossEntropy(Loss):
    """Softmax + negative log likelihood on integer labels, from logits (torch.nn.CrossEntropyLoss):
    loss = mean_i [logsumexp(x_i) - x_i[y_i]]."""
    name = "cross_entropy"
    predicts_probabilities = True

    def prepare_targets(self, y, n, n_outputs, dtype):
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"cross_entropy expects integer labels of shape ({n},), got shape {y.shape}")
        if y.dtype.kind == "f":
            if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
                raise ValueError("cross_entropy labels must be integers; got non-integer float values")
        elif y.dtype.kind not in "iub":
            raise TypeError(f"cross_entropy labels must be integers, got dtype {y.dtype}")
        if n_outputs < 2:
            raise ValueError("cross_entropy needs at least 2 outputs; use binary_cross_entropy for one logit")
        if len(y) and (y.min() < 0 or y.max() >= n_outputs):
            bad = int(np.flatnonzero((y < 0) | (y >= n_outputs))[0])
            raise ValueError(f"label {y[bad]} at row {bad} is out of range for {n_outputs} classes "
                             f"(labels must lie in [0, {n_outputs}))")
        return np.ascontiguousarray(y, dtype=np.int64)

    def target_buffer(self, batch, n_outputs, dtype):
        return np.empty(batch, np.int64)

    def __call__(self, out, targets, grad_out):
        return ops.softmax_xent(out, targets, grad_out, 1.0 / out.shape[0], checked_labels=True)

    def transform_output(self, out):
        return ops.softmax(out, out)


class _ElementwiseLoss(Loss):
    def prepare_targets(self, y, n, n_outputs, dtype):
        y = np.asarray(y)
        if y.dtype.kind not in "biuf":
            raise TypeError(f"{self.name} targets must be numeric, got dtype {y.dtype}")
        if y.ndim == 1 and n_outputs == 1:
            y = y.reshape(-1, 1)
        if y.shape != (n, n_outputs):
            raise ValueError(f"{self.name} targets must have shape ({n}, {n_outputs}), got {np.shape(y)}")
        y = np.ascontiguousarray(y, dtype=dtype)
        if not np.all(np.isfinite(y)):
            bad = int(np.flatnonzero(~np.isfinite(y).all(axis=1))[0])
            raise ValueError(f"{self.name} targets contain NaN or inf (first at row {bad})")
        return y

    def target_buffer(self, batch, n_outputs, dtype):
        return np.empty((batch, n_outputs), dtype)

    def values_per_row(self, n_outputs):
        return n_outputs


class BinaryCrossEntropy(_ElementwiseLoss):
    """Sigmoid + binary cross entropy from logits (torch.nn.BCEWithLogitsLoss), mean over elements:
    loss = mean [max(x, 0) - x t + log(1 + exp(-|x|))]. Targets in [0, 1]."""
    name = "binary_cross_entropy"
    predicts_probabilities = True

    def prepare_targets(self, y, n, n_outputs, dtype):
        y = super().prepare_targets(y, n, n_outputs, dtype)
        if y.size and (y.min() < 0 or y.max() > 1):
            raise ValueError("binary_cross_entropy targets must lie in [0, 1]")
        return y

    def __call__(self, out, targets, grad_out):
        return ops.bce_logits(out, targets, grad_out, 1.0 / out.size)

    def transform_output(self, out):
        # sigmoid via the fused activation kernel
        return _dense.bias_act_forward(out, None, out, "sigmoid")


class MeanSquaredError(_ElementwiseLoss):
    """loss = mean over elements of (out - t)^2 (torch.nn.MSELoss)."""
    name = "mse"
    has_accuracy = False

    def __call__(self, out, targets, grad_out):
        return ops.mse(out, targets, grad_out, 1.0 / out.size), 0


LOSSES = {"cross_entropy": CrossEntropy, "binary_cross_entropy": BinaryCrossEntropy, "mse": MeanSquaredError}


def get(loss: str | Loss) -> Loss:
    if isinstance(loss, Loss):
        return loss
    try:
        return LOSSES[loss]()
    except (KeyError, TypeError):
        raise ValueError(f"unknown loss {loss!r}; expected one of {sorted(LOSSES)}") from None
