"""What every gallery experiment shares: the data, a small network, a quiet training run, divergence as a
result (not an error), and the mean +- spread summary over seeds."""
from __future__ import annotations

import math
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ..datasets import load_digits, load_fashion_mnist
from ..layers import Dense, Dropout
from ..models import Sequential
from ..training.callbacks import Callback
from ..training.step import NonFiniteLossError

QUICK_SEEDS = (0, 1, 2)
FULL_SEEDS = (0, 1, 2, 3, 4)
CHANCE_LOSS = math.log(10)  # the cross-entropy of a uniform guess over the 10 classes
TRAINS_BELOW = 0.5 * CHANCE_LOSS  # "trainable": a run whose loss ends below half the chance loss


def seeds_for(quick: bool, seeds: Sequence[int] | None) -> tuple[int, ...]:
    """The seeds given, else 3 (quick) or 5 (full): every seed run is reported, none is picked."""
    return tuple(int(s) for s in seeds) if seeds is not None else (QUICK_SEEDS if quick else FULL_SEEDS)


def mean_range(values: ArrayLike, fmt: str = ".3g") -> str:
    """``mean (min..max)`` of a per-seed measurement, each in ``fmt``."""
    a = np.asarray(values, np.float64)
    return f"{a.mean():{fmt}} ({a.min():{fmt}}..{a.max():{fmt}})"


def spread(values: ArrayLike) -> str:
    """``mean +- std (min..max, n=...)`` of a per-seed measurement."""
    a = np.asarray(values, np.float64)
    return f"{a.mean():.4g} ± {a.std():.2g} (min {a.min():.4g}, max {a.max():.4g}, n={a.size})"


def digits(n_train: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The embedded 8x8 digits (features in [0, 1]), the training set cut to its first ``n_train`` rows (the
    split is stratified and shuffled by ``seed``, so the cut is a random subset)."""
    X, y, Xt, yt = load_digits(seed=seed)
    if n_train is not None:
        X, y = X[:n_train], y[:n_train]
    return X, y, Xt, yt


def fashion_or_digits(n_train: int, n_test: int, seed: int) -> tuple[str, tuple[np.ndarray, ...]]:
    """A random Fashion-MNIST subset when the files are installed, else the digits (so the gallery always
    runs): returns the data set's name and (X, y, X_test, y_test)."""
    try:
        X, y, Xt, yt = load_fashion_mnist()
    except (OSError, ValueError):
        return "digits", digits(min(n_train, 1347), seed)
    rng = np.random.default_rng(seed)
    tr, te = rng.choice(len(X), n_train, replace=False), rng.choice(len(Xt), n_test, replace=False)
    return "fashion-mnist", (X[tr], y[tr], Xt[te], yt[te])


def mlp(n_in: int, hidden: Sequence[int], n_out: int = 10, activation: str = "relu", seed: int = 0,
        **dense: Any) -> Sequential:
    """A fully connected classifier; ``dense`` options (init, l1, l2) go to every hidden layer."""
    layers: list[Any] = [Dense(h, activation=activation, **dense) for h in hidden]
    return Sequential([*layers, Dense(n_out)], input_dim=n_in, seed=seed)


def with_dropout(n_in: int, hidden: Sequence[int], p: float, seed: int, n_out: int = 10) -> Sequential:
    layers: list[Any] = []
    for h in hidden:
        layers += [Dense(h, activation="relu"), Dropout(p)]
    return Sequential([*layers, Dense(n_out)], input_dim=n_in, seed=seed)


class Clock(Callback):
    """Wall time at the end of each epoch, from the start of training (for loss-vs-time curves)."""

    def on_train_begin(self, model: Any) -> None:
        self.start = time.perf_counter()
        self.times: list[float] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, Any], model: Any) -> None:
        self.times.append(time.perf_counter() - self.start)


def train(model: Sequential, X: np.ndarray, y: np.ndarray, optimizer: Any, epochs: int, batch_size: int,
          seed: int = 0, **fit: Any) -> tuple[list[float], bool]:
    """Fit quietly; returns (training loss per epoch, diverged). A NaN/inf loss ends the run as diverged
    (its remaining epochs count as inf) instead of raising: divergence is a result here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            history = model.fit(X, y, optimizer=optimizer, epochs=epochs, batch_size=batch_size, seed=seed,
                                verbose=0, **fit)
        except (NonFiniteLossError, FloatingPointError):
            done = list(model.history.history.get("loss", [])) if model.history is not None else []
            return done + [math.inf] * (epochs - len(done)), True
    losses = [float(v) for v in history["loss"]]
    return losses, not all(math.isfinite(v) for v in losses)


def first_weights(model: Sequential) -> np.ndarray:
    """The first Dense layer's kernel W (inputs x units), a view into the model's parameters."""
    assert model.layout is not None and model.params is not None, "the model is built"
    return model.layout.view(model.params, "0.W")


def accuracy(model: Sequential, X: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(model.predict_classes(X) == y))


class Verdict(tuple[bool, str]):
    """What an experiment's numbers say about its claim, clause by clause: ``Verdict(held, text)``.

    ``held`` maps each clause of the claim, in its order, to whether the numbers over the seeds bear it out;
    ``text`` gives the numbers that decide each clause. The verdict is the pair ``(ok, text)``, ``ok`` True only
    when every clause holds (so ``ok, text = module.verdict(results)`` reads the whole claim's outcome)."""

    held: dict[str, bool]

    def __new__(cls, held: Mapping[str, bool], text: str) -> Verdict:
        if not held:
            raise ValueError("a verdict needs at least one clause of the claim")
        clauses = {clause: bool(h) for clause, h in held.items()}
        verdict = super().__new__(cls, (all(clauses.values()), text))
        verdict.held = clauses
        return verdict

    def __getnewargs__(self) -> tuple[dict[str, bool], str]:  # copy and pickle rebuild it from these
        return self.held, self.text

    @property
    def ok(self) -> bool:
        return self[0]

    @property
    def text(self) -> str:
        return self[1]

    @property
    def status(self) -> str:
        """'reproduced' (every clause holds), 'partly reproduced' (some do) or 'NOT reproduced' (none)."""
        if self.ok:
            return "reproduced"
        return "partly reproduced" if any(self.held.values()) else "NOT reproduced"

    def details(self) -> str:
        """Which clauses hold and which do not (unless every one holds), then the numbers."""
        held = [c for c, h in self.held.items() if h]
        failed = [c for c, h in self.held.items() if not h]
        lists = ([f"Holds: {'; '.join(held)}. "] if held and failed else []) + (
            [f"Does NOT hold: {'; '.join(failed)}. "] if failed else [])
        return "".join(lists) + self.text[:1].upper() + self.text[1:]


def page(title: str, claim: str, setup: str, numbers: dict[str, str], verdict: Verdict) -> str:
    """The short markdown page ``fastnn gallery`` writes beside each figure."""
    rows = "\n".join(f"| {k} | {v} |" for k, v in numbers.items())
    return (f"# {title}\n\n**Claim.** {claim}\n\n**Setup.** {setup}\n\n| measurement | over seeds |\n|---|---|\n"
            f"{rows}\n\n**Verdict: {verdict.status}.** {verdict.details()}\n")
