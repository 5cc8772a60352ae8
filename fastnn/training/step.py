"""One training step, written once: :func:`take_step`. ``fit`` calls it for every batch and
``Sequential.train_step`` (:func:`train_on_batch`) for the one batch it is given.

A step is ``model.loss_and_grad`` (forward, the fused loss and its gradient, backward into the flat gradient
buffer ``model.grads``) then the optimizer's one fused update of the flat parameter buffer ``model.params``
(clipping and the schedule included); it is counted in ``model.training_state.step_count``, which keys the
dropout masks of the next step. Nothing here imports a model class: any model with that interface trains.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

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


def take_step(model: TrainableModel, xb: np.ndarray, targets: np.ndarray, ctx: StepContext,
              clip: Clip | None = None) -> tuple[float, int, dict[str, Any]]:
    """One optimizer step on a prepared batch with the loss and optimizer of ``model.training_state``.

    xb: C-contiguous rows of the model dtype as the first layer takes them; targets: from
    ``loss.prepare_targets``; ctx: a training StepContext whose seed keys dropout (its step is set here to
    the step count). Returns (mean loss with penalties, correct count, the optimizer's step info).
    """
    state = model.training_state
    loss, optimizer, params, grads = state.loss, state.optimizer, model.params, model.grads
    assert loss is not None and optimizer is not None, "take_step follows TrainingState.use / start_fit"
    assert params is not None and grads is not None, "take_step needs a built model"
    ctx.step = state.step_count
    value, correct = model.loss_and_grad(xb, targets, loss, ctx)
    info = optimizer.step(params, grads, clip=clip) or {}
    state.step_count += 1
    return value, correct, info


def prepare_batch_inputs(model: TrainableModel, xb: ArrayLike, yb: ArrayLike,
                         loss: str | Loss | None) -> tuple[np.ndarray, np.ndarray, Loss]:
    """Validate one batch for ``train_step``: returns (C-contiguous x of the model dtype, targets, loss: the
    given one, else the model's)."""
    loss = model.training_state.loss_for(loss)
    xb = as_2d_features(xb, "xb", n_features=model.n_features_in if model.built else None)
    check_finite(xb, "xb")
    check_length("yb", yb, xb.shape[0])
    if not model.built:
        if model.preprocess is not None:
            raise ValueError("train_step cannot fit a preprocessor from one batch: fit it first (or use fit)")
        model.build(xb.shape[1])
    n_outputs = model.output_dim
    assert n_outputs is not None  # built above
    targets = loss.prepare_targets(yb, xb.shape[0], n_outputs, model.dtype)
    return model.prepare_inputs(xb), targets, loss


def train_on_batch(model: TrainableModel, xb: ArrayLike, yb: ArrayLike, loss: str | Loss | None = None,
                   optimizer: Optimizer | None = None, clip: Clip | None = None) -> dict[str, Any]:
    """``Sequential.train_step``: validate one batch, then :func:`take_step` (dropout keyed by the model's
    seed). ``loss`` defaults to the model's loss, ``optimizer`` to its last optimizer. Returns {"loss",
    "correct", and the optimizer's step info ("lr", "grad_norm", "clipped", "skipped")}."""
    xb, targets, loss = prepare_batch_inputs(model, xb, yb, loss)
    optimizer = optimizer if optimizer is not None else model.training_state.optimizer
    if optimizer is None:
        raise ValueError("train_step needs an optimizer (pass optimizer= or fit the model first)")
    bind_optimizer(optimizer, model.layout)
    model.training_state.use(loss, optimizer)
    value, correct, info = take_step(model, xb, targets, StepContext(training=True, seed=model.seed), clip)
    return {"loss": value, "correct": correct, **info}
