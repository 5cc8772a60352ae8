"""Callbacks that write files: :class:`ModelCheckpoint` (fastnn model files) and :class:`CSVLogger` (the
epoch logs). They sit below the models, so ModelCheckpoint writes the model file through the container
(fastnn.formats.modelfile) from the model's ``get_config()`` and ``state_arrays()``: the file ``fastnn.load``
reads. Both keep what a resumed run needs in ``get_state`` (see fastnn.training.checkpoint)."""
from __future__ import annotations

import math
import os
import warnings
from numbers import Integral
from typing import Any

from .._registry import class_config
from .._version import __version__
from ..formats.common import atomic_write_bytes
from ..formats.modelfile import write_model_file
from ..validation import check_scalar
from .callbacks import (
    CALLBACKS,
    Callback,
    TrainingRun,
    _best,
    _count,
    _optional,
    _strings,
    check_monitor,
    monitor_mode,
    require_metric,
    state_entries,
)


@CALLBACKS.register
class ModelCheckpoint(Callback):
    """Save the model (a fastnn model file, ``fastnn.load`` reads it) at the end of every ``every``-th epoch.

    ``filepath`` may name the epoch (1-based, as Keras) and any logged metric: ``"model-{epoch:03d}-
    {val_loss:.4f}.fnn"``. ``save_best_only``: save only when ``monitor`` improves on the best so far
    (``mode``: "min", "max" or "auto" = "max" for metrics where higher is better: accuracy, f1, r2, ...); with a
    fixed filepath the file then always holds the best model, across fits too: the best value is kept from one
    ``fit`` to the next with the same callback, as in Keras. Each write is atomic; a model ``fastnn.load`` would
    refuse (NaN or inf weights of a diverged run) raises a ValueError, the file left as it was. This saves the
    model for use; the checkpoint that resumes a run is ``fit(checkpoint=...)``."""

    def __init__(self, filepath: str | os.PathLike[str], monitor: str = "val_loss", mode: str = "auto",
                 save_best_only: bool = False, every: int = 1, verbose: int = 0):
        self.filepath = os.fspath(filepath)
        if not isinstance(self.filepath, str) or not self.filepath:
            raise TypeError(f"ModelCheckpoint filepath must be a file path, got {filepath!r}")
        self.monitor = check_monitor(monitor)
        self.mode = monitor_mode(mode, monitor)
        self.save_best_only = check_scalar(save_best_only, "ModelCheckpoint save_best_only", bool)
        self.every = check_scalar(every, "ModelCheckpoint every", Integral, min_val=1)
        self.verbose = verbose
        self.best = math.inf if self.mode == "min" else -math.inf  # not reset by a fit: the file holds the best
        self.on_train_begin(None)

    def get_config(self) -> dict[str, Any]:
        return class_config(self, filepath=self.filepath, monitor=self.monitor, mode=self.mode,
                            save_best_only=self.save_best_only, every=self.every, verbose=self.verbose)

    def set_run(self, run: TrainingRun) -> None:
        if self.save_best_only:
            require_metric("ModelCheckpoint", self.monitor, run.metrics, run.validation)
        try:  # a pattern naming a metric the run never logs fails now, not after the first epoch
            self.filepath.format(epoch=1, **dict.fromkeys(run.metrics, 0.0))
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"ModelCheckpoint filepath {self.filepath!r} does not format with epoch and the "
                             f"logged metrics {sorted(run.metrics)}: {type(exc).__name__}: {exc}") from None
        super().set_run(run)

    def on_train_begin(self, model):
        self.saved: list[str] = []  # the files this fit wrote

    def on_epoch_end(self, epoch, logs, model):
        if (epoch + 1) % self.every:
            return
        if self.save_best_only:
            value = logs.get(self.monitor)
            if value is None or not (value < self.best if self.mode == "min" else value > self.best):
                return
        path = self.filepath.format(epoch=epoch + 1, **logs)
        config, arrays = model.file_contents()
        write_model_file(path, config, arrays, __version__, model.step_count)  # as fastnn.save records it
        if self.save_best_only:  # only once written: a refused write (no such directory) leaves no best unsaved
            self.best = value
        self.saved.append(path)
        if self.verbose:
            print(f"ModelCheckpoint: saved {path}", flush=True)

    def get_state(self) -> dict[str, Any]:
        return {"best": self.best, "saved": self.saved}

    def set_state(self, state: dict[str, Any]) -> None:
        entries = state_entries("ModelCheckpoint", state, best=_best, saved=_strings)
        self.best, self.saved = entries["best"], entries["saved"]

    def check_position(self, epochs_done: int, steps_done: int) -> None:
        """After set_state (fastnn.resume): no more files saved than the epochs the run has completed allow (one
        at most every ``every`` epochs; ``saved`` starts afresh with each fit)."""
        if len(self.saved) > epochs_done // self.every:
            raise ValueError(f"ModelCheckpoint saved lists {len(self.saved)} files, more than {epochs_done} epochs "
                             f"(run.position.epoch) give at one every {self.every} epochs")


@CALLBACKS.register
class CSVLogger(Callback):
    """Write the epoch logs to a CSV file: a header ``epoch,<metric>,...`` (the first epoch's keys) then one
    row per epoch (epoch counted from 0, as Keras; values as Python writes them, floats round-trip exactly),
    each appended and closed at once (no handle stays open between epochs, so an interrupted fit leaks none).
    ``append``: continue an existing file instead of replacing it.

    A resumed run (fastnn.resume) keeps the rows up to its checkpoint and drops the ones a killed process wrote
    after it, so the file ends as the uninterrupted run's would."""

    def __init__(self, filename: str | os.PathLike[str], separator: str = ",", append: bool = False):
        self.filename = os.fspath(filename)
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"CSVLogger separator must be one character, got {separator!r}")
        self.separator = separator
        self.append = check_scalar(append, "CSVLogger append", bool)
        self.on_train_begin(None)

    def get_config(self) -> dict[str, Any]:
        return class_config(self, filename=self.filename, separator=self.separator, append=self.append)

    def on_train_begin(self, model):
        # lines: the file's lines this run keeps, the rows an appending run finds first (counted when fit starts,
        # so a checkpoint taken before this run's first row still knows where its rows begin)
        self.lines, self.keys, self._resumed, self._started = 0, None, False, False
        if model is not None and self.append and os.path.exists(self.filename):
            with open(self.filename, encoding="utf-8") as f:
                self.lines = sum(1 for _ in f)

    def get_state(self) -> dict[str, Any]:
        return {"lines": self.lines, "keys": self.keys}

    def set_state(self, state: dict[str, Any]) -> None:
        entries = state_entries("CSVLogger", state, lines=_count, keys=_optional(_strings))
        # keys: the first epoch's logs as the callbacks before this one left them (they may add or drop a metric)
        self.lines, self.keys, self._resumed = entries["lines"], entries["keys"], True

    def _start(self, logs: dict[str, Any]) -> None:
        """At the first epoch's end: the file as this run starts it (each row then opens it to append, so no
        handle stays open: an interrupted fit leaks none). A resumed run keeps the lines up to its checkpoint:
        the killed process's later rows go."""
        self._started = True
        if self._resumed:
            kept = []
            if os.path.exists(self.filename):
                with open(self.filename, encoding="utf-8") as f:
                    kept = [line for _, line in zip(range(self.lines), f)]
            if len(kept) < self.lines:  # the log was deleted or replaced since the checkpoint (another machine?)
                warnings.warn(f"CSVLogger: {self.filename} holds {len(kept)} of the {self.lines} lines the "
                              "checkpoint's run had written; the resumed run's rows follow them", RuntimeWarning,
                              stacklevel=2)
                self.lines = len(kept)
            atomic_write_bytes(self.filename, "".join(kept).encode("utf-8"))
        if self.keys is None:  # a fresh run, or a checkpoint taken before this run's first row
            self.keys = list(logs)
        if not self.lines:  # a new file, one replaced, or one that lost the header the resumed run wrote
            self._write_line(["epoch", *self.keys], mode="w")

    def _write_line(self, fields: list[Any], mode: str = "a") -> None:
        with open(self.filename, mode, encoding="utf-8") as f:
            f.write(self.separator.join("" if v is None else str(v) for v in fields) + "\n")
        self.lines += 1

    def on_epoch_end(self, epoch, logs, model):
        if not self._started:
            self._start(logs)
        assert self.keys is not None
        self._write_line([epoch, *(logs.get(key) for key in self.keys)])


__all__ = ["CSVLogger", "ModelCheckpoint"]
