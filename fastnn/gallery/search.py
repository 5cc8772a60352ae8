"""Hyperparameter search: grid vs random, random + refinement, Bayesian optimization, Hyperband.

Three objectives, each as cheap as its claim allows: a two-parameter function where only one parameter matters
(grid vs random), Branin (the sample efficiency of refinement and Bayesian optimization, measured by regret:
the best value found minus the true minimum), and a small MLP on the digits (Hyperband's epochs per rung
against the validation accuracy it finds).
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..tune import Uniform, mlp_space, search, tune_model
from ._common import Verdict, digits, seeds_for, spread

NAME = "search"
TITLE = "Hyperparameter search: grid, random, refinement, Bayesian optimization, Hyperband"
CLAIM = ("With one important and one unimportant parameter, random search finds a better value than a grid of "
         "as many trials (it tries a new value of the important parameter every time); refining around the "
         "best random trials, or Bayesian optimization, reaches a lower loss than random search in the same "
         "number of trials; Hyperband finds as good a model as the full-length search of the same configurations. "
         "(That it stops most configurations after a few epochs and so trains a fraction of the full-length "
         "search's epochs is how Hyperband is built: shown, not counted as a finding.)")
SETUP = ("Grid vs random: f(x, y) = 1 - exp(-(x - x*)^2 / (2 0.1^2)) + 0.02 (y - y*)^2 on [0, 1]^2 with "
         "the optimum (x*, y*) drawn at random, 10 optima per seed; fastnn.tune.search's 3 x 3 grid (0, 0.5, 1 "
         "per axis) against 9 random trials; regret = the best f found (the minimum is 0). Refinement and "
         "Bayesian optimization: Branin on [-5, 10] x [0, 15] (3 global minima, 0.397887), 30 trials of "
         "random, random+refine (15 random, then around the best 3) and bayes (GP + expected improvement after "
         "a 5-point Latin hypercube), default options; regret of the best so far after each trial. Hyperband: "
         "fastnn.tune.tune_model on the digits (1347 training rows, the 450 held-out rows as validation), an "
         "MLP space (1-2 ReLU layers of 16-128 units, SGD with momentum or Adam, lr 1e-4..1, L2 1e-6..1e-2, "
         "batch 32 or 128), one Hyperband iteration with eta 3 and 1..27 epochs (quick: 1..9), promoted "
         "configurations continuing from their checkpoints; the same configurations trained to the full "
         "budget (fastnn.tune's random search draws them in the same order) give the full-length search and, "
         "cut to Hyperband's epochs, a random search of equal budget.")

GRID_POINTS = 3  # per axis: 9 trials, as many as the random search gets
INSTANCES = 10  # optima drawn per seed (each search takes microseconds)
WIDTH, UNIMPORTANT = 0.1, 0.02  # the important parameter's basin width; the unimportant one's weight
BRANIN_MIN = 0.397887357729739
BRANIN_MINIMA = np.array([[-math.pi, 12.275], [math.pi, 2.275], [9.42478, 2.475]])
BRANIN_SPACE = {"x": Uniform(-5.0, 10.0), "y": Uniform(0.0, 15.0)}
N_TRIALS = 30
METHODS = ("random", "random+refine", "bayes")
ETA = 3
HB_SPACE = mlp_space(depth=(1, 2), width=(16, 128), activation="relu", norm="none", dropout=0.0,
                     optimizer=["sgd", "adam"], lr=(1e-4, 1.0), l2=(1e-6, 1e-2), batch_size=[32, 128])


# -- grid vs random ------------------------------------------------------------------------------------------

def one_important(optimum: tuple[float, float]) -> Callable[[dict], float]:
    """f(x, y) = 1 - exp(-(x - x*)^2 / (2 w^2)) + c (y - y*)^2: x decides, y barely matters (c = 0.02)."""
    xs, ys = optimum
    return lambda p: float(1 - math.exp(-(p["x"] - xs) ** 2 / (2 * WIDTH ** 2)) + UNIMPORTANT * (p["y"] - ys) ** 2)


def grid_vs_random(seed: int, instance: int) -> dict[str, Any]:
    """Instance ``instance`` of ``seed``: an optimum drawn at random, the grid, and a random search."""
    xs, ys = np.random.default_rng([seed, instance, 99]).random(2)  # not a search's stream
    f, space = one_important((float(xs), float(ys))), {"x": Uniform(0.0, 1.0), "y": Uniform(0.0, 1.0)}
    out: dict[str, Any] = {"optimum": (float(xs), float(ys))}
    searches = {"grid": search(f, space, method="grid", grid_points=GRID_POINTS),
                "random": search(f, space, method="random", n_trials=GRID_POINTS ** 2,
                                 seed=seed * INSTANCES + instance)}
    for name, result in searches.items():
        out[name] = {"points": [(t.params["x"], t.params["y"]) for t in result.trials],
                     "best": (result.best_params["x"], result.best_params["y"]), "regret": result.best_score}
    return out


# -- refinement and Bayesian optimization on Branin ---------------------------------------------------------

def branin(p: dict) -> float:
    """Branin-Hoo: (y - 5.1 x^2 / (4 pi^2) + 5 x / pi - 6)^2 + 10 (1 - 1 / (8 pi)) cos x + 10."""
    x, y = p["x"], p["y"]
    return float((y - 5.1 * x ** 2 / (4 * math.pi ** 2) + 5 * x / math.pi - 6) ** 2
                 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x) + 10)


def sample_efficiency(seed: int) -> dict[str, Any]:
    """Per method: the trial points and the regret of the best so far after each trial."""
    out = {}
    for method in METHODS:
        trials = search(branin, BRANIN_SPACE, method=method, n_trials=N_TRIALS, seed=seed).trials
        values = np.array([t.score for t in trials])
        out[method] = {"points": [(t.params["x"], t.params["y"]) for t in trials],
                       "regret": (np.minimum.accumulate(values) - BRANIN_MIN).tolist()}
    return out


def distance_to_minima(points: Sequence[tuple[float, float]]) -> np.ndarray:
    """Each point's distance to the nearest of Branin's minima, in units of the domain's side (15)."""
    p = np.asarray(points, np.float64)[:, None, :]
    return np.sqrt(((p - BRANIN_MINIMA[None]) ** 2).sum(-1)).min(1) / 15.0


# -- Hyperband on an MLP -------------------------------------------------------------------------------------

def epochs_per_trial(trials: Sequence[Any]) -> list[int]:
    """Each trial's new epochs: its budget minus what its configuration trained before (promoted
    configurations continue from their checkpoints). Failed trials count in full: they ran."""
    trained: dict[Any, int] = {}
    out = []
    for t in sorted(trials, key=lambda t: (t.budget, t.number)):
        out.append((t.number, int(t.budget) - trained.get(t.config, 0)))
        trained[t.config] = int(t.budget)
    return [e for _, e in sorted(out)]


def hyperband(seed: int, max_epochs: int) -> dict[str, Any]:
    X, y, Xv, yv = digits(seed=seed)
    s_max = round(math.log(max_epochs, ETA))
    n_configs = sum(math.ceil((s_max + 1) / (s + 1) * ETA ** s) for s in range(s_max + 1))  # one iteration
    common = {"max_epochs": max_epochs, "seed": seed, "refit": False, "n_trials": n_configs}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a diverging configuration is a failed trial, not news
        hb = tune_model(HB_SPACE, X, y, (Xv, yv), method="hyperband", eta=ETA, **common)
        full = tune_model(HB_SPACE, X, y, (Xv, yv), method="random", **common)
    trials = [{"config": t.config, "budget": int(t.budget), "score": t.score} for t in hb.trials]
    full_scores = [t.score for t in full.trials]
    assert all(hb_t.params == full.trials[hb_t.config].params for hb_t in hb.trials), "same configurations"
    return {"max_epochs": max_epochs, "trials": trials, "epochs": epochs_per_trial(hb.trials),
            "full": full_scores, "hb_best": hb.best_score, "hb_seconds": hb.seconds, "full_seconds": full.seconds}


def best_of(scores: Sequence[float | None]) -> float:
    """The best validation accuracy among ``scores`` (failed trials: None)."""
    return max((s for s in scores if s is not None), default=0.0)


def hyperband_summary(r: dict[str, Any]) -> dict[str, float]:
    """Epochs and best accuracy of Hyperband, of the full-length search of the same configurations, and of
    the random search that Hyperband's epochs pay for (its first k configurations at the full budget)."""
    hb_epochs, full_epochs = sum(r["epochs"]), r["max_epochs"] * len(r["full"])
    k = hb_epochs // r["max_epochs"]
    first = [t for t in r["trials"] if t["budget"] == 1]  # the largest bracket's first rung: 1 epoch each
    return {"hb_epochs": hb_epochs, "full_epochs": full_epochs, "hb_best": r["hb_best"],
            "full_best": best_of(r["full"]), "equal_budget_best": best_of(r["full"][:k]), "equal_budget_k": k,
            "rank_correlation": spearman([t["score"] for t in first], [r["full"][t["config"]] for t in first])}


def spearman(a: Sequence[float | None], b: Sequence[float | None]) -> float:
    """Spearman's rank correlation over the pairs where both are known (ties share their mean rank)."""
    pairs = np.array([(u, v) for u, v in zip(a, b) if u is not None and v is not None], np.float64)
    if len(pairs) < 3:
        return math.nan
    ra, rb = (_ranks(pairs[:, j]) for j in (0, 1))
    return float(np.corrcoef(ra, rb)[0, 1])


def _ranks(a: np.ndarray) -> np.ndarray:
    rank = np.empty(len(a))
    rank[np.argsort(a, kind="stable")] = np.arange(len(a))
    _, inverse = np.unique(a, return_inverse=True)
    return (np.bincount(inverse, rank) / np.bincount(inverse))[inverse]


def accuracy_se(accuracy: float, n: int = 450) -> float:
    """The binomial standard error of an accuracy measured on n validation rows."""
    return math.sqrt(accuracy * (1 - accuracy) / n)


# -- the experiment ------------------------------------------------------------------------------------------

def run(quick: bool = True, seeds: Sequence[int] | None = None) -> dict[str, Any]:
    seeds = seeds_for(quick, seeds)
    max_epochs = 9 if quick else 27
    return {"seeds": seeds, "grid_random": [[grid_vs_random(s, i) for i in range(INSTANCES)] for s in seeds],
            "branin": [sample_efficiency(s) for s in seeds],
            "hyperband": [hyperband(s, max_epochs) for s in seeds]}


def regrets(results: dict[str, Any], method: str) -> np.ndarray:
    """(seeds, trials): Branin regret of the best so far."""
    return np.array([r[method]["regret"] for r in results["branin"]])


def grid_and_random(results: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(seeds, instances): the regret of the grid and of random search."""
    return tuple(np.array([[r[m]["regret"] for r in rows] for rows in results["grid_random"]])
                 for m in ("grid", "random"))  # type: ignore[return-value]


def summaries(results: dict[str, Any]) -> dict[str, np.ndarray]:
    rows = [hyperband_summary(r) for r in results["hyperband"]]
    return {k: np.array([row[k] for row in rows], np.float64) for k in rows[0]}


def choices_distance(results: dict[str, Any], method: str) -> tuple[np.ndarray, np.ndarray]:
    """Per seed, the median distance to the nearest minimum of the first and of the last third of the trials."""
    third = N_TRIALS // 3
    d = np.array([distance_to_minima(r[method]["points"]) for r in results["branin"]])
    return np.median(d[:, :third], 1), np.median(d[:, -third:], 1)


def numbers(results: dict[str, Any]) -> dict[str, str]:
    grid, rand = grid_and_random(results)
    out = {"grid (3 x 3): median regret per seed": spread(np.median(grid, 1)),
           "random (9 trials): median regret per seed": spread(np.median(rand, 1)),
           "random beats grid: fraction of the optima, per seed": spread(np.mean(rand < grid, 1))}
    for method in METHODS:
        out[f"Branin, {method}: regret after {N_TRIALS} trials"] = spread(regrets(results, method)[:, -1])
    for method in METHODS[1:]:
        out[f"Branin, {method} below random after {N_TRIALS} trials: fraction of seeds"] = \
            f"{np.mean(regrets(results, method)[:, -1] < regrets(results, 'random')[:, -1]):.2f}"
    for method in ("random", "bayes"):
        early, late = choices_distance(results, method)
        out[f"Branin, {method}: median distance of trials to a minimum, first vs last third"] = \
            f"{spread(early)} vs {spread(late)}"
    s = summaries(results)
    e = int(results["hyperband"][0]["max_epochs"])
    out.update({"Hyperband: epochs": spread(s["hb_epochs"]), f"full-length search ({e} epochs each): epochs":
                spread(s["full_epochs"]), "Hyperband: best validation accuracy": spread(s["hb_best"]),
                "full-length search: best validation accuracy": spread(s["full_best"]),
                "random search with Hyperband's epochs: best validation accuracy": spread(s["equal_budget_best"]),
                "rank correlation, 1-epoch vs full-length accuracy (largest bracket)": spread(s["rank_correlation"])})
    return out


def verdict(results: dict[str, Any]) -> Verdict:
    grid, rand = grid_and_random(results)
    final = {m: regrets(results, m)[:, -1] for m in METHODS}
    med = {m: float(np.median(v)) for m, v in final.items()}
    early, late = choices_distance(results, "bayes")
    s = summaries(results)
    se = np.array([accuracy_se(a) for a in s["full_best"]])
    reached, within = s["hb_best"] >= s["full_best"], s["hb_best"] >= s["full_best"] - se
    held = {"random search finds a better value than a grid of as many trials":
            bool(np.all(np.mean(rand < grid, 1) > 0.5)),
            "refining around the best random trials reaches a lower loss than random search":
            med["random+refine"] < med["random"],
            "Bayesian optimization reaches a lower loss than random search": med["bayes"] < med["random"],
            "Hyperband finds as good a model (within one standard error)": bool(np.all(within))}
    return Verdict(held, (
        f"random search beats the 3 x 3 grid on {np.mean(rand < grid):.0%} of {rand.size} optima, in every "
        f"seed on at least {np.mean(rand < grid, 1).min():.0%} (median regret "
        f"{np.median(rand):.3g} vs {np.median(grid):.3g}: 9 values of the important parameter against 3). "
        f"Branin after {N_TRIALS} trials, median regret: random {med['random']:.3g}, random+refine "
        f"{med['random+refine']:.3g}, bayes {med['bayes']:.3g}; Bayesian optimization's trials "
        + ("close in on" if np.median(late) < np.median(early) else "do NOT close in on")
        + f" the minima (median distance {np.median(early):.3f} in the first third, {np.median(late):.3f} "
        f"in the last). Hyperband (which trains {np.mean(s['hb_epochs'] / s['full_epochs']):.2f} of the "
        f"full-length search's epochs by construction, not a finding) reaches its best accuracy in "
        f"{int(reached.sum())}/{len(reached)} "
        f"seeds, within one standard error in {int(within.sum())}/{len(within)} (mean "
        f"{s['hb_best'].mean():.4f} vs {s['full_best'].mean():.4f}); a random search of Hyperband's epochs "
        f"({int(s['equal_budget_k'].mean())} full-length trials) reaches {s['equal_budget_best'].mean():.4f}. "
        f"The first rung's 1-epoch accuracy ranks configurations with Spearman "
        f"{np.nanmean(s['rank_correlation']):.2f} against their full-length accuracy."))


# -- the figure ----------------------------------------------------------------------------------------------

def plot(results: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(17, 10))
    _plot_grid_vs_random(axes[0, 0], results["grid_random"][0][0])
    _plot_choices(axes[0, 1], results["branin"][0])
    _plot_regret(axes[0, 2], results)
    _plot_rungs(axes[1, 0], results["hyperband"][0])
    _plot_budget_per_rung(axes[1, 1], results)
    _plot_accuracy_vs_epochs(axes[1, 2], results)
    fig.tight_layout()
    return fig


def _plot_grid_vs_random(ax: Any, r: dict[str, Any]) -> None:
    u = np.linspace(0, 1, 200)
    xx, yy = np.meshgrid(u, u)
    f = one_important(r["optimum"])
    zz = np.vectorize(lambda a, b: f({"x": a, "y": b}))(xx, yy)
    ax.contourf(xx, yy, zz, levels=20, cmap="viridis", alpha=0.5)
    for name, marker, color in (("grid", "s", "tab:blue"), ("random", "o", "tab:orange")):
        pts = np.array(r[name]["points"])
        ax.scatter(pts[:, 0], pts[:, 1], marker=marker, color=color, s=40,
                   label=f"{name} (regret {r[name]['regret']:.3f})")
        ax.scatter(*r[name]["best"], marker="*", s=300, color=color, edgecolor="k")
        ax.plot(pts[:, 0], np.full(len(pts), -0.06), "|", color=color, ms=12)  # x values tried
    ax.axvline(r["optimum"][0], color="tab:red", ls=":", label="optimal x (y barely matters)")
    ax.set(xlabel="x (important)", ylabel="y (unimportant)", title="grid vs random, 9 trials (seed 0; * = best)",
           xlim=(-0.02, 1.02), ylim=(-0.09, 1.02))
    ax.legend(fontsize=7, loc="upper right")


def _plot_choices(ax: Any, r: dict[str, Any]) -> None:
    lo, hi = (-5.0, 0.0), (10.0, 15.0)
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], 200), np.linspace(lo[1], hi[1], 200))
    zz = np.vectorize(lambda a, b: branin({"x": a, "y": b}))(xx, yy)
    ax.contour(xx, yy, np.log(zz), levels=15, colors="0.6", linewidths=0.6)
    pts = np.array(r["bayes"]["points"])
    sc = ax.scatter(pts[:, 0], pts[:, 1], c=np.arange(len(pts)), cmap="viridis", s=30, zorder=3)
    ax.plot(*BRANIN_MINIMA.T, "r*", ms=12, label="global minima")
    ax.figure.colorbar(sc, ax=ax, label="trial")
    ax.set(xlabel="x", ylabel="y", title="Bayesian optimization's choices on Branin (seed 0)")
    ax.legend(fontsize=7)


def _plot_regret(ax: Any, results: dict[str, Any]) -> None:
    trials = np.arange(1, N_TRIALS + 1)
    for method in METHODS:
        v = regrets(results, method)
        ax.plot(trials, np.median(v, 0), label=f"{method} (median)")
        ax.fill_between(trials, v.min(0), v.max(0), alpha=0.2)
    ax.set(yscale="log", xlabel="trials", ylabel="regret of the best so far",
           title=f"Branin: best so far (band: min..max over {len(results['seeds'])} seeds)")
    ax.legend(fontsize=8)


def _plot_rungs(ax: Any, r: dict[str, Any]) -> None:
    import matplotlib.pyplot as plt

    by_config: dict[int, list[tuple[int, float]]] = {}
    for t in r["trials"]:
        if t["score"] is not None:
            by_config.setdefault(t["config"], []).append((t["budget"], t["score"]))
    starts = sorted({min(b for b, _ in v) for v in by_config.values()})
    colors = {start: plt.get_cmap("tab10")(i) for i, start in enumerate(starts)}
    for v in by_config.values():
        b, s = zip(*sorted(v))
        ax.plot(b, s, "o-", color=colors[b[0]], ms=3, lw=0.8, alpha=0.7)
    for start in starts:
        ax.plot([], [], "o-", color=colors[start], label=f"bracket starting at {start} epoch(s)")
    ax.set(xscale="log", xlabel="epochs (rung budget)", ylabel="validation accuracy",
           title="Hyperband: each configuration through the rungs (seed 0)", ylim=(0, 1))
    ax.legend(fontsize=7, loc="lower right")


def _plot_budget_per_rung(ax: Any, results: dict[str, Any]) -> None:
    budgets = sorted({t["budget"] for t in results["hyperband"][0]["trials"]})
    spent = np.array([[sum(e for t, e in zip(r["trials"], r["epochs"]) if t["budget"] == b) for b in budgets]
                      for r in results["hyperband"]])
    best = np.array([[best_of([t["score"] for t in r["trials"] if t["budget"] == b]) for b in budgets]
                     for r in results["hyperband"]])
    pos = np.arange(len(budgets))
    ax.bar(pos, spent.mean(0), yerr=spent.std(0), color="tab:blue", alpha=0.7, label="epochs trained at the rung")
    ax.set(xticks=pos, xticklabels=[str(b) for b in budgets], xlabel="rung budget (epochs)",
           ylabel="epochs trained (mean over seeds)", title="Hyperband: budget per rung against the result")
    twin = ax.twinx()
    twin.errorbar(pos, best.mean(0), yerr=best.std(0), color="tab:red", marker="o", label="best accuracy at the rung")
    twin.set_ylabel("best validation accuracy at the rung")
    lines = ax.get_legend_handles_labels(), twin.get_legend_handles_labels()
    ax.legend(lines[0][0] + lines[1][0], lines[0][1] + lines[1][1], fontsize=7, loc="upper left")


def _plot_accuracy_vs_epochs(ax: Any, results: dict[str, Any]) -> None:
    e = results["hyperband"][0]["max_epochs"]
    curves = np.array([np.maximum.accumulate([s if s is not None else 0.0 for s in r["full"]])
                       for r in results["hyperband"]])
    epochs = e * np.arange(1, curves.shape[1] + 1)
    ax.plot(epochs, curves.mean(0), color="tab:gray", label=f"random search, {e} epochs per trial (mean)")
    ax.fill_between(epochs, curves.min(0), curves.max(0), color="tab:gray", alpha=0.2)
    s = summaries(results)
    ax.scatter(s["hb_epochs"], s["hb_best"], color="tab:red", zorder=3, label="Hyperband (one point per seed)")
    ax.set(xscale="log", xlabel="epochs trained", ylabel="best validation accuracy so far",
           title="the result against the epochs spent")
    lo = float(min(curves[:, -1].min(), s["hb_best"].min()))
    ax.set_ylim(lo - 0.05, 1.0)
    ax.legend(fontsize=8, loc="lower right")
