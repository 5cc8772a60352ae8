"""Mini-batch training: ``fit`` and the per-batch input path of ``train_step``.

Batch gradient descent is ``batch_size >= n_samples`` (one step per epoch), stochastic gradient descent is
``batch_size=1`` and anything between is mini-batch. Rows are gathered with ``np.take(..., out=)`` into a
preallocated batch buffer, so X may be a np.memmap larger than RAM: only one batch (with ``augment=``, one
chunk of about 2**20 values) is ever in memory.
"""
from __future__ import annotations

import copy
import time

import numpy as np

from .. import losses as _losses
from ..layers.base import StepContext
from ..validation import as_2d_features, check_finite, check_length, non_negative_int, positive_int
from .augmented import AugmentedBatches
from .callbacks import Callback, History
from .progress import ProgressBar, format_logs


def _default_optimizer():
    from ..optim import SGD

    return SGD(lr=0.01)


def prepare_batch_inputs(model, xb, yb, loss):
    """Validate one batch for ``train_step``: returns (C-contiguous x of the model dtype, targets, loss)."""
    loss = _losses.get(loss)
    xb = as_2d_features(xb, "xb", n_features=model.n_features_in if model.built else None)
    check_finite(xb, "xb")
    check_length("yb", yb, xb.shape[0])
    if not model.built:
        if model.preprocess is not None:
            raise ValueError("train_step cannot fit a preprocessor from one batch: fit it first (or use fit)")
        model.build(xb.shape[1])
    targets = loss.prepare_targets(yb, xb.shape[0], model.output_dim, model.dtype)
    return model.prepare_inputs(xb), targets, loss


class _BatchSource:
    """Gathers mini-batches of X and the prepared targets into buffers allocated once.

    np.take uses mode="clip": the indices are a permutation, always in range, and mode="raise" (the default)
    buffers ``out`` through a temporary copy (3x slower for a 128x784 batch)."""

    def __init__(self, X, targets, batch_size: int, dtype, loss, n_outputs):
        self.X, self.targets = X, targets
        self.direct = X.dtype == dtype and X.flags.c_contiguous
        self.x_buf = np.empty((batch_size, X.shape[1]), dtype)
        self.raw_buf = None  # rows of a different dtype are gathered raw, then cast
        self.t_buf = loss.target_buffer(batch_size, n_outputs, dtype)

    def slice(self, start: int, stop: int):
        """Rows start:stop without a copy (unshuffled training on C-contiguous data of the model dtype)."""
        return self.X[start:stop], self.targets[start:stop]

    def gather_rows(self, idx: np.ndarray, out: np.ndarray) -> np.ndarray:
        if self.direct:
            return np.take(self.X, idx, axis=0, out=out, mode="clip")
        if self.raw_buf is None or self.raw_buf.shape[0] < len(idx):
            self.raw_buf = np.empty((len(idx), self.X.shape[1]), self.X.dtype)
        raw = np.take(self.X, idx, axis=0, out=self.raw_buf[:len(idx)], mode="clip")
        np.copyto(out, raw, casting="unsafe")
        return out

    def gather_targets(self, idx: np.ndarray) -> np.ndarray:
        return np.take(self.targets, idx, axis=0, out=self.t_buf[:len(idx)], mode="clip")

    def gather(self, idx: np.ndarray):
        return self.gather_rows(idx, self.x_buf[:len(idx)]), self.gather_targets(idx)


def _check_callbacks(callbacks) -> list:
    callbacks = list(callbacks or [])
    for cb in callbacks:
        if not any(hasattr(cb, hook) for hook in ("on_train_begin", "on_epoch_end", "on_train_end")):
            raise TypeError(f"callback {cb!r} has none of on_train_begin / on_epoch_end / on_train_end")
    return callbacks


def _call(callbacks, hook, *args):
    for cb in callbacks:
        fn = getattr(cb, hook, None)
        if fn is not None:
            fn(*args)


def fit(model, X, y, loss="cross_entropy", optimizer=None, epochs: int = 10, batch_size: int = 32,
        shuffle: bool = True, seed: int = 0, clip=None, validation_data=None, callbacks=None, verbose: int = 1,
        augment=None) -> History:
    """Train ``model`` on (X, y).

    X: (n, features) array or np.memmap of any numeric dtype (cast per batch to the model dtype).
    y: integer labels (cross_entropy) or targets of shape (n, outputs) / (n,) for one output.
    loss: "cross_entropy" | "binary_cross_entropy" | "mse".   optimizer: a fastnn.optim optimizer (default
    SGD(lr=0.01)).  batch_size: 1 = stochastic, >= n = full batch.  shuffle with ``seed`` (numpy PCG64): the
    same seed gives the same order, dropout masks and augmentation.  clip: None, fastnn.clip.ByValue or
    ByGlobalNorm.  validation_data: (X_val, y_val), evaluated after each epoch (never augmented).
    callbacks: objects with on_train_begin / on_epoch_end / on_train_end.  verbose: 0 silent, 1 progress bar,
    2 one line per epoch.  augment: a fastnn.augment pipeline applied to each training batch (the image at
    position p of an epoch's order gets the key (seed, the epoch's first step, p); see training/augmented.py).

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
    X = as_2d_features(X, "X", n_features=model.n_features_in if model.built else None)
    check_finite(X, "X")
    check_length("y", y, X.shape[0])
    callbacks = _check_callbacks(callbacks)
    if augment is not None:
        if not hasattr(augment, "apply"):
            raise TypeError(f"augment must be a fastnn.augment pipeline, got {type(augment).__name__}")
        if hasattr(augment, "check_rows"):
            augment.check_rows(X.shape[1])  # a wrong image_shape fails here, not at the first batch
    if optimizer is None:
        optimizer = model.optimizer if model.optimizer is not None else _default_optimizer()
    if not hasattr(optimizer, "step") or not hasattr(optimizer, "bind"):
        raise TypeError(f"optimizer must be a fastnn.optim optimizer, got {type(optimizer).__name__}")
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
        targets = loss.prepare_targets(y, n, model.output_dim, model.dtype)
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("validation_data must be a tuple (X_val, y_val)")
            Xv = as_2d_features(validation_data[0], "validation X", n_features=n_features)
            check_finite(Xv, "validation X")
            check_length("validation y", validation_data[1], Xv.shape[0])
            loss.prepare_targets(validation_data[1], Xv.shape[0], model.output_dim, model.dtype)
            val = (Xv, validation_data[1])
        batch = min(batch_size, n)
        for size in {batch, n % batch or batch}:  # the full batches and the last, partial one
            for layer in model.layers:
                if hasattr(layer, "validate_batch"):
                    layer.validate_batch(size, training=True)
        if getattr(optimizer, "layout", None) is not model.layout:
            optimizer.bind(model.layout)
    except Exception:
        if not was_built:
            model.unbuild()
        if unfitted_preprocess is not None:
            model.preprocess = unfitted_preprocess
        raise

    # ---- train ---------------------------------------------------------------------------------------------
    model.loss, model.optimizer, model.stop_training = loss, optimizer, False
    history = History()
    model.history = history
    callbacks = [history] + callbacks
    source = _BatchSource(X, targets, batch, model.dtype, loss, model.output_dim)
    order = np.arange(n)
    rng = np.random.default_rng(seed)
    steps_per_epoch = -(-n // batch)
    bar = ProgressBar(epochs, steps_per_epoch) if verbose == 1 else None
    augmented = AugmentedBatches(augment, source, n, batch, seed) if augment is not None else None
    pre_buf = np.empty((batch, model.input_dim), model.dtype) if model.preprocess is not None else None
    acc_denominator = loss.values_per_row(model.output_dim)
    _call(callbacks, "on_train_begin", model)
    ctx = StepContext(training=True, seed=seed)
    zero_copy = not shuffle and source.direct and isinstance(X, np.ndarray) and type(X) is np.ndarray
    for epoch in range(epochs):
        if shuffle:
            rng.shuffle(order)
        if augmented is not None:
            augmented.new_epoch(model.step_count)
        t0 = time.perf_counter()
        loss_total, correct_total, seen = 0.0, 0, 0
        logs: dict = {}
        for step, start in enumerate(range(0, n, batch)):
            stop = min(start + batch, n)
            if augmented is not None:
                xb = augmented.batch(None if zero_copy else order, start, stop)
                tb = source.targets[start:stop] if zero_copy else source.gather_targets(order[start:stop])
            elif zero_copy:
                xb, tb = source.slice(start, stop)
            else:
                xb, tb = source.gather(order[start:stop])
            ctx.step = model.step_count
            if pre_buf is not None:
                xb = model.preprocess.transform(xb, out=pre_buf[:len(xb)])
            value, correct = model.loss_and_grad(xb, tb, loss, ctx)
            info = optimizer.step(model.params, model.grads, clip=clip) or {}
            model.step_count += 1
            history.record_step(info)
            b = len(xb)
            loss_total += value * b
            correct_total += correct
            seen += b
            if bar is not None:
                logs = _epoch_logs(loss, loss_total, correct_total, seen, acc_denominator, t0)
                bar.update(epoch, step + 1, logs)
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
        if model.stop_training:
            break
    _call(callbacks, "on_train_end", model)
    return history


def _epoch_logs(loss, loss_total, correct_total, seen, acc_denominator, t0) -> dict:
    logs = {"loss": loss_total / seen}
    if loss.has_accuracy:
        logs["accuracy"] = correct_total / (seen * acc_denominator)
    logs["samples_per_s"] = seen / max(time.perf_counter() - t0, 1e-9)
    return logs


__all__ = ["fit", "Callback", "History"]
