"""The Optuna bridge: :class:`OptunaPruningCallback`, a fit callback that reports a metric to an Optuna trial every
epoch and stops the run when the trial's pruner says so, as Optuna's Keras and PyTorch Lightning integrations do.

optuna is imported here only, when a callback is made (``pip install optuna``; it is in fastnn's test extra)::

    def objective(trial):
        model, fit_kwargs = fastnn.tune.build_mlp({"lr": trial.suggest_float("lr", 1e-4, 0.3, log=True)}, 64, 10)
        model.fit(X, y, validation_data=(Xv, yv), epochs=20, verbose=0,
                  callbacks=[fastnn.tune.OptunaPruningCallback(trial, monitor="val_accuracy")], **fit_kwargs)
        return model.history["val_accuracy"][-1]

    optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner()).optimize(objective, 30)
"""
from __future__ import annotations

import math
from typing import Any

from .._optional import optional_import
from ..training.callbacks import MonitoringCallback, check_monitor


class OptunaPruningCallback(MonitoringCallback):
    """After every epoch: ``trial.report(logs[monitor], step=epoch)`` (epoch counted from 0, as the Keras and
    Lightning integrations do), then, if ``trial.should_prune()``, stop the run at the end of that epoch
    (``model.stop_training = True``, so the model, its history and a checkpoint stay consistent) and, at the end of
    fit, raise ``optuna.TrialPruned`` so that ``study.optimize`` records the trial as pruned (the Keras
    integration raises it at once, from inside the epoch loop). ``raise_pruned=False`` returns from fit instead;
    ``pruned`` and ``pruned_epoch`` then say what happened. A NaN or infinite value is not reported (Optuna
    refuses it): the run goes on to the next epoch.

    The callback refuses, before training starts, a ``monitor`` the run does not log (``val_*`` needs
    validation data)."""

    def __init__(self, trial: Any, monitor: str = "val_accuracy", raise_pruned: bool = True) -> None:
        optuna = optional_import("optuna", "OptunaPruningCallback", "optuna")

        if not isinstance(trial, optuna.trial.BaseTrial):
            raise TypeError(f"trial must be an optuna trial (the argument of the study's objective), got "
                            f"{type(trial).__name__}")
        self.trial = trial
        self.monitor = check_monitor(monitor)
        if not isinstance(raise_pruned, bool):
            raise TypeError(f"raise_pruned must be a bool, got {type(raise_pruned).__name__}")
        self.raise_pruned = raise_pruned
        self.pruned = False
        self.pruned_epoch: int | None = None

    def on_train_begin(self, model: Any) -> None:
        self.pruned, self.pruned_epoch = False, None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: Any) -> None:
        value = logs.get(self.monitor)
        if value is None or not math.isfinite(value):
            return
        self.trial.report(float(value), step=epoch)
        if self.trial.should_prune():
            self.pruned, self.pruned_epoch = True, epoch
            model.stop_training = True

    def on_train_end(self, model: Any) -> None:
        if self.pruned and self.raise_pruned:
            import optuna

            raise optuna.TrialPruned(f"trial {self.trial.number} pruned at epoch {self.pruned_epoch} "
                                     f"({self.monitor}={model.history[self.monitor][-1]!r})")


__all__ = ["OptunaPruningCallback"]
