"""Initialization: symmetric init keeps hidden units identical; variance through 10 layers per scheme."""
from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from .. import init as _init
from ..layers import Dense
from ..models import Sequential
from ..optim import SGD
from ._common import digits, first_weights, seeds_for, spread, train

NAME = "initialization"
TITLE = "Initialization: symmetry, and variance through 10 layers"
CLAIM = ("A constant (e.g. zero) initialization keeps every hidden unit identical through training; He keeps a "
         "ReLU network's activation variance steady over depth while N(0, 0.01) makes it vanish and N(0, 1) "
         "explode; Xavier suits tanh (and not ReLU).")
SETUP = ("Symmetry: digits, 64-16-10 tanh network with every weight 0.05 (and zeros), SGD 3 epochs; the spread "
         "across hidden columns of W1. Variance: 10 layers of width 256 (quick 128) drawn by fastnn.init, "
         "2 x width standard-normal inputs; per layer the variance of the activations (forward) and of the "
         "gradients (backward from a standard-normal output gradient). Xavier is Glorot's (gain 1), He is "
         "fan-in with gain sqrt(2), orthogonal takes the activation's gain (fastnn.init.calculate_gain).")
SCHEMES = {"N(0, 0.01)": lambda s, rng, act: _init.normal(s, rng, std=0.01),
           "N(0, 1)": lambda s, rng, act: _init.normal(s, rng, std=1.0),
           "Xavier": lambda s, rng, act: _init.xavier_normal(s, rng),  # Glorot's: gain 1 for any activation
           "He": lambda s, rng, act: _init.he_normal(s, rng),
           "orthogonal": lambda s, rng, act: _init.orthogonal(s, rng, gain=_init.calculate_gain(act))}
# activation and its derivative
ACTS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], Any]]] = {
    "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2), "relu": (lambda z: np.maximum(z, 0), lambda z: z > 0)}


def symmetry(seed: int, value: float) -> float:
    """Largest |W1[:, i] - W1[:, 0]| after training from a constant init ``value`` (0 = identical units)."""
    X, y, _, _ = digits(300, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fastnn warns about symmetric inits: that is the point here
        constant = _init.Init("constant", value=value)  # every layer: the output layer too, or it breaks symmetry
        model = Sequential([Dense(16, activation="tanh", init=constant), Dense(10, init=constant)], input_dim=64,
                           seed=seed)
        train(model, X, y, SGD(lr=0.1), 3, 32, seed)
    W1 = first_weights(model)
    return float(np.abs(W1 - W1[:, :1]).max())


def variances(seed: int, scheme: str, act: str, depth: int = 10, width: int = 256) -> dict[str, list[float]]:
    """Per-layer variance of the activations (forward) and of the gradients wrt them (backward)."""
    rng = np.random.default_rng(seed)
    f, df = ACTS[act]
    h, pre, Ws, acts = rng.standard_normal((2 * width, width)), [], [], []
    for _ in range(depth):
        W = SCHEMES[scheme]((width, width), rng, act)
        z = h @ W
        h = f(z)
        Ws.append(W)
        pre.append(z)
        acts.append(float(h.var()))
    g, grads = rng.standard_normal(h.shape), []
    for W, z in zip(reversed(Ws), reversed(pre)):
        g = (g * df(z)) @ W.T
        grads.append(float(g.var()))
    return {"activation": acts, "gradient": grads[::-1]}


def run(quick: bool = True, seeds: Sequence[int] | None = None) -> dict[str, Any]:
    seeds = seeds_for(quick, seeds)
    sym = {str(v): [symmetry(s, v) for s in seeds] for v in (0.0, 0.05)}
    width = 128 if quick else 256
    with threadpool_limits(1):  # small matrices: a threaded BLAS only fights the other processes for the cores
        var = {act: {sc: [variances(s, sc, act, width=width) for s in seeds] for sc in SCHEMES} for act in ACTS}
    return {"seeds": seeds, "symmetry": sym, "variance": var}


def growth(results: dict[str, Any], act: str, scheme: str, kind: str = "activation") -> np.ndarray:
    """Per seed: variance at layer 10 / variance at layer 1."""
    return np.array([r[kind][-1] / r[kind][0] if kind == "activation" else r[kind][0] / r[kind][-1]
                     for r in results["variance"][act][scheme]])


def numbers(results: dict[str, Any]) -> dict[str, str]:
    out = {f"max |W1 column - column 0| after training, constant {v}": spread(d)
           for v, d in results["symmetry"].items()}
    for act in ACTS:
        for sc in SCHEMES:
            out[f"{act}, {sc}: activation variance layer 10 / layer 1"] = spread(growth(results, act, sc))
            out[f"{act}, {sc}: gradient variance layer 1 / layer 10"] = spread(growth(results, act, sc, "gradient"))
    return out


def verdict(results: dict[str, Any]) -> tuple[bool, str]:
    identical = max(max(d) for d in results["symmetry"].values())
    he, small = growth(results, "relu", "He"), growth(results, "relu", "N(0, 0.01)")
    xavier, xavier_relu = growth(results, "tanh", "Xavier"), growth(results, "relu", "Xavier")
    ortho, tanh_small = growth(results, "tanh", "orthogonal"), growth(results, "tanh", "N(0, 0.01)")
    # the mean over seeds: one 256-wide draw per layer moves a 10-layer product by ~x1.5 either way
    ok = identical == 0.0 and bool(0.5 < he.mean() < 2 and np.all(small < 1e-6))
    steps = len(results["variance"]["relu"]["He"][0]["activation"]) - 1  # layer 1 -> layer 10: 9 layers' factors
    relu_factor, tanh_factor = xavier_relu.mean() ** (1 / steps), xavier.mean() ** (1 / steps)
    # He's band above: within 0.5..2 over the 10 layers is "kept"
    tanh_verdict = ("Xavier keeps the variance" if 0.5 < xavier.mean() < 2 else
                    "Xavier only slows the decay" if tanh_small.mean() < xavier.mean() < 0.5 else
                    "Xavier does not keep the variance")
    return ok, (f"hidden columns after training differ by at most {identical:.3g}; ReLU activation variance, "
                f"layer 10 / layer 1: He {he.mean():.3g} (seeds {he.min():.3g}..{he.max():.3g}), N(0, 0.01) "
                f"{small.mean():.3g}, Xavier {xavier_relu.mean():.3g} (x{relu_factor:.2f} per layer). tanh: "
                f"Xavier (gain 1) {xavier.mean():.3g}, i.e. x{tanh_factor:.2f} per layer, against "
                f"{tanh_small.mean():.1g} for N(0, 0.01); with tanh's gain 5/3 (orthogonal) {ortho.mean():.3g}: "
                f"{tanh_verdict}.")


def plot(results: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(18, 4))
    for col, act in enumerate(ACTS):
        for kind, ax in zip(("activation", "gradient"), axes[2 * col:2 * col + 2]):
            for sc, runs in results["variance"][act].items():
                v = np.array([r[kind] for r in runs])
                ax.semilogy(np.arange(1, v.shape[1] + 1), v.mean(0), "o-", label=sc)
            ax.set(xlabel="layer", ylabel=f"{kind} variance", title=f"{act}: {kind}s")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig
