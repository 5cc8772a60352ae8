"""Monte Carlo dropout (Gal & Ghahramani, 2016): ``model.predict(X, mc_samples=T, seed=s)``.

Dropout trained a family of thinned networks; averaging the predictions of ``T`` of them at inference
approximates the ensemble (the chapter's "dropout as an ensemble") and their spread estimates how uncertain the
prediction is. Each of the ``T`` forward passes keeps every Dropout layer active with its own masks and leaves
everything else in inference mode: BatchNorm normalizes with its running statistics, never the batch's, so the
result does not depend on which rows are predicted together. With ``y_t`` the output of pass ``t`` (after the
loss's output map: class probabilities for a classifier, raw values for mse)::

    mean = (1 / T) sum_t y_t              std = sqrt((1 / T) sum_t (y_t - mean)^2)

(the population standard deviation, Gal's predictive variance without the model-precision term; 0 for T = 1),
accumulated in float64 and returned in the model's dtype, each of shape (n, outputs).

The masks of pass ``t`` are keyed by (seed, t, chunk of rows, layer), like training's, so one seed gives the same
result for any thread count; nothing is stored on the model, so any number of threads may predict at once.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, Protocol

import numpy as np

from ._config import in_flight
from .layers.base import StepContext
from .validation import check_seed, positive_int


class Model(Protocol):
    """What the passes use of a model (fastnn.models.Sequential)."""
    seed: int
    dtype: np.dtype
    output_dim: int | None

    def prepare_inputs(self, x: np.ndarray) -> np.ndarray: ...
    def forward(self, x: np.ndarray, training: bool = False, ctx: StepContext | None = None) -> np.ndarray: ...


CHUNK = 1024  # rows per forward pass (each chunk keys its own masks)


class MCPrediction(NamedTuple):
    """The Monte Carlo dropout prediction: ``mean`` and ``std`` over the passes, each (n, outputs); unpacks as
    ``mean, std = model.predict(X, mc_samples=T)``."""
    mean: np.ndarray
    std: np.ndarray


def check_arguments(model: Model, mc_samples: object, seed: object) -> tuple[int, int]:
    """(mc_samples, seed) checked; a None seed is the model's."""
    return positive_int("mc_samples", mc_samples), model.seed if seed is None else check_seed(seed)


def predict(model: Model, X: np.ndarray, samples: int, seed: int,
            transform: Callable[[np.ndarray], np.ndarray] | None) -> MCPrediction:
    """``samples`` stochastic passes of a built ``model`` over the checked raw rows ``X`` (see the module
    docstring), keyed by ``seed``; ``transform`` is the loss's output map (None: raw outputs)."""
    n, width = X.shape[0], int(model.output_dim or 0)
    mean, m2 = np.zeros((n, width)), np.zeros((n, width))
    n_chunks = -(-n // CHUNK)
    for c, start in enumerate(range(0, n, CHUNK)):
        rows = model.prepare_inputs(X[start:start + CHUNK])
        mu, sq = mean[start:start + rows.shape[0]], m2[start:start + rows.shape[0]]
        for t in range(samples):
            ctx = StepContext(training=False, mc_dropout=True, seed=seed, step=t * n_chunks + c)
            # a workspace buffer (the output map may work in place); calls of other Python threads share the threads
            y = in_flight(model.forward, rows, ctx=ctx).copy()
            y = transform(y) if transform is not None else y
            delta = y - mu  # Welford's update, in float64
            mu += delta / (t + 1)
            sq += delta * (y - mu)
    return MCPrediction(mean.astype(model.dtype), np.sqrt(m2 / samples).astype(model.dtype))
