"""Metrics of ``fit`` (per epoch, training and ``val_``) and ``evaluate``, accumulated exactly over batches.

Names: "accuracy", "top_k_accuracy" (k=5, as Keras; "top_<k>_accuracy" for another k), "precision", "recall",
"f1" (classification losses), "mse", "mae", "r2" (regression: the raw outputs are the predictions).

Each metric is computed from counts or sums gathered batch by batch, so an epoch's value is the value over all
its rows (scikit-learn's on the concatenated predictions), never a mean of per-batch values:

- accuracy: the fraction of rows whose argmax equals the label (cross_entropy); for binary_cross_entropy the
  fraction of outputs with (logit > 0) == (target > 0.5) (Keras's binary accuracy, element-wise with several
  outputs).
- top_k_accuracy: the fraction of rows whose label is among the k largest logits; ties ranked as
  scikit-learn's ``top_k_accuracy_score`` ranks them (of equal scores, the higher class index first), NaN as
  its stable argsort places it: above every number, tied with NaN (scikit-learn itself refuses NaN scores).
- precision, recall, f1: scikit-learn's ``average="macro"``: per class tp/(tp+fp), tp/(tp+fn) and
  2tp/(2tp+fp+fn) from the accumulated per-class counts, 0 where a denominator is 0 (``zero_division=0``),
  averaged over the classes present in the labels or the predictions. binary_cross_entropy with one output has
  two classes (t > 0.5, logit > 0); with several outputs each is a label of a multilabel problem, averaged over
  all outputs (as scikit-learn averages multilabel indicators).
- mse, mae: the mean over all elements of the squared / absolute error (scikit-learn's ``uniform_average``).
- r2: scikit-learn's ``r2_score`` (uniform average over outputs; an output with constant targets scores 1 if
  predicted exactly, else 0; nan for fewer than two rows); the target variance is accumulated with Chan's
  pairwise update.

Metrics are unweighted (Keras's ``metrics=``; ``sample_weight`` weighs the loss only). A cross_entropy row's
class is its label, or the argmax of its one-hot / probability row in the model's dtype (the row the loss
trains on), as for the loss kernel's accuracy.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from numbers import Integral
from typing import TYPE_CHECKING, Any

import numpy as np

from .validation import check_scalar

if TYPE_CHECKING:
    from .losses import Loss

CLASSIFICATION = ("accuracy", "top_k_accuracy", "precision", "recall", "f1")
REGRESSION = ("mse", "mae", "r2")
ALIASES = {"acc": "accuracy", "f1_score": "f1", "mean_squared_error": "mse", "mean_absolute_error": "mae",
           "r2_score": "r2"}
DEFAULT_TOP_K = 5
_TOP_K = re.compile(r"top_(\d+)_accuracy")
HIGHER_IS_BETTER = ("accuracy", "top_k_accuracy", "precision", "recall", "f1", "r2")  # mse, mae, losses: lower


def _top_k(name: str) -> int | None:
    """k of a top-k accuracy name (None for any other name)."""
    if name == "top_k_accuracy":
        return DEFAULT_TOP_K
    match = _TOP_K.fullmatch(name)
    return int(match.group(1)) if match and int(match.group(1)) >= 1 else None


def higher_is_better(monitor: str) -> bool:
    """Whether a larger value of the logged ``monitor`` ("val_f1", "accuracy", "top_3_accuracy", "val_loss", ...)
    is better: the metrics of HIGHER_IS_BETTER (aliases resolved) and any name containing "acc" (Keras's rule)."""
    name = monitor[len("val_"):] if monitor.startswith("val_") else monitor
    name = ALIASES.get(name, name)
    return name in HIGHER_IS_BETTER or _top_k(name) is not None or "acc" in monitor


def default_metrics(loss: Loss) -> tuple[str, ...]:
    """What ``fit`` and ``evaluate`` report without ``metrics=``: accuracy for a loss with an accuracy."""
    return ("accuracy",) if loss.has_accuracy else ()


def check_metrics(metrics: Iterable[str] | None, loss: Loss, n_outputs: int | None = None) -> tuple[str, ...]:
    """The metric names (aliases resolved, duplicates dropped) ``loss`` can report; None: the defaults."""
    if metrics is None:
        return default_metrics(loss)
    if isinstance(metrics, str) or not isinstance(metrics, Iterable):
        raise TypeError(f"metrics must be a list of metric names, got {metrics!r}")
    names: list[str] = []
    for metric in metrics:
        if not isinstance(metric, str):
            raise TypeError(f"metrics must be names (strings), got {metric!r}")
        name = ALIASES.get(metric, metric)
        classification = name in CLASSIFICATION or _top_k(name) is not None
        if not classification and name not in REGRESSION:
            raise ValueError(f"unknown metric {metric!r}; expected one of {list(CLASSIFICATION + REGRESSION)} or "
                             "'top_<k>_accuracy'")
        if classification and not loss.predicts_probabilities:
            raise ValueError(f"metric {metric!r} needs a classification loss (cross_entropy or "
                             f"binary_cross_entropy); the loss is {loss.name!r}")
        if name in REGRESSION and loss.predicts_probabilities:
            raise ValueError(f"metric {metric!r} needs a regression loss such as mse; the loss is {loss.name!r}")
        if _top_k(name) is not None and (loss.n_classes(2) != 2 or loss.name != "cross_entropy"):
            raise ValueError(f"metric {metric!r} needs the cross_entropy loss")
        if name not in names:
            names.append(name)
    return tuple(names)


class MetricAccumulator:
    """Gathers the counts behind ``names`` (from :func:`check_metrics`) over batches of raw outputs and
    prepared targets (:meth:`update`), or only the correct count of the loss kernel when accuracy is the one
    metric (:meth:`add_correct`; see ``needs_outputs``). :meth:`result` gives {name: value}. Of the regression
    sums, only those the names need are gathered (the squared errors always; the absolute errors for mae, the
    targets' spread for r2): a fit that asks for mse alone pays for little more than its loss."""

    def __init__(self, names: tuple[str, ...], loss: Loss, n_outputs: int) -> None:
        self.names, self.loss, self.n_outputs = names, loss, n_outputs
        self.needs_outputs = any(name != "accuracy" for name in names)
        self.needs_abs_errors, self.needs_spread = "mae" in names, "r2" in names
        self.multilabel = loss.predicts_probabilities and loss.n_classes(n_outputs) is None
        self.n_classes = n_outputs if self.multilabel else (loss.n_classes(n_outputs) or 0)
        self.top_k = sorted({k for k in map(_top_k, names) if k is not None})
        self.reset()

    def reset(self) -> None:
        c, k = self.n_classes, self.n_outputs
        self.rows = self.correct = 0
        self.top_hits = dict.fromkeys(self.top_k, 0)
        self.tp, self.pred, self.true = (np.zeros(c, np.int64) for _ in range(3))
        self.sse, self.sae, self.y_mean, self.y_m2 = (np.zeros(k) for _ in range(4))

    _ARRAYS = ("tp", "pred", "true", "sse", "sae", "y_mean", "y_m2")

    def state(self) -> dict[str, Any]:
        """The counts gathered so far, JSON-able and exact (floats round-trip through their repr)."""
        return {"rows": self.rows, "correct": self.correct, "top_hits": sorted(self.top_hits.items()),
                **{name: getattr(self, name).tolist() for name in self._ARRAYS}}

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state` of an accumulator with the same names, loss and outputs."""
        self.rows, self.correct = int(state["rows"]), int(state["correct"])
        self.top_hits = {int(k): int(v) for k, v in state["top_hits"]}
        for name in self._ARRAYS:
            current = getattr(self, name)
            setattr(self, name, np.asarray(state[name], current.dtype).reshape(current.shape))

    def add_correct(self, correct: int, rows: int) -> None:
        """The loss kernel's correct count of a batch (enough for accuracy)."""
        self.correct += correct
        self.rows += rows

    def update(self, out: np.ndarray, targets: np.ndarray) -> None:
        """Add a batch: ``out`` the raw outputs (logits), ``targets`` as prepared by the loss (no weights)."""
        if self.loss.predicts_probabilities:
            self._update_classes(out, targets)
        else:
            self._update_regression(out, targets)
        self.rows += out.shape[0]

    def _update_classes(self, out: np.ndarray, targets: np.ndarray) -> None:
        if self.multilabel:
            is_true, is_pred = targets > 0.5, out > 0
            self.correct += int((is_true == is_pred).sum())
            self.tp += (is_true & is_pred).sum(axis=0)
            self.pred += is_pred.sum(axis=0)
            self.true += is_true.sum(axis=0)
            return
        true = self.loss.row_classes(targets)
        pred = self.loss.predicted_classes(out)
        assert true is not None
        hit = pred == true
        self.correct += int(hit.sum())
        self.tp += np.bincount(true[hit], minlength=self.n_classes)
        self.pred += np.bincount(pred, minlength=self.n_classes)
        self.true += np.bincount(true, minlength=self.n_classes)
        if self.top_k:
            rows = np.arange(len(true))
            own = out[rows, true][:, None]
            cls = np.arange(out.shape[1])
            # rank among the scores, ties broken as scikit-learn's reversed stable argsort: higher index first.
            # NaN sorts above every number (np.sort's order) and ties with NaN: compared with < and ==, a NaN
            # label score outranked nothing, so a model of NaN outputs scored top-k accuracy 1.0
            nan, own_nan = np.isnan(out), np.isnan(own)
            above = (out > own) | (nan & ~own_nan)
            tied = (out == own) | (nan & own_nan)
            rank = above.sum(axis=1) + (tied & (cls > true[:, None])).sum(axis=1)
            for k in self.top_k:
                self.top_hits[k] += int((rank < k).sum())

    def _update_regression(self, out: np.ndarray, targets: np.ndarray) -> None:
        y = targets.astype(np.float64, copy=False).reshape(out.shape[0], -1)
        err = out.astype(np.float64).reshape(y.shape) - y
        self.sse += (err * err).sum(axis=0)
        if self.needs_abs_errors:
            self.sae += np.abs(err).sum(axis=0)
        if self.needs_spread:  # Chan et al.: merge the batch's (count, mean, M2) of the targets into the running ones
            n_a, n_b = self.rows, y.shape[0]
            mean_b = y.mean(axis=0)
            m2_b = ((y - mean_b) ** 2).sum(axis=0)
            delta = mean_b - self.y_mean
            total = n_a + n_b
            self.y_mean = self.y_mean + delta * (n_b / total)
            self.y_m2 = self.y_m2 + m2_b + delta * delta * (n_a * n_b / total)

    def result(self) -> dict[str, float]:
        """{name: value} over every row added since the last reset."""
        return {name: self._value(name) for name in self.names}

    def _value(self, name: str) -> float:
        rows = max(self.rows, 1)
        if name == "accuracy":
            return self.correct / (rows * self.loss.values_per_row(self.n_outputs))
        k = _top_k(name)
        if k is not None:
            return self.top_hits[k] / rows
        if name in ("precision", "recall", "f1"):
            return _macro(name, self.tp, self.pred, self.true, self.multilabel)
        elements = rows * self.n_outputs
        if name == "mse":
            return float(self.sse.sum() / elements)
        if name == "mae":
            return float(self.sae.sum() / elements)
        assert name == "r2"
        if self.rows < 2:  # one target has no spread to explain (scikit-learn: nan, "not well-defined")
            return float("nan")
        # constant targets: a spread no larger than the rounding of their mean (merging the batches' means leaves
        # a residue of ~1e-30 in M2 of a constant column, which made r2 about -1e26)
        varying = self.y_m2 > self.rows * (4 * np.finfo(np.float64).eps * self.y_mean) ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(varying, 1.0 - self.sse / self.y_m2, np.where(self.sse == 0, 1.0, 0.0))
        return float(r2.mean())


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros(len(num)), where=den > 0)


def _macro(name: str, tp: np.ndarray, pred: np.ndarray, true: np.ndarray, multilabel: bool) -> float:
    """scikit-learn's macro precision / recall / f1 from per-class counts (zero_division=0)."""
    if name == "precision":
        per_class = _ratio(tp, pred)
    elif name == "recall":
        per_class = _ratio(tp, true)
    else:
        per_class = _ratio(2 * tp, pred + true)
    present = np.ones(len(tp), bool) if multilabel else (pred + true) > 0
    return float(per_class[present].mean()) if present.any() else 0.0


def confusion_matrix(true: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_classes, n_classes) counts: row = true class, column = predicted class (scikit-learn's layout).

    ``true`` and ``pred``: 1-D integer class indices of equal length, each in [0, n_classes). Anything else is a
    ValueError/TypeError: the cell index ``true * n_classes + pred`` would otherwise count a prediction of class
    n_classes (true 0) silently as (true 1, predicted 0)."""
    n_classes = check_scalar(n_classes, "confusion_matrix n_classes", Integral, min_val=1)
    arrays = []
    for name, a in (("true", true), ("pred", pred)):
        a = np.asarray(a)
        if a.ndim != 1 or a.dtype.kind not in "iu":
            raise TypeError(f"confusion_matrix {name} must be a 1-D array of integer class indices, got "
                            f"{a.dtype} of shape {a.shape}")
        if a.size and (a.min() < 0 or a.max() >= n_classes):
            raise ValueError(f"confusion_matrix {name} holds class {a.min() if a.min() < 0 else a.max()}, outside "
                             f"[0, {n_classes}) for n_classes={n_classes}")
        arrays.append(a.astype(np.int64, copy=False))
    true, pred = arrays
    if len(true) != len(pred):
        raise ValueError(f"confusion_matrix true has {len(true)} rows, pred {len(pred)}")
    return np.bincount(true * n_classes + pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
