"""One training step, written once: :func:`take_step`. ``fit`` calls it for every batch and
``Sequential.train_step`` (:func:`train_on_batch`) for the one batch it is given.

A step is ``model.loss_and_grad`` (forward, the fused loss and its gradient, backward into the flat gradient
buffer ``model.grads``) then the optimizer's one fused update of the flat parameter buffer ``model.params``
(clipping and the schedule included); it is counted in ``model.training_state.step_count``, which keys the
dropout masks of the next step. Nothing here imports a model class: any model with that interface trains.

Where it can, the step applies the update of each Dense weight inside the product that computes its gradient,
while that gradient is in cache (fastnn.optim.fused; issue 11 item 3): the forward pass and the loss, the check
of the loss, then the backward pass updating the weights as it goes, then one pass for every other parameter.
The same bits as the plain step. It cannot when a layer has a penalty (its gradient is added after the product,
and the loss checked before the first update would miss it) or the clip needs the whole gradient's norm, and it
does not above ``FUSE_MAX_BATCH`` rows, where it measured slower. On the machine of bench/RESULTS.md it saves
nothing measurable either below: the weights and the optimizer state stream through memory in both forms, and
the gradient's second read it avoids is a small part of that.

A fused step of a network of Dense layers trained on cross entropy runs as one C call (fastnn.training.chain):
the same kernel calls as the layers', without Python between them, so the same bits in about half the fixed cost
of a step (``USE_CHAIN``; where it applies is said there). ``fit`` builds its program once per batch size,
``train_step`` once per call (5-8 us, less than the Python it saves).

The checks both entry points share live here too: :func:`check_optimizer`, :func:`checked_targets`,
:func:`check_batch_sizes` and :func:`unchanged_on_error`, which undoes the preparation of a call (a first
build, a preprocessor fitted for it, the training state) when a check that needs the built model fails.

A step whose loss is NaN or inf is refused before the optimizer applies it (:class:`NonFiniteLossError`): the
loss is known before the update, so the only change to undo is the forward pass's own, the layers' buffers
(BatchNorm running statistics), copied by a :class:`StepGuard` before each forward pass (a few values per
feature; the parameters and the optimizer state are never copied). The same guard puts the buffers back when
the optimizer refuses the step (a non-finite gradient norm, a schedule's invalid lr).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from .. import targets as _targets
from .._config import CALLS_IN_FLIGHT
from ..layers.base import StepContext
from ..optim import clip as _clip
from ..optim.optimizers import Optimizer
from ..optim.optimizers import get as get_optimizer
from ..validation import as_2d_features, check_finite, check_length
from . import interrupts
from .chain import ChainPrograms

if TYPE_CHECKING:
    from ..losses import Loss
    from ..optim.clip import Clip
    from .interface import TrainableModel


def bind_optimizer(optimizer: Optimizer, model: TrainableModel) -> None:
    """Bind ``optimizer`` to the built ``model``: to its parameter layout (skipped when it is bound to this very
    layout; a different layout raises) and to the model itself, its owner from now on (``check_optimizer``
    refused an optimizer another model owns before anything changed)."""
    layout = model.layout
    assert layout is not None, "the model is built before its optimizer is bound"
    if optimizer.layout is not layout:
        optimizer.bind(layout)
    optimizer.claim_for(model)


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
    or inf loss refuses the step (:class:`NonFiniteLossError`). Allocated once per fit: the buffers are small.
    It also keeps the programs of the steps that run as one C call (fastnn.training.chain)."""

    def __init__(self, model: TrainableModel, check_loss: bool = True) -> None:
        self.check_loss = check_loss
        self.pairs = [(live, np.empty_like(live)) for layer in model.layers for live in layer.buffers.values()]
        self.fused_weights = fusable_weights(model)
        self.chains = ChainPrograms(model) if self.fused_weights and USE_CHAIN else None

    def save(self) -> None:
        for live, copy in self.pairs:
            np.copyto(copy, live)

    def restore(self) -> None:
        for live, copy in self.pairs:
            np.copyto(live, copy)



# ---- checks shared by fit and train_step ---------------------------------------------------------------------
def check_optimizer(optimizer: object, model: TrainableModel) -> Optimizer:
    """``optimizer`` if it is a fastnn.optim optimizer no other model owns (see :func:`bind_optimizer`) whose
    learning rates are valid at its next step: a schedule or callable lr is evaluated there, so one returning a
    non-number or a negative value is refused before training starts, not at the first update. A name ("adam",
    "sgd", ...) or a config dict builds one with its default hyperparameters (fastnn.optim.get)."""
    if isinstance(optimizer, (str, dict)):
        optimizer = get_optimizer(optimizer)
    if not isinstance(optimizer, Optimizer):
        got = (f"the class {optimizer.__name__} (pass an instance, e.g. {optimizer.__name__}(lr=0.01))"
               if isinstance(optimizer, type) else f"{type(optimizer).__name__} {optimizer!r:.40}")
        raise TypeError(f"optimizer must be a fastnn.optim optimizer such as fastnn.optim.SGD(lr=0.01), got {got}")
    optimizer.check_owner(model)
    optimizer.check_lr()  # every group's lr at the next step: a schedule's value is checked there
    return optimizer


def checked_targets(loss: Loss, y: ArrayLike, name: str, n: int, n_outputs: int, dtype: np.dtype) -> np.ndarray:
    """``loss.prepare_targets`` with the name of the argument at the front of its error message."""
    try:
        return loss.prepare_targets(y, n, n_outputs, dtype)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{name}: {exc}") from None


def check_batch_sizes(model: TrainableModel, sizes: Iterable[int]) -> None:
    """Refuse batch sizes a layer cannot train on (BatchNorm needs two rows) before the first forward pass."""
    for size in set(sizes):
        for layer in model.layers:
            if hasattr(layer, "validate_batch"):
                layer.validate_batch(size, training=True)


def attributes_of(objects: Iterable[Any]) -> list[tuple[Any, dict[str, Any]]]:
    """Each object (with a ``__dict__``) and a shallow copy of its attributes: its state, for objects that commit
    by rebinding attributes (a preprocessor's fit, a callback's set_state); :func:`put_back` restores it."""
    return [(obj, dict(vars(obj))) for obj in objects if hasattr(obj, "__dict__")]


def put_back(attributes: list[tuple[Any, dict[str, Any]]]) -> None:
    """Restore the attributes :func:`attributes_of` copied, in place (the objects stay the caller's)."""
    for obj, before in attributes:
        vars(obj).clear()
        vars(obj).update(before)


@contextmanager
def unchanged_on_error(model: TrainableModel, optimizer: Optimizer | None = None) -> Iterator[None]:
    """Put ``model`` back as it was if the block raises: unbuild it if the block built it, restore its
    preprocessor's steps in place (a fit commits by rebinding attributes, so a shallow copy of each step's
    attributes is its state) and the training state (loss, optimizer, history, stop flag, step count); and
    ``optimizer``'s claim (the block may bind it to the model: refused, the model never trained with it)."""
    claim = optimizer.claim if optimizer is not None else None
    was_built = model.built
    steps = [] if model.preprocess is None else getattr(model.preprocess, "steps", [model.preprocess])
    preprocessors = attributes_of(steps)
    state = model.training_state
    fields = {name: getattr(state, name) for name in state.__slots__}
    try:
        yield
    except Exception:
        if not was_built and model.built:
            model.unbuild()
        put_back(preprocessors)
        for name, value in fields.items():
            setattr(state, name, value)
        if optimizer is not None:
            optimizer.claim = claim
        raise


# ---- the step --------------------------------------------------------------------------------------------------
def take_step(model: TrainableModel, xb: np.ndarray, targets: np.ndarray, ctx: StepContext,
              clip: Clip | None = None, guard: StepGuard | None = None) -> tuple[float, int, dict[str, Any]]:
    """One optimizer step on a prepared batch with the loss and optimizer of ``model.training_state``.

    xb: C-contiguous rows of the model dtype as the first layer takes them; targets: from
    ``loss.prepare_targets``; ctx: a training StepContext whose seed keys dropout (its step is set here to
    the step count); guard: see :class:`StepGuard` (None: a new one that checks the loss). Returns (mean loss
    with penalties, correct count, the optimizer's step info). A refused step changes nothing. Its callers hold
    ``interrupts.step()`` around it (fit around the step and its record), so Ctrl-C waits for the whole step.
    """
    state = model.training_state
    loss, optimizer, params, grads = state.loss, state.optimizer, model.params, model.grads
    assert loss is not None and optimizer is not None, "take_step follows TrainingState.use / start_fit"
    assert params is not None and grads is not None, "take_step needs a built model"
    guard = guard if guard is not None else StepGuard(model)
    ctx.step = state.step_count
    guard.save()
    CALLS_IN_FLIGHT.append(None)  # steps, predictions and plan calls at the same time share the threads
    try:
        # begin_fused_step changes nothing but the optimizer's scratch rows (as step does before its update)
        fused = (optimizer.begin_fused_step(params, grads, clip, guard.fused_weights)
                 if guard.fused_weights and FUSE_WEIGHT_UPDATES and xb.shape[0] <= FUSE_MAX_BATCH else None)
        if fused is None:
            value, correct = model.loss_and_grad(xb, targets, loss, ctx)
            _check_loss(guard, value, state.step_count, optimizer, params)
            info = optimizer.step(params, grads, clip=clip) or {}
        else:
            chained = (guard.chains.step(xb, targets, loss, ctx, fused, guard.check_loss)
                       if guard.chains is not None else None)
            if chained is not None:  # the whole step in one C call: the same kernels, the same bits
                loss_sum, correct, clamped, applied = chained
                value = loss_sum / xb.shape[0]
                if not applied:
                    _check_loss(guard, value, state.step_count, optimizer, params)
                info = fused.finished_elsewhere(clamped)
            else:
                value, correct, grad_out = model.forward_loss(xb, targets, loss, ctx)
                _check_loss(guard, value, state.step_count, optimizer, params)  # before the first update
                ctx.weight_updates = fused
                try:
                    model.backward(grad_out, ctx)  # its penalty is 0: fusable_weights excludes penalized models
                finally:
                    ctx.weight_updates = None
                info = fused.finish()
    except BaseException:
        guard.restore()
        raise
    finally:
        CALLS_IN_FLIGHT.pop()
    state.step_count += 1
    return value, correct, info


# Tests turn it off to compare the fused step with the plain one.
FUSE_WEIGHT_UPDATES = True
# Tests and benchmarks turn it off to compare the one-call step (fastnn.training.chain) with the layers' calls;
# read when a StepGuard is made (once per fit).
USE_CHAIN = True
# Batches above this take the plain step. Measured (bench/gemm_products.py, 2 threads): the update inside the
# weight-gradient products costs what the separate pass costs up to batch 128 (0.94-1.01x), and 5-6% more at
# batch 1024, where the products' row bands each pack the long dz again.
FUSE_MAX_BATCH = 128


def fusable_weights(model: TrainableModel) -> dict[Any, str]:
    """{layer: the layout name of its weight} for the layers whose weight update can run inside its gradient's
    product (``Layer.fused_weight``); empty when any layer has a penalty, or for a model without
    ``forward_loss`` or a layout."""
    layout = model.layout
    if layout is None or not hasattr(model, "forward_loss") or any(layer.has_penalty() for layer in model.layers):
        return {}
    weights = {}
    for i, layer in enumerate(model.layers):
        name = layer.fused_weight()
        if name is not None and f"{i}.{name}" in layout.by_name:
            weights[layer] = f"{i}.{name}"
    return weights


def _check_loss(guard: StepGuard, value: float, step: int, optimizer: Optimizer, params: np.ndarray) -> None:
    if guard.check_loss and not math.isfinite(value):
        raise NonFiniteLossError(value, step, _lr_or_none(optimizer), bool(np.isfinite(params).all()))


def _lr_or_none(optimizer: Optimizer) -> float | None:
    """The lr of the next step for an error message (None when the optimizer has no lr or cannot give it)."""
    try:
        return float(optimizer.current_lr())
    except (AttributeError, TypeError, ValueError):
        return None


def prepare_batch_inputs(model: TrainableModel, xb: ArrayLike, yb: ArrayLike,
                         loss: Loss) -> tuple[np.ndarray, np.ndarray]:
    """Validate one batch for ``train_step`` and build an unbuilt model for it (the caller undoes the build if
    a later check fails): returns (C-contiguous x of the model dtype, targets)."""
    xb = as_2d_features(xb, "xb", n_features=model.n_features_in)
    check_finite(xb, "xb", model.dtype)
    check_length("yb", yb, xb.shape[0])
    if model.preprocess is not None and model.preprocess.n_features_in_ is None:
        raise ValueError("train_step cannot fit a preprocessor from one batch: fit it first (or use fit)")
    if not model.built:
        model.build(xb.shape[1])
    n_outputs = model.output_dim
    assert n_outputs is not None  # built above
    # labels read through classes_ as fit and evaluate read them (fastnn.targets)
    yb, _ = _targets.resolve_labels(yb, model.classes_, loss.n_classes(n_outputs), "yb", n_outputs=n_outputs)
    targets = checked_targets(loss, yb, "yb", xb.shape[0], n_outputs, model.dtype)
    check_batch_sizes(model, [xb.shape[0]])
    return model.prepare_inputs(xb), targets


@interrupts.whole_steps
def train_on_batch(model: TrainableModel, xb: ArrayLike, yb: ArrayLike, loss: str | Loss | None = None,
                   optimizer: Optimizer | None = None, clip: Clip | None = None) -> dict[str, Any]:
    """``Sequential.train_step``: validate every argument and the batch, then :func:`take_step` (dropout keyed
    by the model's seed). ``loss`` defaults to the model's loss, ``optimizer`` to its last one. A refused call
    leaves the model, its training state and the optimizer as they were. Returns {"loss", "correct", and the
    optimizer's step info ("lr", "grad_norm", "clipped", "skipped")}."""
    loss = model.training_state.loss_for(loss)
    clip = _clip.get(clip)  # refuses anything but None, a Clip or a Clip config, naming clip
    optimizer = optimizer if optimizer is not None else model.training_state.optimizer
    if optimizer is None:
        raise ValueError("train_step needs an optimizer (pass optimizer= or fit the model first)")
    optimizer = check_optimizer(optimizer, model)
    with unchanged_on_error(model, optimizer):
        x, targets = prepare_batch_inputs(model, xb, yb, loss)
        bind_optimizer(optimizer, model)
    model.training_state.use(loss, optimizer)
    with interrupts.step():  # Ctrl-C waits for the whole step (fastnn.training.interrupts)
        value, correct, info = take_step(model, x, targets, StepContext(training=True, seed=model.seed), clip)
    return {"loss": value, "correct": correct, **info}
