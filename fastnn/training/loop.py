"""Mini-batch training: ``fit``.

Batch gradient descent is ``batch_size >= n_samples`` (one step per epoch), stochastic gradient descent is
``batch_size=1`` and anything between is mini-batch. The batches come from the loader
(fastnn.data.loader: shuffled gather, cast, augmentation chunks; X may be a np.memmap larger than RAM), each
step is fastnn.training.step.take_step, and the run's loss, optimizer, step count, stop flag and History are
the model's ``training_state``. Nothing here imports a model class.
"""
from __future__ import annotations

import contextlib
import math
import os
import secrets
import time
import warnings
from collections.abc import Iterable, Mapping
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from .. import targets as _targets
from ..data.loader import Loader
from ..layers.base import StepContext
from ..layers.dropout import Dropout
from ..losses import Weighted, split_weights
from ..metrics import MetricAccumulator, check_metrics
from ..optim import clip as _clip
from ..preprocessing.precision import rounding_error
from ..validation import (
    as_2d_features,
    c_array,
    check_finite,
    check_length,
    check_scalar,
    check_seed,
    non_negative_int,
    positive_int,
)
from . import interrupts
from .callbacks import HOOKS, Callback, CallbackHooks, History, TrainingRun
from .checkpoint import Checkpoint, CheckpointWriter, Position, check_same_data, fingerprint
from .progress import ProgressBar, open_progress
from .step import (
    NonFiniteLossError,
    StepGuard,
    attributes_of,
    bind_optimizer,
    check_batch_sizes,
    check_optimizer,
    checked_targets,
    put_back,
    take_step,
    unchanged_on_error,
)

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
    if callbacks is None:
        return []
    if not isinstance(callbacks, Iterable) or isinstance(callbacks, (str, bytes)):
        raise TypeError(f"callbacks must be a list of callbacks, got {type(callbacks).__name__}")
    callbacks = list(callbacks)
    for i, cb in enumerate(callbacks):
        if not any(hasattr(cb, hook) for hook in HOOKS):
            raise TypeError(f"callbacks[{i}] ({type(cb).__name__}) has none of the hooks {' / '.join(HOOKS)}")
    return callbacks


def _check_verbose(verbose: object) -> int:
    if isinstance(verbose, (bool, np.bool_)):  # as in scikit-learn: True is 1
        return int(verbose)
    return check_scalar(verbose, "verbose", Integral, min_val=0, max_val=2)


def _check_augment(augment: Compose | None, n_features: int) -> None:
    if augment is None:
        return
    if not hasattr(augment, "apply"):
        raise TypeError(f"augment must be a fastnn.augment pipeline, got {type(augment).__name__}")
    if hasattr(augment, "check_rows"):
        augment.check_rows(n_features)  # a wrong image_shape fails here, not at the first batch


def check_validation_data(validation_data: tuple | None, n_features: int,
                           dtype: np.dtype) -> tuple[np.ndarray, ArrayLike, np.ndarray | None] | None:
    """(X_val, y_val, sample weights or None) with X_val checked like X; y_val is checked against the loss once
    the model is built. ``validation_data`` is (X_val, y_val) or (X_val, y_val, val_sample_weight), as Keras."""
    if validation_data is None:
        return None
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        got = type(validation_data).__name__
        if isinstance(validation_data, (tuple, list)):
            got += f" of length {len(validation_data)}"
        raise ValueError(f"validation_data must be a tuple (X_val, y_val) or (X_val, y_val, sample_weight), got "
                         f"a {got}")
    Xv, yv = validation_data[:2]
    Xv = as_2d_features(Xv, "validation X", n_features=n_features)
    check_finite(Xv, "validation X", dtype)
    check_length("validation y", yv, Xv.shape[0])
    wv = validation_data[2] if len(validation_data) == 3 else None
    return Xv, yv, _targets.check_sample_weight(wv, Xv.shape[0], "validation sample_weight")


def validation_split_point(n: int, validation_split: float) -> int | None:
    """Keras's split: the first floor(n * (1 - validation_split)) rows train, the rest validate (None: no
    split)."""
    if not validation_split:
        return None
    split_at = int(math.floor(n * (1.0 - validation_split)))
    if split_at == 0 or split_at == n:
        raise ValueError(f"validation_split={validation_split} of {n} samples leaves "
                         f"{'no training' if split_at == 0 else 'no validation'} samples")
    return split_at


def _check_split_weights(sample_weight: np.ndarray, split_at: int) -> None:
    """Refuse a ``sample_weight`` that is all zeros on either side of the validation split, saying which rows
    (the user gave one weight array, not a validation one)."""
    if not sample_weight[:split_at].any():
        raise ValueError(f"sample_weight is all zeros on the training rows (the first {split_at}; "
                         "validation_split takes the rest): no training sample would count")
    if not sample_weight[split_at:].any():
        raise ValueError(f"sample_weight is all zeros on the last {len(sample_weight) - split_at} rows that "
                         "validation_split holds out: no validation sample would count")


def _row_weights(loss: Loss, targets: np.ndarray, sample_weight: np.ndarray | None,
                 class_weight: Mapping[Any, float] | str | None, n_outputs: int,
                 classes: np.ndarray | None) -> np.ndarray | None:
    """sample_weight * class_weight[class of the row] per row (Keras), None when neither is given."""
    if class_weight is None:
        return sample_weight
    n_classes = loss.n_classes(n_outputs) or 0
    per_row = _targets.class_weight_per_row(class_weight, loss.row_classes(targets), n_classes, classes)
    weights = per_row if sample_weight is None else per_row * sample_weight
    if not weights.any():
        raise ValueError("class_weight and sample_weight give every training sample the weight 0")
    return c_array(weights)


def _build_for(model: TrainableModel, X: np.ndarray) -> int:
    """Fit the model's preprocessor on X if it is not fitted yet (in chunks, so a memmap is streamed) and check
    that its coefficients hold in the model's dtype, then build an unbuilt model for the rows the preprocessor puts
    out; the layers of a model built before (``build``, ``load_weights``) must take them. Returns the output size.
    The caller undoes all of it on an error."""
    pre = model.preprocess
    if pre is not None and pre.n_features_in_ is None:
        pre.fit(X)
        if model.built and pre.n_features_out_ != model.input_dim:
            raise ValueError(f"the preprocessor fitted on X puts out {pre.n_features_out_} features, but the "
                             f"model's layers were built (by build() or load_weights) for {model.input_dim}")
    if pre is not None:  # its coefficients in the model's dtype (a float32 model's), before the first step
        pre.check_dtype(model.dtype)
    if not model.built:
        model.build(pre.n_features_out_ if pre is not None else X.shape[1])
    assert model.output_dim is not None
    return model.output_dim


# What a warning raised in fit's own body (or in a helper it calls directly) points at: the user's
# ``model.fit(...)`` line, past the helper, fit, its interrupts.whole_steps wrapper and Sequential.fit.
USER_FRAME = 5


def output_activation(layers) -> str | None:
    """The activation the model's outputs pass through last: that of the last layer other than Dropout (the
    identity in evaluation), when it is a Dense or an activation layer; None for any other last layer."""
    for layer in reversed(layers):
        if not isinstance(layer, Dropout):
            return getattr(layer, "activation", None)
    return None


def _warn_if_outputs_are_probabilities(model: TrainableModel, loss: Loss) -> None:
    """A UserWarning when a loss that applies the sigmoid / softmax itself (it takes logits) trains a model whose
    outputs already went through a sigmoid, as Keras's ``from_logits=True`` warning: the outputs are squashed
    twice, so ``predict_proba`` stays within [0.5, 0.73] and a one-output binary model predicts class 1 for
    every row (its logit, a sigmoid, is always > 0)."""
    if loss.predicts_probabilities and output_activation(model.layers) == "sigmoid":
        warnings.warn(f"the model's last layer applies a sigmoid, but the loss {loss.name!r} takes logits and "
                      "applies the sigmoid / softmax itself: the outputs are squashed twice (predict_proba stays "
                      "within [0.5, 0.73], predict_classes of one output is always 1). Drop the output "
                      "activation (Keras's Dense(1, activation='sigmoid') is fastnn's Dense(1))", UserWarning,
                      stacklevel=USER_FRAME)


# Rounding the raw rows to the model dtype may change a preprocessed value by this much of its feature's
# standard deviation before fit warns (1.7e9 +- 100 in float32: 0.75).
ROUNDING_WARN = 0.01


def _warn_if_rounding_hides_features(model: TrainableModel, X: np.ndarray) -> None:
    """A RuntimeWarning when casting X to a float32 model's dtype before its preprocessor loses much of a
    feature (fastnn.preprocessing.precision): the model trains on what is left, silently otherwise."""
    if model.preprocess is None:
        return
    error, j = rounding_error(model.preprocess, X, model.dtype)
    if error > ROUNDING_WARN:
        warnings.warn(f"the model computes in {np.dtype(model.dtype).name}, and rounding X to it before its "
                      f"preprocessor changes preprocessed feature {j} by up to {error:.2g} of its standard "
                      f"deviation (values far from zero relative to their spread, such as timestamps): train in "
                      f"float64 (dtype='float64'), or subtract a fixed offset from X in float64 before fit and "
                      f"predict", RuntimeWarning, stacklevel=USER_FRAME)


def logged_metrics(metric_names: tuple[str, ...], validation: bool) -> tuple[str, ...]:
    """The keys of every epoch's logs (see EpochLogs and the epoch loop)."""
    names = ["loss", *metric_names]
    val = ["val_" + name for name in names] if validation else []
    return tuple(names + ["samples_per_s", "lr"] + val)


def _reading(resume_from: Checkpoint | None, field: str) -> contextlib.AbstractContextManager[None]:
    """Resuming, the arguments checked in the block are the checkpoint's ``field``: a value refused there is a
    ModelFileError naming the file and the field (it was damaged or edited), not the caller's bad argument."""
    return resume_from.reading(field) if resume_from is not None else contextlib.nullcontext()


def _callback_entry(rebuilt_from: Checkpoint | None, i: int) -> contextlib.AbstractContextManager[None]:
    """The run's callbacks[i] (i = -1: the History) taking the run in the block (``set_run``). When fastnn.resume
    rebuilt the callbacks from the checkpoint ``rebuilt_from``, what set_run refuses (a monitored metric the run
    never logs, a file pattern naming one) comes from the checkpoint's config: a ModelFileError naming the file and
    ``run.callbacks[i]``, not the caller's argument. Later hooks (on_train_begin) may fail for reasons outside the
    file (a log file they read), so they are not attributed to it."""
    return _reading(rebuilt_from if i >= 0 else None, f"run.callbacks[{i}]")


def _check_checkpoint_args(checkpoint: object, every: object, every_steps: object) -> tuple[Any, Any, Any]:
    """(path or None, epochs between checkpoints or None, steps between checkpoints or None)."""
    if checkpoint is None:
        return None, None, None
    if not isinstance(checkpoint, (str, os.PathLike)):
        raise TypeError(f"checkpoint must be a file path, got {type(checkpoint).__name__}")
    path = os.fspath(checkpoint)
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path) or not os.path.isdir(directory):
        raise ValueError(f"checkpoint {path!r} must name a file in an existing directory")
    every = positive_int("checkpoint_every", every, allow_none=True)
    every_steps = positive_int("checkpoint_every_steps", every_steps, allow_none=True)
    return path, every, every_steps


def _checkpointed_fit_args(loss: Loss, optimizer: Optimizer, clip: Clip | None, augment: Compose | None,
                           **args: Any) -> dict[str, Any]:
    """The fit arguments a checkpoint records (fastnn.resume rebuilds the run from them); refuses, naming the
    argument, what cannot be saved: a custom loss, a plain-callable lr, an augmentation without a config."""
    from .. import losses as _losses

    try:
        loss_config = loss.get_config()
        same_loss = type(_losses.get(loss_config)) is type(loss)
    except (AttributeError, TypeError, ValueError):
        same_loss = False
    if not same_loss:
        raise TypeError(f"checkpoint= needs a built-in loss (one fastnn.losses.get can rebuild), got {loss!r}")
    class_weight = args.get("class_weight")
    if isinstance(class_weight, Mapping):
        # numpy scalars (the keys of dict(zip(np.unique(y), ...))) are their Python values
        keys = [k.item() if isinstance(k, np.generic) else k for k in class_weight]
        if not all(isinstance(k, (str, int, float, bool)) for k in keys):
            raise TypeError("checkpoint= needs class_weight keys that are str, int, float or bool")
        args["class_weight"] = [[k, float(v)] for k, v in zip(keys, class_weight.values())]
    try:
        optimizer_config = optimizer.get_config()
    except TypeError as exc:
        raise TypeError(f"checkpoint= cannot save the optimizer: {exc}") from None
    if augment is not None and not hasattr(augment, "get_config"):
        raise TypeError(f"checkpoint= needs an augmentation with get_config, got {type(augment).__name__}")
    return {"loss": loss_config, "optimizer": optimizer_config, "clip": clip.get_config() if clip is not None else None,
            "augment": augment.get_config() if augment is not None else None, **args}


@interrupts.whole_steps
def fit(model: TrainableModel, X: ArrayLike, y: ArrayLike, loss: str | Loss | None = None,
        optimizer: Optimizer | str | None = None, epochs: int = 10, batch_size: int = 32, shuffle: bool = True,
        seed: int | None = 0, clip: Clip | None = None, validation_data: tuple | None = None,
        callbacks: Iterable[Callback] | None = None, verbose: int = 1, augment: Compose | None = None,
        on_nonfinite_loss: str = "raise", validation_split: float = 0.0, drop_last: bool = False,
        sample_weight: ArrayLike | None = None, class_weight: Mapping[Any, float] | str | None = None,
        metrics: Iterable[str] | None = None, checkpoint: str | os.PathLike[str] | None = None,
        checkpoint_every: int | None = 1, checkpoint_every_steps: int | None = None,
        resume_from: Checkpoint | None = None) -> History:
    """Train ``model`` on (X, y).

    X: (n, features) array or np.memmap of any numeric dtype (cast per batch to the model dtype).
    y: for cross_entropy, integer class indices (1-D or an (n, 1) column), labels of any other kind (strings,
    str/int/float/bool values: the model learns ``classes_``, see fastnn.targets; a missing label is refused) or
    one-hot / probability rows (n, outputs) (soft targets); for the other losses targets of shape
    (n, outputs) / (n,) for one output.
    loss: "cross_entropy" | "binary_cross_entropy" | "mse" (or Keras's names, see fastnn.losses); None (default):
    the model's loss; a loss given here becomes the model's loss.  optimizer: a fastnn.optim optimizer or a name
    ("adam", "sgd", ... with the default hyperparameters) (default: the model's last one, else SGD(lr=0.01)); an
    optimizer belongs to the first model it trains, and another model refuses it (OptimizerStateError).
    batch_size: 1 = stochastic, >= n = full batch.
    drop_last: drop the last n % batch_size rows of every epoch (which rows depends on the shuffle), so every
    step sees a full batch. By default (False, as PyTorch's DataLoader) the last batch is smaller, and a small
    one can hurt, above all with BatchNorm, where that small batch is the last to feed the running statistics
    that evaluation uses: on the digits data (a 3-sample last batch at batch_size 64) a 6-layer BatchNorm
    network trained 10 epochs reached 0.881 test accuracy, 0.974 with drop_last=True (means of 5 seeds,
    tests/test_fit_data.py).
    validation_split: a fraction in [0, 1): the LAST floor-rounded share of the rows (of X, y and sample_weight)
    as given, taken before any shuffling (as Keras), is held out as validation data; exclusive with
    validation_data.
    sample_weight: one non-negative weight per row; class_weight: {class: weight} (keys are the labels when the
    model has ``classes_``, else class indices) or "balanced". A row weighs sample_weight * class_weight and the
    loss is the weighted mean sum(w_i l_i) / sum(w_i) per batch (torch.nn.CrossEntropyLoss(weight=)'s
    normalization; the epoch's "loss" is the weighted mean over the epoch). Metrics are unweighted.
    metrics: names from fastnn.metrics ("accuracy", "top_k_accuracy", "precision", "recall", "f1", "mse", "mae",
    "r2"), computed over each epoch's training batches as they are trained on (outputs in training mode, as
    Keras) and, with validation, as "val_<name>" in evaluation mode. None: ["accuracy"] for a classification
    loss, none for a regression loss.  shuffle with ``seed`` (an integer in
    [0, 2**64), numpy PCG64): the same seed gives the same order, dropout masks and augmentation; ``seed=None``
    draws a fresh seed from the operating system, recorded in ``history.run.seed`` so the run can be repeated.
    clip: None, fastnn.clip.ByValue or ByGlobalNorm.  validation_data: (X_val, y_val), evaluated after each
    epoch (never augmented).  callbacks: objects with any of the hooks of fastnn.training.callbacks
    (on_train_begin/end, on_epoch_begin/end, on_batch_begin/end; optionally set_run, get_state/set_state, check_state
    and check_position).
    verbose: 0 silent, 1 progress (redrawn on a terminal, one line per epoch otherwise), 2 one line per epoch
    on stdout; off, with a warning, when that stream is missing, closed or fails.  augment: a fastnn.augment
    pipeline applied to each training batch (the image at position p of an epoch's order gets the key (seed, the
    epoch's first step, p); see fastnn/data/loader.py).
    on_nonfinite_loss: what a NaN or inf training loss does. "raise" (default): training stops at that step,
    which is not applied (the weights, optimizer state, step count and BatchNorm statistics stay those of the
    last finite step), and fastnn.training.NonFiniteLossError names the step, epoch and likely causes (its
    ``history`` holds the complete epochs). "warn": the same stop, with a RuntimeWarning, and fit returns the
    History. "ignore": train on regardless (then TerminateOnNaN can stop at the end of the epoch).

    checkpoint: a file path; fit then writes a checkpoint (fastnn.training.checkpoint: weights, optimizer state,
    schedule position, shuffling state, callbacks' state, history, fit arguments) after every
    ``checkpoint_every`` epochs (None: not by epochs), every ``checkpoint_every_steps`` optimizer steps
    (mid-epoch; None: never) and at the end of the run, each write atomic. ``fastnn.resume(checkpoint, X, y)``
    continues the run bit for bit, however the process died. Needs a built-in loss, a saveable lr (a number
    or a fastnn.schedules schedule) and an augmentation with a config.  resume_from: used by fastnn.resume (with
    callbacks=None, the checkpointed run's callbacks rebuilt from their configs).

    Continuing: the step count (dropout and augmentation keys) and the optimizer (its schedule position and
    moments, when fit reuses it, the default) always carry on from an earlier fit of the same model; the data
    order carries on too when the new fit shuffles the same number of rows with the same ``seed`` (so two fits
    of 2 epochs equal one of 4, bit for bit, without callbacks); another seed starts that seed's order. A fit
    that ends early (Ctrl-C, a callback's stop, a refused non-finite step) leaves the order where it stopped:
    the next fit's first epoch gets the shuffle the following epoch would have had, so no order is replayed and
    the untrained rest of the interrupted epoch is skipped, as a callback's stop skips it (to finish that epoch
    exactly, train with ``checkpoint=`` and ``fastnn.resume``). A fit that ended before its first step (an error in
    a callback, a refused first step) leaves the order as it was.

    Every argument is checked before the model changes: the types and ranges of all of them, the data, the
    learning rate at the first step (a schedule is evaluated there), the targets against the model's outputs,
    the batch sizes against its layers, and each callback's ``set_run`` (a monitored metric the run will never
    log). A refused call raises TypeError or ValueError naming the argument and leaves the model (weights,
    buffers, built-ness, preprocessor, loss, optimizer, history, step count) and the optimizer as they were.
    Returns a History (per-epoch "loss", each metric, "val_loss", "val_<metric>", "lr", "samples_per_s"; per-step
    gradient norms and clipping flags in ``history.steps``; the run in ``history.run``).
    """
    # ---- validate every argument; nothing has changed yet -------------------------------------------------------
    epochs = non_negative_int("epochs", epochs)
    verbose = _check_verbose(verbose)
    # resuming without callbacks=: the run's own, rebuilt from the checkpoint, whose entries are then to blame for
    # what the callbacks refuse of the run (_callback_entry)
    rebuilt_from = resume_from if resume_from is not None and callbacks is None else None
    callbacks = rebuilt_from.rebuild_callbacks() if rebuilt_from is not None else _check_callbacks(callbacks)
    with _reading(resume_from, "run.fit"):  # resuming, these are the checkpoint's fit arguments
        loss = model.training_state.loss_for(loss)
        batch_size = positive_int("batch_size", batch_size)
        shuffle = check_scalar(shuffle, "shuffle", bool)
        seed = secrets.randbits(64) if seed is None else check_seed(seed)
        clip = _clip.get(clip)
        if on_nonfinite_loss not in NONFINITE_LOSS_ACTIONS:
            raise ValueError(f"on_nonfinite_loss must be one of {NONFINITE_LOSS_ACTIONS}, got {on_nonfinite_loss!r}")
        checkpoint, checkpoint_every, checkpoint_every_steps = _check_checkpoint_args(
            checkpoint, checkpoint_every, checkpoint_every_steps)
        validation_split = check_scalar(validation_split, "validation_split", Real, min_val=0.0, max_val=1.0,
                                        include_boundaries="left")
        drop_last = check_scalar(drop_last, "drop_last", bool)
        metric_names = check_metrics(metrics, loss)
        if class_weight is not None and not isinstance(class_weight, (Mapping, str)):
            raise TypeError(f"class_weight must be a dict {{class: weight}} or 'balanced', got "
                            f"{type(class_weight).__name__}")
    if validation_split and validation_data is not None:
        raise ValueError("pass validation_split or validation_data, not both")
    if optimizer is None:
        last = model.training_state.optimizer
        optimizer = last if last is not None else _default_optimizer()
    optimizer = check_optimizer(optimizer, model)
    X = as_2d_features(X, "X", n_features=model.n_features_in)
    check_finite(X, "X", model.dtype)
    check_length("y", y, X.shape[0])
    y = _targets.label_array(y)
    sample_weight = _targets.check_sample_weight(sample_weight, X.shape[0])
    split_at = validation_split_point(X.shape[0], validation_split)
    if split_at is not None:  # views: a memmap stays on disk
        validation_data = (X[split_at:], y[split_at:]) + ((sample_weight[split_at:],) if sample_weight is not None
                                                          else ())
        X = X[:split_at]
        if sample_weight is not None:
            _check_split_weights(sample_weight, split_at)
            sample_weight = sample_weight[:split_at]
    n, n_features = X.shape
    _check_augment(augment, n_features)
    val = check_validation_data(validation_data, n_features, model.dtype)
    batch = min(batch_size, n)
    if resume_from is not None:
        check_same_data(resume_from.data["train"], X, y, "training data", sample_weight)
        val_X, val_y, val_w = val if val is not None else (None, None, None)
        check_same_data(resume_from.data["validation"], val_X, val_y, "validation_data", val_w)
    writer = None
    if checkpoint is not None:
        fit_args = _checkpointed_fit_args(
            loss, optimizer, clip, augment, batch_size=batch_size, epochs=epochs, seed=seed, shuffle=shuffle,
            on_nonfinite_loss=on_nonfinite_loss, checkpoint_every=checkpoint_every,
            checkpoint_every_steps=checkpoint_every_steps, validation_split=validation_split, drop_last=drop_last,
            class_weight=class_weight, metrics=list(metric_names))
        data = {"train": fingerprint(X, y, sample_weight),
                "validation": fingerprint(*val) if val is not None else None}
        writer = CheckpointWriter(checkpoint, fit_args, callbacks, data)

    # ---- what needs the built model: a first fit builds it here, and a refusal undoes that ---------------------
    state = model.training_state
    history = History()
    user_callbacks, callbacks = callbacks, [history] + callbacks
    with unchanged_on_error(model, optimizer):
        n_outputs = _build_for(model, X)
        _warn_if_rounding_hides_features(model, X)
        _warn_if_outputs_are_probabilities(model, loss)
        n_classes = loss.n_classes(n_outputs)
        # labels are read (and new classes learned) over all of y, the validation split's rows included
        y_all, classes = _targets.resolve_labels(y, model.classes_, n_classes, "y", learn=True, n_outputs=n_outputs)
        y_all = np.asarray(y_all)
        targets = checked_targets(loss, y_all[:n], "y", n, n_outputs, model.dtype)
        with _reading(resume_from, "run.fit.class_weight"):  # the run's data are checked the same by now
            weights = _row_weights(loss, targets, sample_weight, class_weight, n_outputs, classes)
        if val is not None:  # evaluate reads the labels through the model's classes_ again
            yv, _ = _targets.resolve_labels(val[1], classes, n_classes, "validation y", n_outputs=n_outputs)
            checked_targets(loss, yv, "validation y", val[0].shape[0], n_outputs, model.dtype)
        # the full batches and the last, partial one (unless dropped)
        check_batch_sizes(model, [batch] if drop_last else [batch, n % batch or batch])
        loader = Loader(X, targets, batch, model.dtype, shuffle=shuffle, seed=seed, augment=augment,
                        weights=weights, drop_last=drop_last)
        earlier = state.shuffle_state
        epoch_logs = EpochLogs(loss, metric_names, n_outputs)
        if resume_from is not None:
            resume_from.restore_loader(loader)
            if resume_from.position.logs is not None:  # checked now (restored again when its epoch starts)
                with resume_from.reading("run.position.logs"):
                    epoch_logs.restore(resume_from.position.logs)
        elif shuffle and earlier is not None and earlier["seed"] == seed and earlier["n_rows"] == n:
            loader.restore(earlier)  # a later fit of the same data and seed continues the order
        first_epoch = resume_from.position.epoch if resume_from is not None else 0
        run = TrainingRun(epochs=epochs, batch_size=batch, steps_per_epoch=loader.n_batches, seed=seed,
                          metrics=logged_metrics(metric_names, val is not None), validation=val is not None,
                          n_param_groups=len(optimizer.lr_scales))
        for i, cb in enumerate(callbacks, -1):  # the History first
            if hasattr(cb, "set_run"):
                with _callback_entry(rebuilt_from, i):
                    cb.set_run(run)
        bar = open_progress(verbose, epochs, loader.n_batches, first_epoch)  # off if its stream is missing
        bind_optimizer(optimizer, model)
        state.start_fit(loss, optimizer, history)
        hooks = CallbackHooks(callbacks)
        for hook in hooks.on_train_begin:
            hook(model)
        if resume_from is not None:
            _restore_callbacks(history, user_callbacks, resume_from, model)
    if classes is not None:
        model.classes_ = classes

    # ---- train ---------------------------------------------------------------------------------------------
    position = resume_from.position if resume_from is not None else Position(0, 0, state.step_count)
    # (the model's preprocessor, a buffer for one transformed batch) when it has one
    staged = ((model.preprocess, np.empty((batch, model.layers[0].built_in_dim), model.dtype))
              if model.preprocess is not None else None)
    ctx = StepContext(training=True, seed=seed, observe=epoch_logs.observe)
    guard = StepGuard(model, check_loss=on_nonfinite_loss != "ignore")
    batch_begin, batch_end, epoch_begin = hooks.on_batch_begin, hooks.on_batch_end, hooks.on_epoch_begin
    n_batches = loader.n_batches
    refused = False  # a step with a non-finite loss ended training
    steps_before = state.step_count
    try:
        for epoch in range(position.epoch, epochs):
            if position.epoch != epoch:  # a new epoch (not the one a mid-epoch checkpoint resumes)
                position = Position(epoch, 0, state.step_count)
            first_step, start_batch = position.epoch_first_step, position.batch
            epoch_logs.start()
            if position.logs is not None:
                epoch_logs.restore(position.logs)
            if start_batch == 0:  # a mid-epoch resume: the killed process began this epoch, its hooks' effects
                for hook in epoch_begin:  # (optimizer, callback states) are in the checkpoint; again would double them
                    hook(epoch, {}, model)
            if bar is not None:
                bar.begin_epoch(epoch)
            logs: dict = {}
            for step, (xb, tb) in enumerate(loader.epoch(first_step, start_batch), start_batch):
                if batch_begin:
                    batch_logs: dict[str, Any] = {"step": state.step_count}
                    for hook in batch_begin:
                        hook(step, batch_logs, model)
                if staged is not None:
                    preprocess, pre_buf = staged
                    xb = preprocess.transform(xb, out=pre_buf[:len(xb)])
                with interrupts.step():  # Ctrl-C waits for the step and its record
                    try:
                        value, correct, info = take_step(model, xb, tb, ctx, clip, guard)
                    except NonFiniteLossError as exc:
                        _stop_on_nonfinite_loss(exc.during(epoch, step), on_nonfinite_loss, history, bar)
                        refused = True
                        break
                    history.record_step(info)
                    epoch_logs.add(value, correct, tb)
                if batch_end:
                    batch_logs = {"loss": value, "lr": info.get("lr"), "grad_norm": info.get("grad_norm"),
                                  "clipped": info.get("clipped", False), "skipped": info.get("skipped", False),
                                  "step": state.step_count - 1, "size": len(xb)}
                    for hook in batch_end:
                        hook(step, batch_logs, model)
                if state.stop_training:  # set by any hook (batch or epoch begin too): this batch was the last, as Keras
                    break
                if checkpoint_every_steps and state.step_count % checkpoint_every_steps == 0 and step + 1 < n_batches:
                    assert writer is not None
                    writer.write(model, Position(epoch, step + 1, first_step, epoch_logs.state()), loader, history)
                if bar is not None and bar.due():
                    logs = epoch_logs.logs()
                    bar.update(epoch, step + 1, logs)
            if refused:  # inside the epoch: no epoch to log
                state.stop_training = True
                break
            logs = epoch_logs.logs()
            logs["lr"] = float(optimizer.current_lr()) if hasattr(optimizer, "current_lr") else None
            if val is not None:
                Xv, yv, wv = val
                for key, value in model.evaluate(Xv, yv, loss=loss, metrics=metric_names, sample_weight=wv).items():
                    logs["val_" + key] = value
            if bar is not None:
                bar.end_epoch(epoch, logs)
            for hook in hooks.on_epoch_end:
                hook(epoch, logs, model)
            if writer is not None and (epoch + 1 == epochs or state.stop_training
                                       or (checkpoint_every and (epoch + 1) % checkpoint_every == 0)
                                       or (checkpoint_every_steps and state.step_count % checkpoint_every_steps == 0)):
                writer.write(model, Position(epoch + 1, 0, state.step_count), loader, history)
            if state.stop_training:
                break
    finally:  # however training ended (Ctrl-C, a callback's stop, a refused step): the next fit continues from here
        # a fit that took no step leaves the order as it was, unless it resumed a run (whose order the checkpoint
        # holds: resuming a run that had ended takes no step, and a later fit continues that run's order)
        if shuffle and (state.step_count != steps_before or resume_from is not None):
            state.shuffle_state = _shuffle_state(loader, seed)
    for hook in hooks.on_train_end:
        hook(model)
    return history


def _shuffle_state(loader: Loader, seed: int) -> dict[str, Any]:
    """Where ``loader`` left the data order, for a later fit of as many rows with the same seed to continue: the
    generator after the last epoch's shuffle, so that fit's first epoch shuffles on to the order the next epoch
    would have had (the untrained rest of an epoch ended early is not replayed)."""
    loader_state = loader.state()
    return {"seed": seed, "n_rows": loader.n_rows, "rng": loader_state["rng"], "order": loader_state["order"].copy()}


def _restore_callbacks(history: History, callbacks: list[Callback], checkpoint: Checkpoint,
                       model: TrainableModel) -> None:
    """Give the History and each callback its checkpointed state: the callback at position i gets the state
    saved for position i when it is of the same class (fastnn.resume rebuilds or checks the list), then checks
    what it needs of the model (``check_state``) and of the checkpoint's position (``check_position``: epochs
    completed, steps taken). A state refused is a ModelFileError naming the file and the field (run.history,
    run.callback_states[i]), before any training.

    A refusal leaves every callback as it was, as fit leaves the model: check_state and check_position look at
    the state set_state has already put in, and the callbacks before the refused one have taken theirs, so each
    callback's attributes are put back in place. set_state commits by rebinding attributes (fastnn's callbacks
    do), so a shallow copy of each callback's attributes is its state."""
    done, steps = checkpoint.position.epoch, checkpoint.step_count
    with checkpoint.reading("run.history"):
        history.set_state(checkpoint.history_state)
        history.check_position(done, steps)
    attributes = attributes_of(callbacks)
    try:
        for i, cb in enumerate(callbacks):
            if i >= len(checkpoint.callbacks) or checkpoint.callbacks[i]["class"] != type(cb).__name__:
                continue
            saved = checkpoint.callback_states[i]
            if saved is not None and hasattr(cb, "set_state"):
                with checkpoint.reading(f"run.callback_states[{i}]"):
                    cb.set_state(saved)
                    if hasattr(cb, "check_state"):
                        cb.check_state(model)
                    if hasattr(cb, "check_position"):
                        cb.check_position(done, steps)
    except Exception:
        put_back(attributes)
        raise


NONFINITE_LOSS_ACTIONS = ("raise", "warn", "ignore")


def _stop_on_nonfinite_loss(exc: NonFiniteLossError, action: str, history: History,
                            bar: ProgressBar | None) -> None:
    """End training at a refused step: raise ``exc`` (with the History of the complete epochs) or warn."""
    if bar is not None:
        bar.abort()
    exc.history = history
    if action == "raise":
        raise exc from None  # the step's own error, placed in the epoch: one traceback
    warnings.warn(str(exc), RuntimeWarning, stacklevel=USER_FRAME)


class EpochLogs:
    """An epoch's training logs, accumulated exactly over its batches: "loss" is the weighted mean of the batch
    losses (each weighing its rows, or the sum of its row weights), each metric comes from counts gathered over
    all of the epoch's rows (fastnn.metrics), "samples_per_s" from the rows seen. Metrics other than accuracy
    read each batch's outputs through ``observe`` (StepContext.observe); accuracy alone uses the loss kernel's
    correct count."""

    def __init__(self, loss: Loss, metric_names: tuple[str, ...], n_outputs: int) -> None:
        self.metrics = MetricAccumulator(metric_names, loss, n_outputs)
        self.observe = self._observe if self.metrics.needs_outputs else None
        self.start()

    def start(self) -> None:
        self.metrics.reset()
        self.loss_total = self.weight_total = 0.0
        self.seen = 0
        self.t0 = time.perf_counter()

    def _observe(self, out: np.ndarray, targets: np.ndarray | Weighted) -> None:
        self.metrics.update(out, split_weights(targets)[0])

    def add(self, value: float, correct: int, targets: np.ndarray | Weighted) -> None:
        """A trained batch: its mean loss (with penalties), correct count and targets."""
        t, w = split_weights(targets)
        rows = len(t)
        weight = float(w.sum()) if w is not None else float(rows)
        self.loss_total += value * weight
        self.weight_total += weight
        self.seen += rows
        if not self.metrics.needs_outputs:
            self.metrics.add_correct(correct, rows)

    def state(self) -> dict[str, Any]:
        """The running sums so far (JSON-able, exact): what a mid-epoch checkpoint stores."""
        return {"loss_total": self.loss_total, "weight_total": self.weight_total, "seen": self.seen,
                "metrics": self.metrics.state()}

    def restore(self, state: dict[str, Any]) -> None:
        """Continue the sums of :meth:`state` (the epoch's time restarts)."""
        self.loss_total, self.weight_total = float(state["loss_total"]), float(state["weight_total"])
        self.seen = int(state["seen"])
        self.metrics.restore(state["metrics"])

    def logs(self) -> dict[str, Any]:
        logs = {"loss": self.loss_total / (self.weight_total or 1.0), **self.metrics.result()}
        logs["samples_per_s"] = self.seen / max(time.perf_counter() - self.t0, 1e-9)
        return logs


__all__ = ["fit", "Callback", "History", "NonFiniteLossError", "validation_split_point"]
