"""Training callbacks. ``fit`` calls ``on_train_begin(model)``, ``on_epoch_end(epoch, logs, model)`` after
each epoch (logs hold loss, accuracy, val_loss, val_accuracy, lr ...) and ``on_train_end(model)``; a callback
stops training by setting ``model.stop_training = True``."""
from __future__ import annotations

import math

import numpy as np


class Callback:
    def on_train_begin(self, model) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict, model) -> None:
        pass

    def on_train_end(self, model) -> None:
        pass


class History(Callback):
    """Per-epoch metrics (``history["loss"]`` ...) and per-step optimizer records (``history.steps``)."""

    def __init__(self):
        self.history: dict[str, list] = {}
        self.steps: dict[str, list] = {"grad_norm": [], "clipped": [], "skipped": []}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch, logs, model):
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def record_step(self, info: dict) -> None:
        if info.get("grad_norm") is not None:
            self.steps["grad_norm"].append(float(info["grad_norm"]))
            self.steps["clipped"].append(bool(info.get("clipped", False)))
        self.steps["skipped"].append(bool(info.get("skipped", False)))

    def __getitem__(self, key):
        return self.history[key]

    def __contains__(self, key):
        return key in self.history

    def __repr__(self):
        return f"History({self.history!r})"


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs; with
    ``restore_best_weights`` the weights of the best epoch are put back at the end (as Keras)."""

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0, mode: str = "auto",
                 restore_best_weights: bool = True):
        if patience < 0 or min_delta < 0:
            raise ValueError("EarlyStopping patience and min_delta must be >= 0")
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping mode must be 'min', 'max' or 'auto', got {mode!r}")
        self.monitor, self.patience, self.min_delta, self.mode = monitor, patience, min_delta, mode
        self.restore_best_weights = restore_best_weights

    def on_train_begin(self, model):
        self.best = math.inf if self.mode == "min" else -math.inf
        self.wait, self.best_epoch, self.stopped_epoch, self._best_params = 0, None, None, None

    def _improved(self, value) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch, logs, model):
        if self.monitor not in logs:
            raise ValueError(f"EarlyStopping monitors {self.monitor!r}, which is not among the logged metrics "
                             f"{sorted(logs)} (pass validation_data for val_* metrics)")
        value = logs[self.monitor]
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self._best_params = model.get_weights()
        else:
            self.wait += 1
            if self.wait > self.patience:
                self.stopped_epoch = epoch
                model.stop_training = True

    def on_train_end(self, model):
        if self.restore_best_weights and self._best_params is not None and self.stopped_epoch is not None:
            model.set_weights(self._best_params)


class TerminateOnNaN(Callback):
    """Stop training when the epoch loss is NaN or inf."""

    def on_epoch_end(self, epoch, logs, model):
        if not np.isfinite(logs.get("loss", 0.0)):
            model.stop_training = True
