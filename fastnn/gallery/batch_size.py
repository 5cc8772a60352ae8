"""Batch, stochastic and mini-batch gradient descent.

The chapter: the batch size leaves the expected gradient unchanged and changes only its variance; small batches
are noisy but cheap per step. For K rows drawn without replacement from N, the mini-batch gradient's total
variance is ``tr(C) (N - K) / ((N - 1) K)``, C the covariance of the per-sample gradients.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import losses
from ..optim import SGD
from ._common import Clock, Verdict, digits, mlp, seeds_for, spread, train

NAME = "batch_size"
TITLE = "Batch size: same mean gradient, variance tr(C)(N-K)/((N-1)K)"
CLAIM = ("The batch size K does not change the expected gradient; its variance falls as tr(C)(N-K)/((N-1)K). "
         "(The loss against epochs and wall time is shown, not asserted: times on a shared machine are noisy.)")
SETUP = ("Digits, a 64-32-10 ReLU network at its initial weights. Every gradient is fastnn's own, the one a "
         "training step applies (Sequential.loss_and_grad on the rows of the batch): on each of N training rows "
         "alone (their covariance C), on all N rows (the full gradient) and on each of 400 (quick 150) random "
         "mini-batches of K rows per K (their mean and variance), so a batch gradient that is not the mean of its "
         "rows' gradients fails the claim. Then SGD with batch 1 (lr 0.01), 32 (lr 0.1) and N (lr 0.5), loss "
         "against epochs and time.")


def batch_gradient(model: Any, X: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """fastnn's gradient of the mean cross-entropy over the rows given, at the model's current weights: what a
    training step on that batch applies (a float64 copy)."""
    model.loss_and_grad(X, targets, "cross_entropy")
    return np.array(model.grads, np.float64)


def variance_vs_batch(seed: int, n: int, batch_sizes: Sequence[int], draws: int) -> dict[str, Any]:
    X, y, _, _ = digits(n, seed)
    model = mlp(64, [32], seed=seed)
    targets = losses.get("cross_entropy").prepare_targets(y, n, 10, model.dtype)
    per_sample = np.stack([batch_gradient(model, X[i:i + 1], targets[i:i + 1]) for i in range(n)])
    full = batch_gradient(model, X, targets)
    tr_c = float(((per_sample - per_sample.mean(0)) ** 2).sum(1).mean())
    rng = np.random.default_rng(seed)
    measured, predicted, bias = [], [], []
    for k in batch_sizes:
        draws_k = [np.sort(rng.choice(n, k, replace=False)) for _ in range(draws)]
        batch_grads = np.stack([batch_gradient(model, X[rows], targets[rows]) for rows in draws_k])
        measured.append(float(((batch_grads - full) ** 2).sum(1).mean()))
        predicted.append(tr_c * (n - k) / ((n - 1) * k))
        # |mean of the draws - full gradient| against its own standard error: ~1 when unbiased
        bias.append(float(np.linalg.norm(batch_grads.mean(0) - full) / np.sqrt(measured[-1] / draws + 1e-300)))
    return {"measured": measured, "predicted": predicted, "bias_se": bias}


def curves(seed: int, n: int, epochs: int) -> dict[str, Any]:
    X, y, _, _ = digits(n, seed)
    out = {}
    for label, k, lr in (("stochastic (K=1)", 1, 0.01), ("mini-batch (K=32)", 32, 0.1), (f"batch (K={n})", n, 0.5)):
        clock = Clock()
        loss, _ = train(mlp(64, [32], seed=seed), X, y, SGD(lr=lr), epochs, k, seed, callbacks=[clock])
        out[label] = {"loss": loss, "time": clock.times}
    return out


def run(quick: bool = True, seeds: Sequence[int] | None = None) -> dict[str, Any]:
    seeds = seeds_for(quick, seeds)
    n = 200 if quick else 600
    ks = [1, 4, 16, 64, n // 2] if quick else [1, 2, 8, 32, 128, n // 2, n - 10]
    start = time.perf_counter()
    var = [variance_vs_batch(s, n, ks, 150 if quick else 400) for s in seeds]
    crv = [curves(s, n, 5 if quick else 20) for s in seeds[:1 if quick else 3]]
    return {"seeds": seeds, "n": n, "batch_sizes": ks, "variance": var, "curves": crv,
            "seconds": time.perf_counter() - start}


def ratios(results: dict[str, Any]) -> np.ndarray:
    """(seeds, batch sizes) measured / predicted variance."""
    return np.array([np.array(v["measured"]) / np.array(v["predicted"]) for v in results["variance"]])


def numbers(results: dict[str, Any]) -> dict[str, str]:
    r, bias = ratios(results), np.array([v["bias_se"] for v in results["variance"]])
    out = {f"variance measured / formula, K={k}": spread(r[:, i]) for i, k in enumerate(results["batch_sizes"])}
    out["|mean of mini-batch gradients - full gradient| / its standard error (all K)"] = spread(bias.ravel())
    for label, runs in _by_label(results).items():
        out[f"final loss, {label}"] = spread([c["loss"][-1] for c in runs])
    return out


def _by_label(results: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    labels = results["curves"][0].keys()
    return {label: [c[label] for c in results["curves"]] for label in labels}


def verdict(results: dict[str, Any]) -> Verdict:
    r, bias = ratios(results), np.array([v["bias_se"] for v in results["variance"]])
    held = {"the batch size does not change the expected gradient": bool(np.median(bias) < 2.0),
            "its variance falls as tr(C)(N-K)/((N-1)K)": bool(0.75 < r.mean(0).min() and r.mean(0).max() < 1.33)}
    return Verdict(held, (
        f"measured/formula variance ratio {r.mean(0).min():.3f}..{r.mean(0).max():.3f} over the batch sizes (mean "
        f"of {r.shape[0]} seeds); the mini-batch mean sits {np.median(bias):.2f} standard errors from the full "
        f"gradient (median): {'unbiased' if np.median(bias) < 2.0 else 'biased'}."))


def plot(results: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    ks = results["batch_sizes"]
    meas = np.array([v["measured"] for v in results["variance"]])
    axes[0].errorbar(ks, meas.mean(0), yerr=meas.std(0), fmt="o", label="measured (mean ± std over seeds)")
    axes[0].plot(ks, np.mean([v["predicted"] for v in results["variance"]], 0), "-", label="tr(C)(N-K)/((N-1)K)")
    axes[0].set(xscale="log", yscale="log", xlabel="batch size K", ylabel="E|g_K - g|²", title="gradient variance")
    axes[0].legend()
    for label, runs in _by_label(results).items():
        loss = np.array([c["loss"] for c in runs])
        axes[1].plot(np.arange(1, loss.shape[1] + 1), loss.mean(0), label=label)
        axes[2].plot(np.mean([c["time"] for c in runs], 0), loss.mean(0), label=label)
    axes[1].set(xlabel="epoch", ylabel="training loss", yscale="log", title="loss vs epochs")
    axes[2].set(xlabel="wall time (s)", xscale="log", ylabel="training loss", yscale="log", title="loss vs wall time")
    axes[1].legend()
    fig.tight_layout()
    return fig
