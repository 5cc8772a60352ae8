"""Continue a checkpointed training run: :func:`resume` (``fastnn.resume``; the command line's
``fastnn train --resume`` calls it too).

It sits above the models (it builds the model a checkpoint describes, through fastnn.io's checks) and hands
the run back to the one fit loop (fastnn.training.loop.fit with ``resume_from``), which continues at the
checkpoint's epoch and batch. The checkpoint itself is written and read in fastnn.training.checkpoint.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from numpy.typing import ArrayLike

from .augment import Compose
from .io import model_from_parts
from .models import Sequential
from .optim import clip as _clip
from .optim import optimizer_from_config
from .training import loop as _loop
from .training.callbacks import CALLBACKS, Callback
from .training.checkpoint import Checkpoint, read_checkpoint
from .training.step import bind_optimizer
from .validation import non_negative_int


def _callbacks_of(checkpoint: Checkpoint, callbacks: Iterable[Callback] | None) -> list[Any]:
    """The run's callbacks rebuilt from their configs, or the caller's list as given."""
    if callbacks is not None:
        return list(callbacks)
    rebuilt = []
    for i, entry in enumerate(checkpoint.callbacks):
        if entry["config"] is None:
            raise ValueError(f"the checkpointed run's callbacks[{i}] ({entry['class']}) has no get_config, so resume "
                             "cannot rebuild it: pass callbacks= (the same callbacks, in the same order)")
        rebuilt.append(CALLBACKS.from_config(entry["config"]))
    return rebuilt


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
    back. verbose: as fit's. Checkpoints go on being written to ``path`` at the run's cadence.

    A checkpoint is a file like any other: a run state no fit writes (a negative count, a position past the
    epoch's end, an lr_scale < 0, optimizer moments no step makes, a generator state numpy refuses) raises
    ModelFileError naming the file and the field, before any training.
    """
    checkpoint = read_checkpoint(path)
    args = checkpoint.fit
    position = checkpoint.position
    started = position.epoch + (position.batch > 0)  # a mid-epoch checkpoint is partway through one more epoch
    if epochs is None:
        epochs = started if checkpoint.stop_training else args["epochs"]
    epochs = non_negative_int("epochs", epochs)
    if epochs < started:
        inside = (f" and {position.batch} batches of epoch {started} (a mid-epoch checkpoint); epochs must be >= "
                  f"{started}") if position.batch else ""
        raise ValueError(f"epochs={epochs}: the checkpointed run has already completed {position.epoch} epochs"
                         f"{inside}")
    callbacks = _callbacks_of(checkpoint, callbacks)
    model = model_from_parts(path, checkpoint.model_config, checkpoint.model_arrays)
    with checkpoint.reading("run.fit.optimizer"):
        optimizer = optimizer_from_config(args["optimizer"])
    with checkpoint.reading("run.optimizer"):
        optimizer.load_state_dict(checkpoint.optimizer_state)
        bind_optimizer(optimizer, model.layout)  # every value of the state is checked here (fit keeps the binding)
    model.training_state.step_count = checkpoint.step_count
    augment = Compose.from_config(args["augment"]) if args["augment"] is not None else None
    clip = _clip.from_config(args["clip"]) if args["clip"] is not None else None
    _loop.fit(model, X, y, loss=args["loss"], optimizer=optimizer, epochs=epochs, batch_size=args["batch_size"],
              shuffle=args["shuffle"], seed=args["seed"], clip=clip, validation_data=validation_data,
              callbacks=callbacks, verbose=verbose, augment=augment, on_nonfinite_loss=args["on_nonfinite_loss"],
              validation_split=args.get("validation_split", 0.0), drop_last=args.get("drop_last", False),
              sample_weight=sample_weight, class_weight=_class_weight(args.get("class_weight")),
              metrics=args.get("metrics"), checkpoint=path, checkpoint_every=args["checkpoint_every"],
              checkpoint_every_steps=args["checkpoint_every_steps"], resume_from=checkpoint)
    return model


def _class_weight(saved: object) -> dict[Any, float] | str | None:
    """A checkpoint's class_weight: None, "balanced", or [[class, weight], ...] (a dict as JSON can hold it)."""
    if isinstance(saved, list):
        return {k: v for k, v in saved}
    return saved if isinstance(saved, str) else None


__all__ = ["resume"]
