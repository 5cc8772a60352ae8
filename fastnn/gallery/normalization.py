"""BatchNorm vs LayerNorm vs no normalization: the largest learning rate that still trains."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..layers import BatchNorm, Dense, LayerNorm, ReLU
from ..models import Sequential
from ..optim import SGD
from ._common import digits, seeds_for, spread, train

NAME = "normalization"
TITLE = "BatchNorm and LayerNorm: larger trainable learning rates"
CLAIM = "Normalizing each layer's inputs lets a network train at learning rates where the plain network fails."
SETUP = ("Digits (1000 rows), a 64-64-64-64-10 ReLU network with no normalization, BatchNorm or LayerNorm before "
         "each ReLU; SGD, batch 64, 3 epochs (quick 2), lr on a x3 grid 0.01..30. Trainable: finite and ending "
         "below half the chance loss ln 10.")
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
    return {"seeds": seeds, "grid": GRID, "final": final}


def largest(results: dict[str, Any], name: str) -> np.ndarray:
    """Per seed, the largest lr of the grid that trains (0 if none)."""
    return np.array([max((lr for lr, v in zip(results["grid"], row) if v < 0.5 * math.log(10)), default=0.0)
                     for row in results["final"][name]])


def numbers(results: dict[str, Any]) -> dict[str, str]:
    return {f"largest trainable lr, {name}": spread(largest(results, name)) for name in NORMS}


def verdict(results: dict[str, Any]) -> tuple[bool, str]:
    plain, bn, ln = (largest(results, n) for n in NORMS)
    ratio = bn / np.maximum(plain, 1e-12)
    ok = bool(np.mean(ratio >= 3) > 0.5)
    return ok, (f"largest trainable lr: none {plain.mean():.3g}, BatchNorm {bn.mean():.3g}, LayerNorm "
                f"{ln.mean():.3g}; BatchNorm's is >= 3x the plain network's in {np.mean(ratio >= 3):.0%} of seeds.")


def plot(results: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name in NORMS:
        v = np.array(results["final"][name], dtype=float)
        v[~np.isfinite(v)] = np.nan
        ax.plot(results["grid"], np.nanmean(v, 0), "o-", label=name)
    ax.axhline(0.5 * math.log(10), color="k", ls=":", label="trainable below")
    ax.set(xscale="log", yscale="log", xlabel="learning rate", ylabel="final training loss (missing: diverged)")
    ax.legend()
    fig.tight_layout()
    return fig
