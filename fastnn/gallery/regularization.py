"""Regularization on a small training set: L1, L2, early stopping, dropout, augmentation."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import augment
from ..optim import SGD
from ..training.callbacks import EarlyStopping
from ._common import (
    Verdict,
    accuracy,
    digits,
    fashion_or_digits,
    first_weights,
    mlp,
    seeds_for,
    spread,
    train,
    with_dropout,
)

NAME = "regularization"
TITLE = "Regularization on a small training set"
CLAIM = ("On a small training set, L1 (sparse weights), L2, early stopping, dropout and data augmentation shrink "
         "the train-test gap and can raise the test accuracy; dropout's thinned networks, sampled at inference "
         "(Monte Carlo dropout), say how sure each prediction is.")
QUICK_SEEDS, FULL_SEEDS = tuple(range(8)), tuple(range(10))
SETUP = ("1000 Fashion-MNIST training images (digits' 300 in quick mode or when Fashion-MNIST is missing), a "
         "784-256-10 (64-256-10) ReLU network, SGD lr 0.05 momentum 0.9, batch 32, 60 epochs (quick 30); L1 1e-4 "
         "on the hidden layer's weights, by its subgradient (Dense(l1=)) and by a proximal step (the optimizer's "
         "prox_l1), L2 1e-3, dropout 0.5 (Monte Carlo dropout with 50 passes, quick 20), early stopping on the "
         "last 20% of the training rows as validation (patience 5; it trains on the other 80%, and its train "
         "accuracy is measured on those), random shifts of 1 pixel. 10 seeds (quick 8), each its own data subset "
         "and initialization, shared by every variant. Each regularizer is compared with no regularization seed "
         "by seed: it shrinks the gap (raises the test accuracy) when the mean of the paired differences exceeds "
         "twice their standard error (std / sqrt(seeds)); each regularizer is its own clause.")
VARIANTS = ("none", "L1", "L1 proximal", "L2", "dropout", "early stopping", "augmentation")
L1 = 1e-4


def one(variant: str, seed: int, data: tuple[np.ndarray, ...], epochs: int, mc_samples: int) -> dict[str, float]:
    X, y, Xt, yt = data
    side = int(round(np.sqrt(X.shape[1])))
    n_in = X.shape[1]
    fit: dict[str, Any] = {}
    dense: dict[str, Any] = {"L1": {"l1": L1}, "L2": {"l2": 1e-3}}.get(variant, {})
    model = with_dropout(n_in, [256], 0.5, seed) if variant == "dropout" else mlp(n_in, [256], seed=seed, **dense)
    if variant == "early stopping":  # it trains on the first 80% of the rows: its train accuracy is theirs
        X, y, Xv, yv = X[:int(0.8 * len(X))], y[:int(0.8 * len(X))], X[int(0.8 * len(X)):], y[int(0.8 * len(X)):]
        fit = {"validation_data": (Xv, yv), "callbacks": [EarlyStopping(patience=5, restore_best_weights=True)]}
    if variant == "augmentation":
        fit = {"augment": augment.Compose([augment.RandomShift(1)], image_shape=(side, side))}
    # the same penalty L1 * sum|W| on the hidden layer, as a soft threshold after each step
    prox = [{"names": ["0.W"], "prox_l1": L1}] if variant == "L1 proximal" else None
    train(model, X, y, SGD(lr=0.05, momentum=0.9, param_groups=prox), epochs, 32, seed, **fit)
    W = first_weights(model)
    out = {"train": accuracy(model, X, y), "test": accuracy(model, Xt, yt),
           "zero": float(np.mean(W == 0)), "small": float(np.mean(np.abs(W) < 1e-3))}
    if variant == "dropout":
        out.update(mc_dropout(model, Xt, yt, mc_samples, seed))
    return out


def mc_dropout(model: Any, Xt: np.ndarray, yt: np.ndarray, mc_samples: int, seed: int) -> dict[str, float]:
    """Monte Carlo dropout on the test set: the accuracy of the mean prediction, and the spread (std over the
    passes) of the predicted class's probability on the right and on the wrong test predictions."""
    mean, std = model.predict(Xt, mc_samples=mc_samples, seed=seed)
    top = np.argmax(mean, axis=1)
    spread_top = std[np.arange(len(top)), top]
    right = top == yt
    return {"mc test": float(np.mean(right)), "mc spread right": float(spread_top[right].mean()),
            "mc spread wrong": float(spread_top[~right].mean()) if np.any(~right) else float("nan")}


def run(quick: bool = True, seeds: Sequence[int] | None = None) -> dict[str, Any]:
    seeds = seeds_for(quick, seeds if seeds is not None else QUICK_SEEDS if quick else FULL_SEEDS)
    out: dict[str, Any] = {"seeds": seeds, "runs": {v: [] for v in VARIANTS}}
    for s in seeds:
        name, data = ("digits", digits(300, s)) if quick else fashion_or_digits(1000, 2000, s)
        out["data"] = name
        for v in VARIANTS:
            out["runs"][v].append(one(v, s, data, 30 if quick else 60, 20 if quick else 50))
    return out


def _col(results: dict[str, Any], v: str, key: str) -> np.ndarray:
    return np.array([r[key] for r in results["runs"][v]])


def numbers(results: dict[str, Any]) -> dict[str, str]:
    out = {"data": results["data"]}
    for v in VARIANTS:
        out[f"{v}: test accuracy"] = spread(_col(results, v, "test"))
        out[f"{v}: train - test accuracy gap"] = spread(_col(results, v, "train") - _col(results, v, "test"))
    for v in ("none", "L1", "L1 proximal", "L2"):
        out[f"{v}: first-layer weights exactly 0 / below 1e-3"] = (
            f"{_col(results, v, 'zero').mean():.4f} / {_col(results, v, 'small').mean():.4f}")
    out["dropout: Monte Carlo test accuracy (mean of the passes)"] = spread(_col(results, "dropout", "mc test"))
    out["dropout: Monte Carlo spread of the predicted probability, right / wrong predictions"] = (
        f"{spread(_col(results, 'dropout', 'mc spread right'))} / "
        f"{spread(_col(results, 'dropout', 'mc spread wrong'))}")
    return out


def paired(results: dict[str, Any], v: str, key: str) -> tuple[float, float]:
    """Mean and standard error over the seeds of ``v``'s gain over no regularization, seed by seed: for "gap"
    the gap's shrink (none's gap - v's), for "test" the test accuracy's rise (v's - none's)."""
    def measure(variant: str) -> np.ndarray:
        test = _col(results, variant, "test")
        return _col(results, variant, "train") - test if key == "gap" else -test

    gain = measure("none") - measure(v)
    return float(gain.mean()), float(gain.std(ddof=1) / np.sqrt(gain.size)) if gain.size > 1 else float("inf")


def beats(gain: tuple[float, float]) -> bool:
    """A gain counts when its mean exceeds twice its standard error (over the seeds)."""
    return gain[0] > 2 * gain[1]


def verdict(results: dict[str, Any]) -> Verdict:
    gap0 = _col(results, "none", "train") - _col(results, "none", "test")
    acc0 = _col(results, "none", "test")
    gap = {v: paired(results, v, "gap") for v in VARIANTS[1:]}
    rise = {v: paired(results, v, "test") for v in VARIANTS[1:]}
    small = _col(results, "L1", "small").mean() / max(_col(results, "none", "small").mean(), 1e-12)
    zero_sub, zero_prox = _col(results, "L1", "zero").mean(), _col(results, "L1 proximal", "zero").mean()
    wrong, right = _col(results, "dropout", "mc spread wrong"), _col(results, "dropout", "mc spread right")
    # "says how sure each prediction is": the passes disagree more on the predictions that are wrong
    spread_ratio = float(np.nanmean(wrong) / np.mean(right))
    held = {f"{v} shrinks the train-test gap": beats(gap[v]) for v in VARIANTS[1:]}
    held.update({f"{v} raises the test accuracy": beats(rise[v]) for v in VARIANTS[1:]})
    held["L1 makes the first-layer weights sparse (3x as many below 1e-3)"] = small > 3
    held["Monte Carlo dropout says how sure each prediction is (its passes spread more where it errs)"] = (
        spread_ratio > 1)
    parts = [f"{v}: gap shrinks by {gap[v][0]:+.3f} ± {gap[v][1]:.3f}, test acc rises by {rise[v][0]:+.3f} ± "
             f"{rise[v][1]:.3f}" for v in VARIANTS[1:]]
    return Verdict(held, (
        f"over {acc0.size} seeds, no regularization: gap {gap0.mean():.3f}, test accuracy {acc0.mean():.3f}; each "
        "regularizer's paired gain (mean ± standard error; it counts above twice the error): " + "; ".join(parts)
        + f". L1 puts {small:.2g}x as many first-layer weights below 1e-3 as no penalty; its subgradient "
        f"update makes {zero_sub:.2%} exactly 0, the proximal step {zero_prox:.2%} (a threshold of "
        "lr * 1e-4 per step: only weights the data hardly move reach 0 in this many steps). Monte Carlo "
        f"dropout's spread on the wrong test predictions is {spread_ratio:.2g}x its spread on the right "
        "ones: the ensemble is " + ("less sure" if spread_ratio > 1 else "NOT less sure") + " where it errs."))


def plot(results: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    x = np.arange(len(VARIANTS))
    for i, key in enumerate(("train", "test")):
        vals = [_col(results, v, key) for v in VARIANTS]
        ax.bar(x + 0.4 * i, [a.mean() for a in vals], 0.4, yerr=[a.std() for a in vals], label=key)
    ax.set_xticks(x + 0.2, VARIANTS)
    ax.set(ylabel="accuracy", ylim=(0.5, 1.02), title=f"small training set ({results['data']})")
    ax.legend()
    fig.tight_layout()
    return fig
