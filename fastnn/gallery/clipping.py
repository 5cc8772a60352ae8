"""Gradient clipping by value and by norm stopping an exploding run."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..optim import SGD
from ..optim.clip import ByGlobalNorm, ByValue
from ._common import Verdict, digits, mlp, seeds_for, spread, train

NAME = "clipping"
TITLE = "Gradient clipping stops an exploding run"
CLAIM = "Clipping the gradient by value or by its global norm keeps finite a run that explodes without it."
SETUP = ("A badly scaled regression: the digit's value (0..9) from the raw pixel counts (0..16, not 0..1) with "
         "the mean squared error, a 64-64-64-1 ReLU network, SGD lr 0.003 with momentum 0.9, batch 32, 6 epochs "
         "(quick 3): no clipping, ByValue(1), ByGlobalNorm(1). 'Trains' means finite and below var(y), the loss "
         "of predicting the mean.")
CLIPS = {"none": None, "by value 1": ByValue(1.0), "by global norm 1": ByGlobalNorm(1.0)}


def run(quick: bool = True, seeds: Sequence[int] | None = None) -> dict[str, Any]:
    seeds = seeds_for(quick, seeds)
    X, y, _, _ = digits(600)
    X = X * 16  # the raw pixel counts: gradients of the first layer ~16x larger
    target = y.astype(X.dtype)[:, None]
    epochs = 3 if quick else 6
    loss = {name: [train(mlp(64, [64, 64], n_out=1, seed=s), X, target, SGD(lr=0.003, momentum=0.9), epochs, 32, s,
                         clip=clip, loss="mse")[0] for s in seeds] for name, clip in CLIPS.items()}
    return {"seeds": seeds, "loss": loss, "baseline": float(np.var(y))}


def _final(results: dict[str, Any]) -> dict[str, np.ndarray]:
    return {name: np.array([r[-1] for r in runs]) for name, runs in results["loss"].items()}


def numbers(results: dict[str, Any]) -> dict[str, str]:
    out = {}
    for name, final in _final(results).items():
        out[f"runs that diverged, {name}"] = f"{int(np.sum(~np.isfinite(final)))}/{final.size}"
        out[f"final training loss, {name}"] = spread(final) if np.isfinite(final).all() else "inf (diverged)"
    return out


def verdict(results: dict[str, Any]) -> Verdict:
    final = _final(results)
    base = results["baseline"]
    blew_up = float(np.mean(~np.isfinite(final["none"])))
    clipped_ok = {k: float(np.mean(np.isfinite(v) & (v < base))) for k, v in final.items() if k != "none"}
    held = {"the run explodes without clipping": blew_up > 0.5}
    held.update({f"clipping {k} keeps it finite (and training)": v > 0.5 for k, v in clipped_ok.items()})
    return Verdict(held, (
        f"without clipping {blew_up:.0%} of runs diverge (inf loss); clipped runs that train (finite, below var(y) "
        f"= {base:.3g}): " + ", ".join(f"{k} {v:.0%}" for k, v in clipped_ok.items()) + "."))


def plot(results: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, runs in results["loss"].items():
        for i, r in enumerate(runs):
            r = np.array(r, dtype=float)
            r[~np.isfinite(r)] = np.nan
            ax.plot(np.arange(1, r.size + 1), r, "o-", color=f"C{list(results['loss']).index(name)}",
                    label=name if i == 0 else None)
    ax.set(xlabel="epoch", ylabel="training loss (missing: diverged)", yscale="log", title="clipping")
    ax.legend()
    fig.tight_layout()
    return fig
