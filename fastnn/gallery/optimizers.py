"""Optimizers on 2-d surfaces: SGD, momentum, Nesterov, AdaGrad, RMSprop, AdaDelta, Adam.

fastnn's optimizers update any flat buffer: here a 2-parameter one, so the trajectories are the real kernels'.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._layout import ParamLayout
from ..optim import SGD, Adadelta, Adagrad, Adam, RMSprop
from ._common import Verdict, fashion_or_digits, mean_range, mlp, seeds_for, spread, train

NAME = "optimizers"
TITLE = "Optimizers on 2-d surfaces, and AdaGrad's shrinking learning rate"
CLAIM = ("Momentum (plain or Nesterov) crosses an ill-conditioned valley faster than plain SGD, and so do "
         "RMSprop and Adam (the chapter: 'RMSProp and Adam do better'); AdaGrad's effective learning rate "
         "lr/sqrt(sum g^2) only shrinks.")
SETUP = ("f(x, y) = (x^2 + 25 y^2)/2 (condition number 25), the saddle x^2 - y^2 and Rosenbrock, "
         "each optimizer for 100 (quick 60) steps from a start jittered by the seed. 'Faster': a lower f on the "
         "quadratic after those steps than SGD's, in most seeds. AdaGrad and AdaDelta, which the chapter does "
         "not rank against SGD, run beside them: their f is reported, not asserted. Shown, not asserted: the "
         "training loss of a 784-128-10 ReLU network on 2000 Fashion-MNIST images (digits if missing) over 10 "
         "epochs, batch 64, SGD at its best lr of 0.01, 0.03, 0.1, 0.3, the others at their usual defaults "
         "(full mode only).")
# factories: an optimizer binds to one model
ON_DATA: dict[str, Callable[[], Any]] = {
    "momentum": lambda: SGD(lr=0.01, momentum=0.9), "Nesterov": lambda: SGD(lr=0.01, momentum=0.9, nesterov=True),
    "AdaGrad": lambda: Adagrad(lr=0.01), "RMSprop": lambda: RMSprop(lr=0.001), "AdaDelta": lambda: Adadelta(lr=1.0),
    "Adam": lambda: Adam(lr=0.001)}

RANKED = ("momentum", "Nesterov", "RMSprop", "Adam")  # the chapter's: momentum speeds up, RMSprop and Adam do better
Surface = Callable[[np.ndarray], tuple[float, np.ndarray]]


def quadratic(p: np.ndarray) -> tuple[float, np.ndarray]:
    return 0.5 * (p[0] ** 2 + 25 * p[1] ** 2), np.array([p[0], 25 * p[1]])


def saddle(p: np.ndarray) -> tuple[float, np.ndarray]:
    return p[0] ** 2 - p[1] ** 2, np.array([2 * p[0], -2 * p[1]])


def rosenbrock(p: np.ndarray) -> tuple[float, np.ndarray]:
    x, y = p
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2, np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


SURFACES: dict[str, tuple[Surface, tuple[float, float], float]] = {  # surface, start, SGD lr
    "ill-conditioned quadratic": (quadratic, (-4.0, 1.0), 0.035),
    "saddle": (saddle, (-1.0, 1e-3), 0.05),
    "Rosenbrock": (rosenbrock, (-1.5, 2.0), 1e-3)}


def optimizers(lr: float) -> dict[str, Any]:
    return {"SGD": SGD(lr=lr), "momentum": SGD(lr=lr, momentum=0.9), "Nesterov": SGD(lr=lr, momentum=0.9,
            nesterov=True), "AdaGrad": Adagrad(lr=0.5), "RMSprop": RMSprop(lr=0.05), "AdaDelta": Adadelta(lr=1.0),
            "Adam": Adam(lr=0.1)}


def trajectory(surface: Surface, start: np.ndarray, optimizer: Any, steps: int) -> dict[str, Any]:
    """Points and values of ``steps`` optimizer steps on a 2-parameter buffer, and (for AdaGrad) the
    effective lr of each coordinate, lr / (sqrt(sum of squared gradients) + eps)."""
    params = start.astype(np.float64).copy()
    optimizer.bind(ParamLayout.pack([("xy", (2,), "weight", 0)], np.float64))
    points, values, eff = [params.copy()], [surface(params)[0]], []
    for _ in range(steps):
        value, grad = surface(params)
        if not np.all(np.isfinite(grad)) or np.abs(params).max() > 1e6:
            break
        optimizer.step(params, grad)
        points.append(params.copy())
        values.append(surface(params)[0])
        if "sum" in optimizer.state:
            eff.append((0.5 / (np.sqrt(optimizer.state["sum"]) + 1e-10)).tolist())
    return {"points": np.array(points).tolist(), "values": values, "effective_lr": eff}


def on_data(seed: int) -> dict[str, list[float]]:
    """Training loss per epoch of each optimizer (SGD at its best lr of a small grid) on real images."""
    _, (X, y, _, _) = fashion_or_digits(2000, 10, seed)
    epochs = 10

    def fit(opt: Any) -> list[float]:
        return train(mlp(X.shape[1], [128], seed=seed), X, y, opt, epochs, 64, seed)[0]

    sgd = min((fit(SGD(lr=lr)) for lr in (0.01, 0.03, 0.1, 0.3)), key=lambda r: r[-1])
    return {"SGD (best lr)": sgd, **{k: fit(make()) for k, make in ON_DATA.items()}}


def run(quick: bool = True, seeds: Sequence[int] | None = None) -> dict[str, Any]:
    seeds = seeds_for(quick, seeds)
    steps = 60 if quick else 100
    out: dict[str, Any] = {"seeds": seeds, "runs": {}}
    data_runs = [] if quick else [on_data(s) for s in seeds]  # quick mode: the surfaces only
    out["data"] = {k: [r[k] for r in data_runs] for k in (data_runs[0] if data_runs else ())}
    for name, (surface, start, lr) in SURFACES.items():
        runs: dict[str, list[dict[str, Any]]] = {}
        for s in seeds:
            jitter = np.random.default_rng(s).normal(0, 0.05, 2)
            jitter[1] *= 0.01 if name == "saddle" else 1.0  # start near the saddle's stable direction
            for opt_name, opt in optimizers(lr).items():
                runs.setdefault(opt_name, []).append(trajectory(surface, np.array(start) + jitter, opt, steps))
        out["runs"][name] = runs
    return out


def numbers(results: dict[str, Any]) -> dict[str, str]:
    out = {}
    for surface, runs in results["runs"].items():
        for opt, rs in runs.items():
            out[f"{surface}: final f, {opt}"] = spread([r["values"][-1] for r in rs])
    for opt, rs in results.get("data", {}).items():
        out[f"images: final training loss, {opt}"] = spread([r[-1] for r in rs])
    return out


def verdict(results: dict[str, Any]) -> Verdict:
    quad = results["runs"]["ill-conditioned quadratic"]
    final = {k: np.array([r["values"][-1] for r in v]) for k, v in quad.items()}
    eff = [np.array(r["effective_lr"]) for r in quad["AdaGrad"]]
    shrinking = all(bool(np.all(np.diff(e, axis=0) <= 0)) for e in eff)
    below = {k: float(np.mean(final[k] < final["SGD"])) for k in final if k != "SGD"}
    held = {f"{k} crosses the valley faster than SGD": below[k] > 0.5 for k in RANKED}
    held["AdaGrad's effective lr only shrinks"] = shrinking

    def f(k: str) -> str:
        return f"{k} {mean_range(final[k])}"

    def vs_sgd(names: Sequence[str]) -> str:
        return ", ".join(f"{f(k)}, below SGD in {below[k]:.0%} of seeds" for k in names)

    return Verdict(held, (
        f"quadratic, final f, mean (seeds min..max): {f('SGD')}; {vs_sgd(RANKED)}. Not ranked by the chapter: "
        f"{vs_sgd([k for k in below if k not in RANKED])}. AdaGrad's effective lr never grows: {shrinking}."))


def plot(results: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 5 if results["data"] else 4, figsize=(22, 4.2))
    for ax, (name, (surface, _, _)) in zip(axes, SURFACES.items()):
        xs, ys = np.meshgrid(np.linspace(-4.5, 2, 150), np.linspace(-1.2, 3, 150))
        zs = np.array([[surface(np.array([x, y]))[0] for x, y in zip(rx, ry)] for rx, ry in zip(xs, ys)])
        ax.contour(xs, ys, np.log1p(zs - zs.min()), 25, cmap="Greys", linewidths=0.5)
        for opt, rs in results["runs"][name].items():
            p = np.array(rs[0]["points"])
            ax.plot(p[:, 0], p[:, 1], ".-", ms=2, label=opt)
        ax.set(title=name, xlim=(-4.5, 2), ylim=(-1.2, 3))
    axes[0].legend(fontsize=7)
    eff = np.array(results["runs"]["ill-conditioned quadratic"]["AdaGrad"][0]["effective_lr"])
    axes[3].semilogy(eff[:, 0], label="x")
    axes[3].semilogy(eff[:, 1], label="y (steep)")
    axes[3].set(xlabel="step", ylabel="lr / sqrt(sum g²)", title="AdaGrad's effective lr")
    axes[3].legend()
    for opt, rs in results["data"].items():  # only in full mode
        loss = np.array(rs, dtype=float)
        axes[4].plot(np.arange(1, loss.shape[1] + 1), loss.mean(0), "o-", label=opt)
    if results["data"]:
        axes[4].set(xlabel="epoch", ylabel="training loss (mean over seeds)", yscale="log", title="on images")
        axes[4].legend(fontsize=7)
    fig.tight_layout()
    return fig
