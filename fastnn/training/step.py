"""One training step, written once: :func:`take_step`. ``fit`` calls it for every batch and
``Sequential.train_step`` (:func:`train_on_batch`) for the one batch it is given.

A step is ``model.loss_and_grad`` (forward, the fused loss and its gradient, backward into the flat gradient
buffer ``model.grads``) then the optimizer's one fused update of the flat parameter buffer ``model.params``
(clipping and the schedule included); it is counted in ``model.training_state.step_count``, which keys the
dropout masks of the next step. Nothing here imports a model class: any model with that interface trains.

A step whose loss is NaN or inf is refused before the optimizer applies it (:class:`NonFiniteLossError`): the
loss is known before the update, so the only change to undo is the forward pass's own, the layers' buffers
(BatchNorm running statistics), copied by a :class:`StepGuard` before each forward pass (a few values per
feature; the parameters and the optimizer state are never copied). The same guard puts the buffers back when
the optimizer refuses the step (a non-finite gradient norm, a schedule's invalid lr).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from .. import losses as _losses
from ..layers.base import StepContext
from ..validation import as_2d_features, check_finite, check_length

if TYPE_CHECKING:
    from .._layout import ParamLayout
    from ..losses import Loss
    from ..optim.clip import Clip
    from ..optim.optimizers import Optimizer
    from .interface import TrainableModel


def bind_optimizer(optimizer: Optimizer, layout: ParamLayout | None) -> None:
    """Bind ``optimizer`` to the model's parameter layout (skipped when it is bound to this very layout; an
    optimizer bound to another model's layout raises)."""
    assert layout is not None, "the model is built before its optimizer is bound"
    if getattr(optimizer, "layout", None) is not layout:
        optimizer.bind(layout)


class NonFiniteLossError(FloatingPointError, ValueError):
    """A training step's loss is NaN or inf. Raised before the optimizer applies the step: the parameters, the
    optimizer state, the step count and the BatchNorm running statistics are those after the last step with a
    finite loss. Attributes: ``loss``, ``step`` (the refused step; ``step`` steps were applied before it),
    ``lr`` (the optimizer's lr for it), ``epoch`` and ``batch`` (0-based; None outside ``fit``),
    ``weights_finite`` (False when an earlier update already overflowed the weights) and ``history`` (``fit``'s
    History up to the last complete epoch; None outside ``fit``)."""

    def __init__(self, loss: float, step: int, lr: float | None, weights_finite: bool, epoch: int | None = None,
                 batch: int | None = None) -> None:
        self.loss, self.step, self.lr, self.weights_finite = loss, step, lr, weights_finite
        self.epoch, self.batch = epoch, batch
        self.history: Any = None
        super().__init__(self._message())

    def during(self, epoch: int, batch: int) -> NonFiniteLossError:
        """The same error, placed in ``fit``'s epoch and batch."""
        return NonFiniteLossError(self.loss, self.step, self.lr, self.weights_finite, epoch, batch)

    def _message(self) -> str:
        where = f"optimizer step {self.step}"
        if self.epoch is not None and self.batch is not None:
            where += f" (epoch {self.epoch + 1}, batch {self.batch + 1})"
        kept = (f"the weights and optimizer state are those after {self.step} steps" if self.weights_finite else
                "but an earlier update had already overflowed the weights to inf/NaN")
        lr = f" (lr={self.lr:.3g})" if self.lr is not None else ""
        return (f"the training loss is {self.loss} at {where}; the step was not applied and training stopped: "
                f"{kept}. Likely causes: a learning rate too high{lr}, no gradient clipping (try "
                "clip=fastnn.clip.ByGlobalNorm(1.0)), or bad data (extreme values or wrong targets). "
                "fit(on_nonfinite_loss='warn') stops with a warning instead, 'ignore' trains on")


class StepGuard:
    """What makes a step all-or-nothing: copies of the layers' buffers taken before the forward pass (which
    updates BatchNorm's running statistics) and put back when the step is refused; with ``check_loss`` a NaN
    or inf loss refuses the step (:class:`NonFiniteLossError`). Allocated once per fit: the buffers are small."""

    def __init__(self, model: TrainableModel, check_loss: bool = True) -> None:
        self.check_loss = check_loss
        self.pairs = [(live, np.empty_like(live)) for layer in model.layers for live in layer.buffers.values()]

    def save(self) -> None:
        for live, copy in self.pairs:
            np.copyto(copy, live)

    def restore(self) -> None:
        for live, copy in self.pairs:
            np.copyto(live, copy)


def take_step(model: TrainableModel, xb: np.ndarray, targets: np.ndarray, ctx: StepContext,
              clip: Clip | None = None, guard: StepGuard | None = None) -> tuple[float, int, dict[str, Any]]:
    """One optimizer step on a prepared batch with the loss and optimizer of ``model.training_state``.

    xb: C-contiguous rows of the model dtype as the first layer takes them; targets: from
    ``loss.prepare_targets``; ctx: a training StepContext whose seed keys dropout (its step is set here to
    the step count); guard: see :class:`StepGuard` (None: a new one that checks the loss). Returns (mean loss
    with penalties, correct count, the optimizer's step info). A refused step changes nothing.
    """
    state = model.training_state
    loss, optimizer, params, grads = state.loss, state.optimizer, model.params, model.grads
    assert loss is not None and optimizer is not None, "take_step follows TrainingState.use / start_fit"
    assert params is not None and grads is not None, "take_step needs a built model"
    guard = guard if guard is not None else StepGuard(model)
    ctx.step = state.step_count
    guard.save()
    try:
        value, correct = model.loss_and_grad(xb, targets, loss, ctx)
        if guard.check_loss and not math.isfinite(value):
            raise NonFiniteLossError(value, state.step_count, _lr_or_none(optimizer),
                                     bool(np.isfinite(params).all()))
        info = optimizer.step(params, grads, clip=clip) or {}
    except BaseException:
        guard.restore()
        raise
    state.step_count += 1
    return value, correct, info


def _lr_or_none(optimizer: Optimizer) -> float | None:
    """The lr of the next step for an error message (None when the optimizer has no lr or cannot give it)."""
    try:
        return float(optimizer.current_lr())
    except (AttributeError, TypeError, ValueError):
        return None


def prepare_batch_inputs(model: TrainableModel, xb: ArrayLike, yb: ArrayLike,
                         loss: str | Loss) -> tuple[np.ndarray, np.ndarray, Loss]:
    """Validate one batch for ``train_step``: returns (C-contiguous x of the model dtype, targets, loss)."""
    loss = _losses.get(loss)
    xb = as_2d_features(xb, "xb", n_features=model.n_features_in if model.built else None)
    check_finite(xb, "xb", model.dtype)
    check_length("yb", yb, xb.shape[0])
    if not model.built:
        if model.preprocess is not None:
            raise ValueError("train_step cannot fit a preprocessor from one batch: fit it first (or use fit)")
        model.build(xb.shape[1])
    n_outputs = model.output_dim
    assert n_outputs is not None  # built above
    targets = loss.prepare_targets(yb, xb.shape[0], n_outputs, model.dtype)
    return model.prepare_inputs(xb), targets, loss


def train_on_batch(model: TrainableModel, xb: ArrayLike, yb: ArrayLike, loss: str | Loss = "cross_entropy",
                   optimizer: Optimizer | None = None, clip: Clip | None = None) -> dict[str, Any]:
    """``Sequential.train_step``: validate one batch, then :func:`take_step` (dropout keyed by the model's
    seed). ``optimizer`` defaults to the model's last one. Returns {"loss", "correct", and the optimizer's
    step info ("lr", "grad_norm", "clipped", "skipped")}."""
    xb, targets, loss = prepare_batch_inputs(model, xb, yb, loss)
    optimizer = optimizer if optimizer is not None else model.training_state.optimizer
    if optimizer is None:
        raise ValueError("train_step needs an optimizer (pass optimizer= or fit the model first)")
    bind_optimizer(optimizer, model.layout)
    model.training_state.use(loss, optimizer)
    value, correct, info = take_step(model, xb, targets, StepContext(training=True, seed=model.seed), clip)
    return {"loss": value, "correct": correct, **info}
