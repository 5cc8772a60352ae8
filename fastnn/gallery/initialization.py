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
from ._common import Verdict, digits, first_weights, mean_range, seeds_for, spread, train

NAME = "initialization"
TITLE = "Initialization: symmetry, and variance through 10 layers"
CLAIM = ("A constant (e.g. zero) initialization keeps every hidden unit identical through training; He keeps a "
         "ReLU network's activation variance steady over depth while N(0, 0.01) makes it vanish and N(0, 1) "
         "explode; Xavier keeps a tanh network's activation variance steady (the chapter's aim of variance "
         "scaling), and not a ReLU network's.")
SETUP = ("Symmetry: digits, 64-16-10 tanh network with every weight 0.05 (and zeros), SGD 3 epochs; the spread "
         "across hidden columns of W1. Variance: 10 layers of width 256 (quick 128) drawn by fastnn.init, "
         "2 x width standard-normal inputs; per layer the variance of the activations (forward) and of the "
         "gradients (backward from a standard-normal output gradient). Xavier is Glorot's (gain 1), He is "
         "fan-in with gain sqrt(2), orthogonal takes the activation's gain (fastnn.init.calculate_gain). 'Steady': "
         "the activation variance at layer 10 over that at layer 1 within 0.5..2 (mean over the seeds: one "
         "draw per layer moves the 10-layer product by about x1.5 either way); 'vanish': below 1e-6 and "
         "'explode': above 1e6, in every seed.")
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


def verdict(results: dict[str, Any]) -> Verdict:
    identical = max(max(d) for d in results["symmetry"].values())
    he, small, large = (growth(results, "relu", sc) for sc in ("He", "N(0, 0.01)", "N(0, 1)"))
    xavier, xavier_relu = growth(results, "tanh", "Xavier"), growth(results, "relu", "Xavier")
    ortho, tanh_small = growth(results, "tanh", "orthogonal"), growth(results, "tanh", "N(0, 0.01)")

    def steady(ratio: np.ndarray) -> bool:  # the mean over seeds: see SETUP
        return bool(0.5 < ratio.mean() < 2)

    held = {"a constant initialization keeps every hidden unit identical": identical == 0.0,
            "He keeps a ReLU network's activation variance steady": steady(he),
            "N(0, 0.01) makes it vanish": bool(np.all(small < 1e-6)),
            "N(0, 1) makes it explode": bool(np.all(large > 1e6)),
            "Xavier keeps a tanh network's activation variance steady": steady(xavier),
            "Xavier does not keep a ReLU network's": not steady(xavier_relu)}
    steps = len(results["variance"]["relu"]["He"][0]["activation"]) - 1  # layer 1 -> layer 10: 9 layers' factors
    relu_factor, tanh_factor = xavier_relu.mean() ** (1 / steps), xavier.mean() ** (1 / steps)
    tanh_verdict = ("Xavier keeps the variance" if steady(xavier) else
                    "Xavier only slows the decay" if tanh_small.mean() < xavier.mean() < 0.5 else
                    "Xavier does not keep the variance")

    ratio = mean_range

    return Verdict(held, (
        f"hidden columns after training differ by at most {identical:.3g}. Activation variance, layer 10 / layer 1, "
        f"mean (seeds min..max): ReLU with He {ratio(he)}, N(0, 0.01) {ratio(small, '.2g')}, N(0, 1) "
        f"{ratio(large, '.2g')}, Xavier {ratio(xavier_relu)} (x{relu_factor:.2f} per layer). tanh with Xavier "
        f"(gain 1) {ratio(xavier)}, i.e. x{tanh_factor:.2f} per layer, against {tanh_small.mean():.1g} for "
        f"N(0, 0.01); with tanh's gain 5/3 (orthogonal) {ratio(ortho)}: {tanh_verdict}."))


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
