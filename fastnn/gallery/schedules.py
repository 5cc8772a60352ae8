"""Learning-rate decay, warmup, cyclic / SGDR and one-cycle schedules."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..optim import SGD
from ..optim import schedules as S
from ._common import Verdict, digits, mlp, seeds_for, spread, train

NAME = "schedules"
TITLE = "Learning-rate schedules: decay, warmup, cyclic, SGDR, one-cycle"
CLAIM = ("Decaying the learning rate after a large start lets SGD settle lower than a constant large rate. "
         "NOT tested here, only run and shown: the chapter's claims that warmup steadies the start of training "
         "at a large rate, and that cyclic rates and SGDR help escape saddle points and local minima.")
SETUP = ("Digits (1000 training rows), 64-64-10 ReLU network, SGD with momentum 0.9, batch 32, peak lr 0.3, "
         "12 epochs (quick 4): the training loss with each schedule against the constant rate, lower in most seeds. "
         "Beside it, reported and not asserted: the constant rate against cosine decay at the smaller peak 0.1.")
BATCH, N, PEAK, LOW_PEAK = 32, 1000, 0.3, 0.1
LOW_PEAK_SCHEDULES = ("constant", "cosine")


def make(total: int, peak: float = PEAK) -> dict[str, S.Schedule]:
    """Each schedule over ``total`` steps, at ``peak``."""
    return {"constant": S.Constant(peak), "step": S.StepDecay(peak, total // 3, 0.3),
            "exponential": S.Exponential(peak, 0.01 ** (1 / total)),
            "inverse time": S.InverseTime(peak, 1.0, total // 10), "cosine": S.Cosine(peak, total),
            "warmup + cosine": S.Warmup(S.Cosine(peak, total), total // 10),
            "cyclic (triangular)": S.Cyclic(peak / 100, peak, total // 6),
            "SGDR": S.CosineWarmRestarts(peak, total // 4),
            "SGDR, peaks x0.5 (chapter)": S.CosineWarmRestarts(peak, total // 4, peak_decay=0.5),
            "one-cycle": S.OneCycle(peak, total)}


def run(quick: bool = True, seeds: Sequence[int] | None = None) -> dict[str, Any]:
    seeds = seeds_for(quick, seeds)
    epochs = 4 if quick else 12
    X, y, _, _ = digits(N)
    total = epochs * -(-N // BATCH)
    curves = {name: [float(sched(t)) for t in range(total)] for name, sched in make(total).items()}
    loss = {name: [train(mlp(64, [64], seed=s), X, y, SGD(lr=make(total)[name], momentum=0.9), epochs, BATCH, s)[0]
                   for s in seeds] for name in curves}
    low = {name: [train(mlp(64, [64], seed=s), X, y, SGD(lr=make(total, LOW_PEAK)[name], momentum=0.9), epochs,
                        BATCH, s)[0] for s in seeds] for name in LOW_PEAK_SCHEDULES}
    return {"seeds": seeds, "lr": curves, "loss": loss, "low_peak": low}


def numbers(results: dict[str, Any]) -> dict[str, str]:
    out = {f"final training loss, {name}": spread([r[-1] for r in runs]) for name, runs in results["loss"].items()}
    out.update({f"peak {LOW_PEAK}: final training loss, {name}": spread([r[-1] for r in runs])
                for name, runs in results["low_peak"].items()})
    return out


def verdict(results: dict[str, Any]) -> Verdict:
    final = {name: np.array([r[-1] for r in runs]) for name, runs in results["loss"].items()}
    const = final["constant"]
    decays = ("step", "exponential", "cosine", "one-cycle")
    wins = {d: float(np.mean(final[d] < const)) for d in decays}
    held = {f"the {d} schedule settles lower than the constant large rate": w > 0.5 for d, w in wins.items()}
    low = {name: np.array([r[-1] for r in runs]) for name, runs in results["low_peak"].items()}
    low_wins = float(np.mean(low["cosine"] < low["constant"]))
    return Verdict(held, f"peak {PEAK}: the constant lr ends at {const.mean():.3g}; " + ", ".join(
        f"{d} {final[d].mean():.3g} (lower in {wins[d]:.0%} of seeds)" for d in decays)
        + f". At peak {LOW_PEAK}: constant {low['constant'].mean():.3g} ({low['constant'].min():.3g}.."
        f"{low['constant'].max():.3g}), cosine {low['cosine'].mean():.3g} ({low['cosine'].min():.3g}.."
        f"{low['cosine'].max():.3g}), lower in {low_wins:.0%} of seeds: decay "
        + ("pays there too." if low_wins > 0.5 else "does NOT pay there (the constant rate settles as low).")
        + " Not tested: warmup's steadier start, cyclic rates' and SGDR's escape from saddles and local minima "
        "(their curves are shown, their final losses reported).")


def plot(results: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for name, lr in results["lr"].items():
        axes[0].plot(lr, label=name)
        loss = np.array(results["loss"][name])
        axes[1].plot(np.arange(1, loss.shape[1] + 1), loss.mean(0), "o-", label=name)
    axes[0].set(xlabel="step", ylabel="learning rate", title="schedules")
    axes[1].set(xlabel="epoch", ylabel="training loss (mean over seeds)", yscale="log", title="effect on the loss")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return fig
