"""Hyperparameter optimization: grid, random (+ refinement), Bayesian optimization, successive halving,
Hyperband and BOHB (Hyperband with model-proposed configurations), run in-process, on a process pool or on Dask.
The top of the package: nothing imports it.

::

    from fastnn.tune import Choice, LogUniform, search
    space = {"lr": LogUniform(1e-4, 1e-1), "act": Choice(["relu", "tanh"])}
    result = search(lambda p: train_and_validate(**p), space, method="bayes", n_trials=40)
    result.best_params, result.best_score, result.to_csv("trials.csv")

Tuning fastnn models: ``tune_model(mlp_space(), X, y, validation_data=(Xv, yv), method="hyperband")``
(fastnn/tune/model.py, fastnn/tune/mlp.py); Optuna users: ``OptunaPruningCallback`` (fastnn/tune/optuna.py).
"""
from __future__ import annotations

from .executors import DaskExecutor, Executor, InProcessExecutor, ProcessExecutor
from .mlp import build_mlp, mlp_space
from .model import TuneResult, tune_model
from .optuna import OptunaPruningCallback
from .search import AllTrialsFailedError, SearchResult, Trial, search
from .space import Choice, Int, LogUniform, Space, Uniform

__all__ = ["Choice", "Int", "Uniform", "LogUniform", "Space", "search", "SearchResult", "Trial", "Executor",
           "InProcessExecutor", "ProcessExecutor", "DaskExecutor", "mlp_space", "build_mlp", "tune_model",
           "TuneResult", "OptunaPruningCallback", "AllTrialsFailedError"]
