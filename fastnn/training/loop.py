"""Mini-batch training: ``fit``.

Batch gradient descent is ``batch_size >= n_samples`` (one step per epoch), stochastic gradient descent is
``batch_size=1`` and anything between is mini-batch. The batches come from the loader
(fastnn.data.loader: shuffled gather, cast, augmentation chunks; X may be a np.memmap larger than RAM), each
step is fastnn.training.step.take_step, and the run's loss, optimizer, step count, stop flag and History are
the model's ``training_state``. Nothing here imports a model class.
"""
from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from .. import losses as _losses
from ..data.loader import Loader
from ..layers.base import StepContext
from ..validation import as_2d_features, check_finite, check_length, non_negative_int, positive_int
from .callbacks import Callback, History
from .progress import ProgressBar, format_logs
from .step import NonFiniteLossError, StepGuard, bind_optimizer, take_step

if TYPE_CHECKING:
    from ..augment import Compose
    from ..losses import Loss
    from ..optim.clip import Clip
    from ..optim.optimizers import Optimizer
    from .interface import TrainableModel


def _default_optimizer() -> Optimizer:
    from ..optim import SGD

    return SGD(lr=0.01)


def _check_callbacks(callbacks: Iterable[Callback] | None) -> list[Callback]:
    callbacks = list(callbacks or [])
    for cb in callbacks:
        if not any(hasattr(cb, hook) for hook in ("on_train_begin", "on_epoch_end", "on_train_end")):
            raise TypeError(f"callback {cb!r} has none of on_train_begin / on_epoch_end / on_train_end")
    return callbacks


def _call(callbacks: list[Callback], hook: str, *args: Any) -> None:
    for cb in callbacks:
        fn = getattr(cb, hook, None)
        if fn is not None:
            fn(*args)


def fit(model: TrainableModel, X: ArrayLike, y: ArrayLike, loss: str | Loss = "cross_entropy",
        optimizer: Optimizer | None = None, epochs: int = 10, batch_size: int = 32, shuffle: bool = True,
        seed: int = 0, clip: Clip | None = None, validation_data: tuple[ArrayLike, ArrayLike] | None = None,
        callbacks: Iterable[Callback] | None = None, verbose: int = 1, augment: Compose | None = None,
        on_nonfinite_loss: str = "raise") -> History:
    """Train ``model`` on (X, y).

    X: (n, features) array or np.memmap of any numeric dtype (cast per batch to the model dtype).
    y: integer labels (cross_entropy) or targets of shape (n, outputs) / (n,) for one output.
    loss: "cross_entropy" | "binary_cross_entropy" | "mse".   optimizer: a fastnn.optim optimizer (default
    SGD(lr=0.01)).  batch_size: 1 = stochastic, >= n = full batch.  shuffle with ``seed`` (numpy PCG64): the
    same seed gives the same order, dropout masks and augmentation.  clip: None, fastnn.clip.ByValue or
    ByGlobalNorm.  validation_data: (X_val, y_val), evaluated after each epoch (never augmented).
    callbacks: objects with on_train_begin / on_epoch_end / on_train_end.  verbose: 0 silent, 1 progress bar,
    2 one line per epoch.  augment: a fastnn.augment pipeline applied to each training batch (the image at
    position p of an epoch's order gets the key (seed, the epoch's first step, p); see fastnn/data/loader.py).
    on_nonfinite_loss: what a NaN or inf training loss does. "raise" (default): training stops at that step,
    which is not applied (the weights, optimizer state, step count and BatchNorm statistics stay those of the
    last finite step), and fastnn.training.NonFiniteLossError names the step, epoch and likely causes (its
    ``history`` holds the complete epochs). "warn": the same stop, with a RuntimeWarning, and fit returns the
    History. "ignore": train on regardless (then TerminateOnNaN can stop at the end of the epoch).

    Every argument is checked before the model changes; a failed call leaves it as it was. Returns a History
    (per-epoch "loss", "accuracy", "val_loss", "val_accuracy", "lr", "samples_per_s"; per-step gradient norms
    and clipping flags in ``history.steps``).
    """
    # ---- validate everything first ------------------------------------------------------------------------
    loss = _losses.get(loss)
    epochs = non_negative_int("epochs", epochs)
    batch_size = positive_int("batch_size", batch_size)
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1 or 2, got {verbose!r}")
    if on_nonfinite_loss not in NONFINITE_LOSS_ACTIONS:
        raise ValueError(f"on_nonfinite_loss must be one of {NONFINITE_LOSS_ACTIONS}, got {on_nonfinite_loss!r}")
    X = as_2d_features(X, "X", n_features=model.n_features_in if model.built else None)
    check_finite(X, "X", model.dtype)
    check_length("y", y, X.shape[0])
    callbacks = _check_callbacks(callbacks)
    if augment is not None:
        if not hasattr(augment, "apply"):
            raise TypeError(f"augment must be a fastnn.augment pipeline, got {type(augment).__name__}")
        if hasattr(augment, "check_rows"):
            augment.check_rows(X.shape[1])  # a wrong image_shape fails here, not at the first batch
    if optimizer is None:
        last = model.training_state.optimizer
        optimizer = last if last is not None else _default_optimizer()
    if not hasattr(optimizer, "step") or not hasattr(optimizer, "bind"):
        raise TypeError(f"optimizer must be a fastnn.optim optimizer, got {type(optimizer).__name__}")
    if hasattr(optimizer, "check_lr"):
        optimizer.check_lr()  # a schedule's first lr; every later one is checked at its step
    n, n_features = X.shape
    # Targets can be checked only against a built model (the output size); a build done here is undone if
    # a later check fails, so a failed fit leaves the model as it was.
    was_built = model.built
    unfitted_preprocess = None
    if model.preprocess is not None and not was_built:
        unfitted_preprocess = copy.deepcopy(model.preprocess)  # put back if a later check fails
        model.preprocess.fit(X)  # chunked: a memmap is streamed, never loaded whole
    if not was_built:
        model.build(model.preprocess.n_features_out_ if model.preprocess is not None else n_features)
    try:
        n_outputs = model.output_dim
        assert n_outputs is not None  # built above
        targets = loss.prepare_targets(y, n, n_outputs, model.dtype)
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("validation_data must be a tuple (X_val, y_val)")
            Xv = as_2d_features(validation_data[0], "validation X", n_features=n_features)
            check_finite(Xv, "validation X", model.dtype)
            check_length("validation y", validation_data[1], Xv.shape[0])
            loss.prepare_targets(validation_data[1], Xv.shape[0], n_outputs, model.dtype)
            val = (Xv, validation_data[1])
        batch = min(batch_size, n)
        for size in {batch, n % batch or batch}:  # the full batches and the last, partial one
            for layer in model.layers:
                if hasattr(layer, "validate_batch"):
                    layer.validate_batch(size, training=True)
        bind_optimizer(optimizer, model.layout)
    except Exception:
        if not was_built:
            model.unbuild()
        if unfitted_preprocess is not None:
            model.preprocess = unfitted_preprocess
        raise

    # ---- train ---------------------------------------------------------------------------------------------
    state = model.training_state
    history = History()
    state.start_fit(loss, optimizer, history)
    callbacks = [history] + callbacks
    loader = Loader(X, targets, batch, model.dtype, loss.target_buffer(batch, n_outputs, model.dtype),
                    shuffle=shuffle, seed=seed, augment=augment)
    bar = ProgressBar(epochs, loader.n_batches) if verbose == 1 else None
    # (the model's preprocessor, a buffer for one transformed batch) when it has one
    staged = ((model.preprocess, np.empty((batch, model.layers[0].built_in_dim), model.dtype))
              if model.preprocess is not None else None)
    acc_denominator = loss.values_per_row(n_outputs)
    _call(callbacks, "on_train_begin", model)
    ctx = StepContext(training=True, seed=seed)
    guard = StepGuard(model, check_loss=on_nonfinite_loss != "ignore")
    refused = False  # a step with a non-finite loss ended training
    for epoch in range(epochs):
        t0 = time.perf_counter()
        loss_total, correct_total, seen = 0.0, 0, 0
        logs: dict = {}
        for step, (xb, tb) in enumerate(loader.epoch(state.step_count)):
            if staged is not None:
                preprocess, pre_buf = staged
                xb = preprocess.transform(xb, out=pre_buf[:len(xb)])
            try:
                value, correct, info = take_step(model, xb, tb, ctx, clip, guard)
            except NonFiniteLossError as exc:
                _stop_on_nonfinite_loss(exc.during(epoch, step), on_nonfinite_loss, history, bar)
                refused = True
                break
            history.record_step(info)
            b = len(xb)
            loss_total += value * b
            correct_total += correct
            seen += b
            if bar is not None:
                logs = _epoch_logs(loss, loss_total, correct_total, seen, acc_denominator, t0)
                bar.update(epoch, step + 1, logs)
        if refused:  # inside the epoch: no epoch to log
            state.stop_training = True
            break
        logs = _epoch_logs(loss, loss_total, correct_total, seen, acc_denominator, t0)
        logs["lr"] = float(optimizer.current_lr()) if hasattr(optimizer, "current_lr") else None
        if val is not None:
            for key, value in model.evaluate(*val, loss=loss).items():
                logs["val_" + key] = value
        if bar is not None:
            bar.end_epoch(epoch, logs)
        elif verbose == 2:
            print(f"epoch {epoch + 1}/{epochs}  {format_logs(logs)}", flush=True)
        _call(callbacks, "on_epoch_end", epoch, logs, model)
        if state.stop_training:
            break
    _call(callbacks, "on_train_end", model)
    return history


NONFINITE_LOSS_ACTIONS = ("raise", "warn", "ignore")


def _stop_on_nonfinite_loss(exc: NonFiniteLossError, action: str, history: History,
                            bar: ProgressBar | None) -> None:
    """End training at a refused step: raise ``exc`` (with the History of the complete epochs) or warn."""
    if bar is not None:
        bar.abort()
    exc.history = history
    if action == "raise":
        raise exc from None  # the step's own error, placed in the epoch: one traceback
    warnings.warn(str(exc), RuntimeWarning, stacklevel=4)


def _epoch_logs(loss: Loss, loss_total: float, correct_total: int, seen: int, acc_denominator: int,
                t0: float) -> dict[str, Any]:
    logs = {"loss": loss_total / seen}
    if loss.has_accuracy:
        logs["accuracy"] = correct_total / (seen * acc_denominator)
    logs["samples_per_s"] = seen / max(time.perf_counter() - t0, 1e-9)
    return logs


__all__ = ["fit", "Callback", "History", "NonFiniteLossError"]
