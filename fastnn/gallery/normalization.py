"""BatchNorm vs LayerNorm vs no normalization: the largest learning rate that still trains."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..layers import BatchNorm, Dense, LayerNorm, ReLU
from ..models import Sequential
from ..optim import SGD
from ._common import TRAINS_BELOW, Verdict, digits, mean_range, seeds_for, spread, train

NAME = "normalization"
TITLE = "BatchNorm and LayerNorm: the largest trainable learning rate"
CLAIM = ("Normalizing each layer's inputs, by BatchNorm or by LayerNorm, lets a network train at learning rates "
         "where the plain network fails; in training BatchNorm's output for a row depends on the rest of its "
         "batch, in evaluation it does not.")
SETUP = ("Digits (1000 rows), a 64-64-64-64-10 ReLU network with no normalization, BatchNorm or LayerNorm before "
         "each ReLU; SGD, batch 64, 3 epochs (quick 2), lr on a x3 grid 0.01..30. Trainable: finite and ending "
         "below half the chance loss ln 10; a normalization trains where the plain network fails when its "
         "largest trainable lr is at least one grid step (x3) above the plain network's, in most seeds. "
         "BatchNorm's train vs eval: the outputs for one row inside two different batches of 64, after training "
         "at lr 0.1.")
GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
NORMS = {"none": None, "BatchNorm": BatchNorm, "LayerNorm": LayerNorm}


def network(norm: Any, seed: int) -> Sequential:
    layers: list[Any] = []
    for _ in range(3):
        layers += [Dense(64)] + ([norm()] if norm is not None else []) + [ReLU()]
    return Sequential([*layers, Dense(10)], input_dim=64, seed=seed)


def run(quick: bool = True, seeds: Sequence[int] | None = None) -> dict[str, Any]:
    seeds = seeds_for(quick, seeds)
    X, y, _, _ = digits(1000)
    epochs = 2 if quick else 3
    final = {name: [[train(network(norm, s), X, y, SGD(lr=lr), epochs, 64, s)[0][-1] for lr in GRID] for s in seeds]
             for name, norm in NORMS.items()}
    modes = [batch_dependence(s, X, y) for s in seeds]
    return {"seeds": seeds, "grid": GRID, "final": final, "train_mode": [m[0] for m in modes],
            "eval_mode": [m[1] for m in modes]}


def batch_dependence(seed: int, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Largest change of row 0's outputs between two batches holding it, in training and in evaluation mode."""
    model = network(BatchNorm, seed)
    train(model, X, y, SGD(lr=0.1), 2, 64, seed)
    a, b = np.ascontiguousarray(X[:64]), np.ascontiguousarray(np.concatenate([X[:1], X[500:563]]))
    in_eval = float(np.abs(model.forward(a)[0] - model.forward(b)[0]).max())
    # training mode last: it updates the running statistics evaluation reads
    in_train = float(np.abs(model.forward(a, training=True)[0].copy() - model.forward(b, training=True)[0]).max())
    return in_train, in_eval


def largest(results: dict[str, Any], name: str) -> np.ndarray:
    """Per seed, the largest lr of the grid that trains (0 if none)."""
    return np.array([max((lr for lr, v in zip(results["grid"], row) if v < TRAINS_BELOW), default=0.0)
                     for row in results["final"][name]])


def numbers(results: dict[str, Any]) -> dict[str, str]:
    at = results["grid"].index(0.1)
    out = {f"largest trainable lr, {name}": spread(largest(results, name)) for name in NORMS}
    out.update({f"final loss at lr 0.1, {name}": spread([row[at] for row in results["final"][name]])
                for name in NORMS})
    out["BatchNorm, training mode: max change of a row's outputs with its batch"] = spread(results["train_mode"])
    out["BatchNorm, evaluation mode: the same"] = spread(results["eval_mode"])
    return out


def verdict(results: dict[str, Any]) -> Verdict:
    plain = largest(results, "none")
    # a seed counts when the normalized network trains at some lr (0: at none) and at x3 the plain one's largest
    above = {name: (largest(results, name) > 0) & (largest(results, name) >= 3 * plain)
             for name in ("BatchNorm", "LayerNorm")}
    held = {f"{name} trains at learning rates where the plain network fails": bool(np.mean(a) > 0.5)
            for name, a in above.items()}
    held["BatchNorm's output for a row depends on its batch in training, not in evaluation"] = (
        min(results["train_mode"]) > 1e-3 and max(results["eval_mode"]) == 0.0)

    def lrs(name: str) -> str:
        return f"{name} {mean_range(largest(results, name))}"

    return Verdict(held, (
        f"largest trainable lr: {lrs('none')}, {lrs('BatchNorm')}, {lrs('LayerNorm')}; at least x3 the plain "
        f"network's in {np.mean(above['BatchNorm']):.0%} of seeds with BatchNorm, "
        f"{np.mean(above['LayerNorm']):.0%} with LayerNorm (LayerNorm's is below it in "
        f"{np.mean(largest(results, 'LayerNorm') < plain):.0%}). A row's outputs move by up to "
        f"{max(results['train_mode']):.3g} with its batch in training mode, {max(results['eval_mode']):.3g} in "
        "evaluation mode."))


def plot(results: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name in NORMS:
        v = np.array(results["final"][name], dtype=float)
        v[~np.isfinite(v)] = np.nan
        ax.plot(results["grid"], np.nanmean(v, 0), "o-", label=name)
    ax.axhline(TRAINS_BELOW, color="k", ls=":", label="trainable below")
    ax.set(xscale="log", yscale="log", xlabel="learning rate", ylabel="final training loss (missing: diverged)")
    ax.legend()
    fig.tight_layout()
    return fig
