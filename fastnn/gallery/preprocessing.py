"""Preprocessing: unscaled features converge slower; min-max vs standardization vs PCA / ZCA whitening."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..layers import Dense
from ..models import Sequential
from ..optim import SGD
from ..preprocessing import ZCAWhitening
from ._common import Verdict, digits, mean_range, seeds_for, spread, train

NAME = "preprocessing"
TITLE = "Preprocessing: scaling and whitening speed up training"
CLAIM = ("Unscaled features slow gradient descent down; min-max scaling helps, standardization and PCA/ZCA "
         "whitening help more.")
SETUP = ("Digits (1000 rows), each pixel column multiplied by its own factor 10^u, u uniform in [-1.5, 1.5] "
         "(features on scales 30x apart either way); a 64-32-10 ReLU network, SGD, batch 32, the training loss "
         "after 3 epochs at the best lr of a grid (0.001, 0.003, ..., 3; quick 0.001, 0.01, 0.1, 1) for each method "
         "and seed: the same lr for all would only measure which method suits that lr. 'Helps': a lower loss "
         "than unscaled (min-max), than min-max ('helps more'), in most seeds. Beside it, reported and not "
         "asserted: the same protocol on the plain pixel counts (one scale, 0..16), unscaled and standardized.")
LRS = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
QUICK_LRS = (0.001, 0.01, 0.1, 1.0)
METHODS = {"unscaled": None, "min-max": "minmax", "standardization": "standard", "PCA whitening": "pca_whiten",
           "ZCA whitening": "zca"}
PLAIN = ("unscaled", "standardization")  # on the plain pixel counts


def data(seed: int) -> tuple[np.ndarray, np.ndarray]:
    X, y, _, _ = digits(1000, seed)
    scale = 10.0 ** np.random.default_rng(seed).uniform(-1.5, 1.5, X.shape[1])
    return (X * scale).astype(X.dtype), y


def best_run(X: np.ndarray, y: np.ndarray, preprocess: str | None, grid: Sequence[float], seed: int) -> list[float]:
    """The training-loss curve of the lr of ``grid`` whose run ends lowest."""
    runs = [train(Sequential([Dense(32, activation="relu"), Dense(10)], input_dim=64, seed=seed,
                             preprocess=preprocess), X, y, SGD(lr=lr), 3, 32, seed)[0] for lr in grid]
    return min(runs, key=lambda r: r[-1] if np.isfinite(r[-1]) else np.inf)


def run(quick: bool = True, seeds: Sequence[int] | None = None) -> dict[str, Any]:
    seeds = seeds_for(quick, seeds)
    loss: dict[str, list[list[float]]] = {name: [] for name in METHODS}
    plain: dict[str, list[list[float]]] = {name: [] for name in PLAIN}
    grid = QUICK_LRS if quick else LRS
    for s in seeds:
        X, y = data(s)
        for name, pre in METHODS.items():
            loss[name].append(best_run(X, y, pre, grid, s))
        counts, y = digits(1000, s)[:2]
        for name in PLAIN:
            plain[name].append(best_run(counts * 16, y, METHODS[name], grid, s))
    images = digits(1000, seeds[0])[0]
    zca = ZCAWhitening().fit(images).transform(images[:8])
    return {"seeds": seeds, "loss": loss, "plain": plain, "images": images[:8].tolist(),
            "zca": np.asarray(zca).tolist()}


def _final(results: dict[str, Any], key: str = "loss") -> dict[str, np.ndarray]:
    """Per method, each seed's final training loss (inf if it diverged at every lr)."""
    return {k: np.array([r[-1] if np.isfinite(r[-1]) else np.inf for r in v]) for k, v in results[key].items()}


def numbers(results: dict[str, Any]) -> dict[str, str]:
    out = {f"training loss after 3 epochs, {k}": spread(v) for k, v in _final(results).items()}
    out.update({f"plain pixel counts (0..16): training loss after 3 epochs, {k}": spread(v)
                for k, v in _final(results, "plain").items()})
    return out


def verdict(results: dict[str, Any]) -> Verdict:
    f, plain = _final(results), _final(results, "plain")

    def lower(a: str, b: str, final: dict[str, np.ndarray] = f) -> float:
        return float(np.mean(final[a] < final[b]))  # paired: the same seed's data and network

    held = {"min-max scaling helps (trains faster than the unscaled features)": lower("min-max", "unscaled") > 0.5}
    held.update({f"{k} helps more than min-max": lower(k, "min-max") > 0.5 and lower(k, "unscaled") > 0.5
                 for k in ("standardization", "PCA whitening", "ZCA whitening")})

    def loss(k: str, final: dict[str, np.ndarray] = f) -> str:
        return f"{k} {mean_range(final[k])}"

    helps_plain = lower("standardization", "unscaled", plain)
    return Verdict(held, (
        f"loss after 3 epochs at each method's best lr, mean (seeds min..max): {loss('unscaled')}; "
        f"{loss('min-max')}, below unscaled in {lower('min-max', 'unscaled'):.0%} of seeds; " + "; ".join(
            f"{loss(k)}, below min-max in {lower(k, 'min-max'):.0%} of seeds"
            for k in ("standardization", "PCA whitening", "ZCA whitening"))
        + f". On the plain pixel counts (one scale, 0..16): {loss('unscaled', plain)}, "
        f"{loss('standardization', plain)}, below unscaled in {helps_plain:.0%} of seeds: standardization "
        + ("helps there too." if helps_plain > 0.5 else "does NOT help there.")))


def plot(results: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(13, 4))
    ax = fig.add_subplot(1, 2, 1)
    for name, runs in results["loss"].items():
        loss = np.array(runs, dtype=float)
        loss[~np.isfinite(loss)] = np.nan
        ax.plot(np.arange(1, loss.shape[1] + 1), np.nanmean(loss, 0), "o-", label=name)
    ax.set(xlabel="epoch", ylabel="training loss", yscale="log", title="SGD, best lr per method")
    ax.legend()
    for i, (img, white) in enumerate(zip(results["images"][:4], results["zca"][:4])):
        for row, picture in ((0, img), (1, white)):
            sub = fig.add_subplot(2, 8, 8 * row + 5 + i)
            sub.imshow(np.reshape(picture, (8, 8)), cmap="gray")
            sub.set_axis_off()
            if i == 0:
                sub.set_title("digit" if row == 0 else "ZCA-whitened", fontsize=8)
    fig.tight_layout()
    return fig
