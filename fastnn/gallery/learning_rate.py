"""Learning rate too small, right, too large; larger batches tolerate larger learning rates."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..optim import SGD
from ._common import CHANCE_LOSS, TRAINS_BELOW, Verdict, digits, mean_range, mlp, seeds_for, spread, train

NAME = "learning_rate"
TITLE = "Learning rate: too small, right, too large"
CLAIM = ("Too small a learning rate converges slowly, too large a one does not converge (the chapter's words: "
         "the run diverges or stalls); and larger batches tolerate larger learning rates.")
SETUP = ("Digits (600 training rows), 64-64-10 ReLU network, plain SGD, batch 32: lr 0.001 / 0.1 / 10 for 10 "
         "(quick 4) epochs. 'Converges slowly': the loss falls from the first epoch to the last and ends above the "
         "right lr's; 'does not converge': the loss becomes inf (diverges) or ends at or above the chance loss "
         "ln 10 = 2.30 (stalls). Then the largest lr of a x3 grid that trains, i.e. whose run ends below half the "
         "chance loss ln 10 (the same absolute rule for every batch size, as in the normalization experiment), "
         "for batch 4 and batch 256, each after the same number of steps (100, quick; 300).")
LRS = {"too small (0.001)": 0.001, "right (0.1)": 0.1, "too large (10)": 10.0}
GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)


def steps_loss(seed: int, lr: float, batch_size: int, steps: int, X: np.ndarray, y: np.ndarray) -> float:
    """Training loss (whole set) after ``steps`` SGD steps on random batches; inf if it diverged."""
    model, rng, optimizer = mlp(64, [64], seed=seed), np.random.default_rng(seed), SGD(lr=lr)
    with np.errstate(all="ignore"):
        try:
            for _ in range(steps):
                rows = rng.choice(len(X), batch_size, replace=False)
                model.train_step(X[rows], y[rows], loss="cross_entropy", optimizer=optimizer)
            return float(model.evaluate(X, y)["loss"])
        except (FloatingPointError, ValueError):
            return np.inf


def largest_trainable(seed: int, batch_size: int, steps: int, X: np.ndarray, y: np.ndarray) -> float:
    """The largest lr of GRID whose run (same number of steps for every batch size) ends below half the
    chance loss ln 10."""
    ok = [lr for lr in GRID if steps_loss(seed, lr, batch_size, steps, X, y) < TRAINS_BELOW]
    return max(ok, default=0.0)


def run(quick: bool = True, seeds: Sequence[int] | None = None) -> dict[str, Any]:
    seeds = seeds_for(quick, seeds)
    epochs = 4 if quick else 10
    X, y, _, _ = digits(600)
    curves = {label: [train(mlp(64, [64], seed=s), X, y, SGD(lr=lr), epochs, 32, s)[0] for s in seeds]
              for label, lr in LRS.items()}
    largest = {k: [largest_trainable(s, k, 100 if quick else 300, X, y) for s in seeds] for k in (4, 256)}
    return {"seeds": seeds, "curves": curves, "largest": largest}


def numbers(results: dict[str, Any]) -> dict[str, str]:
    out = {f"final loss, lr {label}": spread([c[-1] for c in runs]) for label, runs in results["curves"].items()}
    large = _final(results)[2]
    out["lr too large (10): runs that diverge / stall at or above the chance loss"] = (
        f"{int(np.sum(~np.isfinite(large)))}/{large.size} / {int(np.sum(large[np.isfinite(large)] >= CHANCE_LOSS))}"
        f"/{large.size}")
    out.update({f"largest trainable lr, batch {k}": spread(v) for k, v in results["largest"].items()})
    return out


def _final(results: dict[str, Any]) -> list[np.ndarray]:
    """Per lr of LRS, each seed's final training loss."""
    return [np.array([c[-1] for c in runs], np.float64) for runs in results["curves"].values()]


def verdict(results: dict[str, Any]) -> Verdict:
    small, right, large = _final(results)
    small_first = np.array([c[0] for c in next(iter(results["curves"].values()))], np.float64)
    falling = small < small_first
    diverged = ~np.isfinite(large)
    stalled = np.isfinite(large) & (large >= CHANCE_LOSS)
    lr4, lr256 = (np.array(v) for v in results["largest"].values())
    finite = large[np.isfinite(large)]
    stuck = f", final loss {finite.min():.3g}..{finite.max():.3g}" if finite.size else ""
    held = {"too small a learning rate converges slowly": bool(np.all(falling) and np.all(small > right)),
            "too large a one does not converge": bool(np.all(diverged | stalled)),
            "larger batches tolerate larger learning rates": bool(np.mean(lr256 > lr4) > 0.5)}
    return Verdict(held, (
        f"Too small an lr (0.001): the loss falls in {int(falling.sum())}/{falling.size} runs and ends at "
        f"{mean_range(small)} against {mean_range(right)} at the right lr. Too large (10): {int(diverged.sum())}/"
        f"{large.size} runs diverge (inf loss), {int(stalled.sum())}/{large.size} stall at or above the chance "
        f"loss {CHANCE_LOSS:.2f}{stuck}. Largest trainable lr: batch 4 {mean_range(lr4)}, batch 256 "
        f"{mean_range(lr256)}, larger with "
        f"batch 256 in {np.mean(lr256 > lr4):.0%} of seeds."))


def plot(results: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for label, runs in results["curves"].items():
        loss = np.array(runs)
        loss[~np.isfinite(loss)] = np.nan
        axes[0].plot(np.arange(1, loss.shape[1] + 1), np.nanmean(loss, 0), "o-", label=label)
    axes[0].set(xlabel="epoch", ylabel="training loss", yscale="log", title="SGD, batch 32")
    axes[0].legend()
    ks = list(results["largest"])
    vals = [results["largest"][k] for k in ks]
    axes[1].bar([str(k) for k in ks], [np.mean(v) for v in vals], yerr=[np.std(v) for v in vals])
    axes[1].set(xlabel="batch size", ylabel="largest trainable lr", yscale="log", title="lr vs batch size")
    fig.tight_layout()
    return fig
