"""Continue a checkpointed training run: :func:`resume` (``fastnn.resume``; the command line's
``fastnn train --resume`` calls it too).

It sits above the models (it builds the model a checkpoint describes, through fastnn.io's checks) and hands
the run back to the one fit loop (fastnn.training.loop.fit with ``resume_from``), which continues at the
checkpoint's epoch and batch. The checkpoint itself is written and read in fastnn.training.checkpoint.
"""
from __future__ import annotations

import os
import reprlib
from collections.abc import Callable, Iterable
from typing import Any

from numpy.typing import ArrayLike

from .augment import Compose
from .io import model_from_parts
from .models import Sequential
from .optim import clip as _clip
from .optim import optimizer_from_config
from .training import loop as _loop
from .training.callbacks import Callback
from .training.checkpoint import Checkpoint, read_checkpoint
from .training.step import bind_optimizer
from .validation import non_negative_int


def resume(path: str | os.PathLike[str], X: ArrayLike, y: ArrayLike,
           validation_data: tuple | None = None, sample_weight: ArrayLike | None = None, epochs: int | None = None,
           callbacks: Iterable[Callback] | None = None, verbose: int = 1) -> Sequential:
    """Continue the run that ``fit(..., checkpoint=path)`` checkpointed, to its end; returns the model (its
    ``history`` holds the whole run's History, epochs before the checkpoint included).

    The result (weights, buffers, optimizer state, history apart from timings, the checkpoints and CSV rows
    written on the way) is bitwise identical to the uninterrupted run's on the same thread count, however the
    first process ended (SIGKILL during a checkpoint write too: the previous checkpoint is the one read). A
    mid-epoch checkpoint continues that epoch with the same data order.

    X, y, validation_data, sample_weight: the run's data; other data is refused (shapes, dtypes and a fingerprint, see
    fastnn.training.checkpoint.fingerprint), as is leaving out (or adding) validation data.
    epochs: the run's new total number of epochs (None: the checkpointed run's), at least the epochs the
    checkpoint has started (a mid-epoch checkpoint's epoch included: its batches cannot be undone). A larger
    value continues an ended run: the same data order and schedule as if the run had been started with that many
    epochs (the schedule is a function of the optimizer step; a OneCycle's total steps stay as configured). A
    run stopped by a callback (EarlyStopping) is ended: without ``epochs`` it is not trained further (its
    ``on_train_end`` runs, so EarlyStopping puts back the best weights); with ``epochs`` it trains on from where
    it stopped.
    callbacks: None rebuilds the run's callbacks from their configs (each callback needs ``get_config``);
    a list replaces them, and each callback of the same class as the saved one at its position gets its state
    back (a checkpoint refused leaves them as they were). verbose: as fit's. Checkpoints go on being written to
    ``path`` at the run's cadence.

    A checkpoint is a file like any other: a run state no fit writes (a negative count, a position past the
    epoch's end, an lr_scale < 0, optimizer moments no step makes, a generator state numpy refuses, a data
    fingerprint with a dtype numpy does not know, a History with more epochs than the position or a metric value
    that is not a number, a callback state its ``set_state`` or ``check_state`` refuses: EarlyStopping best
    weights that are not the model's, not finite or boolean, a best epoch the run has not reached, a CSVLogger line
    count of -1), a recorded fit argument fit refuses (``run.fit``: a batch_size of -1, an unknown metric, an
    augmentation config that does not rebuild) or a rebuilt callback's config the run refuses (``run.callbacks``:
    a monitored metric the run never logs) raises ModelFileError naming the file and the field, before any
    training.
    """
    return resume_checkpoint(read_checkpoint(path), X, y, validation_data, sample_weight, epochs, callbacks, verbose)


def resume_checkpoint(checkpoint: Checkpoint, X: ArrayLike, y: ArrayLike, validation_data: tuple | None = None,
                      sample_weight: ArrayLike | None = None, epochs: int | None = None,
                      callbacks: Iterable[Callback] | None = None, verbose: int = 1) -> Sequential:
    """:func:`resume` of a checkpoint already read (by read_checkpoint), for a caller that looks at it first
    (fastnn.tune: does a callback's stop end the run?); it goes on writing to ``checkpoint.path``."""
    path = checkpoint.path
    with checkpoint.reading("run.fit"):  # fit checks the values (naming the argument) in the same context
        settings = _fit_settings(checkpoint.fit)
        recorded_epochs = non_negative_int("epochs", checkpoint.fit["epochs"])
    settings.update(clip=_rebuilt(checkpoint, "clip", _clip.from_config),
                    augment=_rebuilt(checkpoint, "augment", Compose.from_config))
    position = checkpoint.position
    started = position.epoch + (position.batch > 0)  # a mid-epoch checkpoint is partway through one more epoch
    if epochs is None:
        epochs = started if checkpoint.stop_training else recorded_epochs
    epochs = non_negative_int("epochs", epochs)
    if epochs < started:
        inside = (f" and {position.batch} batches of epoch {started} (a mid-epoch checkpoint); epochs must be >= "
                  f"{started}") if position.batch else ""
        raise ValueError(f"epochs={epochs}: the checkpointed run has already completed {position.epoch} epochs"
                         f"{inside}")
    model = model_from_parts(path, checkpoint.model_config, checkpoint.model_arrays)
    with checkpoint.reading("run.fit.optimizer"):
        optimizer = optimizer_from_config(checkpoint.fit["optimizer"])
    with checkpoint.reading("run.optimizer"):
        optimizer.load_state_dict(checkpoint.optimizer_state)
        bind_optimizer(optimizer, model)  # every value of the state is checked here (fit keeps the binding)
    model.training_state.step_count = checkpoint.step_count
    # callbacks=None: fit rebuilds the run's callbacks from the checkpoint (what they refuse is then the file's fault)
    _loop.fit(model, X, y, optimizer=optimizer, epochs=epochs, validation_data=validation_data, callbacks=callbacks,
              verbose=verbose, sample_weight=sample_weight, checkpoint=path, resume_from=checkpoint, **settings)
    return model


def _fit_settings(args: dict[str, Any]) -> dict[str, Any]:
    """fit's plain arguments as the checkpoint records them (``run.fit``); a missing one is a KeyError (fit checks
    their values)."""
    return {"loss": args["loss"], "batch_size": args["batch_size"], "shuffle": args["shuffle"], "seed": args["seed"],
            "on_nonfinite_loss": args["on_nonfinite_loss"], "validation_split": args.get("validation_split", 0.0),
            "drop_last": args.get("drop_last", False), "class_weight": _class_weight(args.get("class_weight")),
            "metrics": args.get("metrics"), "checkpoint_every": args["checkpoint_every"],
            "checkpoint_every_steps": args["checkpoint_every_steps"]}


def _rebuilt(checkpoint: Checkpoint, key: str, from_config: Callable[[Any], Any]) -> Any:
    """The run's ``key`` object (its clip rule, its augmentation) rebuilt from the config ``run.fit`` records of it,
    None when it had none."""
    with checkpoint.reading(f"run.fit.{key}"):
        config = checkpoint.fit[key]
        return from_config(config) if config is not None else None


def _class_weight(saved: object) -> dict[Any, float] | str | None:
    """A checkpoint's class_weight: None, "balanced", or [[class, weight], ...] (a dict as JSON can hold it)."""
    if saved is None or isinstance(saved, str):
        return saved
    if not isinstance(saved, list) or not all(isinstance(pair, list) and len(pair) == 2 and isinstance(pair[1], float)
                                              for pair in saved):  # fit records each weight as a float
        raise TypeError("class_weight must be null, a string or a list of [class, weight] pairs, got "
                        f"{reprlib.repr(saved)}")
    return {k: v for k, v in saved}


__all__ = ["resume", "resume_checkpoint"]
