"""Simple regret of fastnn.tune's searchers against Optuna's TPE on two standard test functions.

    PYTHONPATH=$PWD python bench/bench_tune.py [--seeds 10] [--problems branin,hartmann6] [--json out.json]

Branin (2-d, 30 evaluations, minimum 0.397887) and Hartmann-6 (6-d, 60 evaluations, minimum -3.32237);
for each seed, the simple regret = best value found - the true minimum, for fastnn's "random",
"random+refine" and "bayes" and Optuna's TPESampler (its defaults, seeded; Optuna is imported here only).
Prints the median (and quartiles) per method and problem as a markdown table, and bayes' ratio to random.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time

import numpy as np

from fastnn.tune import Uniform, search

BRANIN_MIN = 0.397887357729739
HARTMANN6_MIN = -3.322368011415515
H6_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8],
                 [17, 8, 0.05, 10, 0.1, 14]])
H6_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                        [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def branin(p):
    x1, x2 = p["x1"], p["x2"]
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def hartmann6(p):
    x = np.array([p[f"x{i}"] for i in range(6)])
    return float(-H6_ALPHA @ np.exp(-(H6_A * (x - H6_P) ** 2).sum(1)))


PROBLEMS = {
    "branin": (branin, {"x1": Uniform(-5.0, 10.0), "x2": Uniform(0.0, 15.0)}, 30, BRANIN_MIN),
    "hartmann6": (hartmann6, {f"x{i}": Uniform(0.0, 1.0) for i in range(6)}, 60, HARTMANN6_MIN),
}


def run_fastnn(method, fn, space, n, seed):
    return search(fn, space, method=method, n_trials=n, seed=seed).best_score


def run_tpe(fn, space, n, seed):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(lambda t: fn({k: t.suggest_float(k, d.low, d.high) for k, d in space.items()}), n_trials=n)
    return study.best_value


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--problems", default="branin,hartmann6")
    ap.add_argument("--methods", default="random,random+refine,bayes,tpe")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    out = {}
    for name in args.problems.split(","):
        fn, space, n, fmin = PROBLEMS[name]
        for method in args.methods.split(","):
            regrets, start = [], time.perf_counter()
            for seed in range(args.seeds):
                best = run_tpe(fn, space, n, seed) if method == "tpe" else run_fastnn(method, fn, space, n, seed)
                regrets.append(best - fmin)
            out[(name, method)] = {"regrets": regrets, "seconds": time.perf_counter() - start}
            q = np.percentile(regrets, [25, 50, 75])
            print(f"{name:10s} {method:14s} median regret {q[1]:.3g} (IQR {q[0]:.3g}..{q[2]:.3g}) "
                  f"{out[(name, method)]['seconds']:.1f} s", file=sys.stderr, flush=True)
    print("| problem (evaluations) | method | median simple regret | quartiles | seconds (all seeds) |")
    print("|---|---|---|---|---|")
    for (name, method), r in out.items():
        q = np.percentile(r["regrets"], [25, 50, 75])
        label = "Optuna TPE" if method == "tpe" else f"fastnn {method}"
        print(f"| {name} ({PROBLEMS[name][2]}) | {label} | {q[1]:.3g} | {q[0]:.3g} .. {q[2]:.3g} | "
              f"{r['seconds']:.0f} |")
    for name in args.problems.split(","):
        if (name, "bayes") in out and (name, "random") in out:
            median = {m: statistics.median(out[(name, m)]["regrets"]) for m in ("bayes", "random")}
            ratio = median["bayes"] / median["random"]
            print(f"\n{name}: median regret bayes / random = {ratio:.3g}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({f"{k[0]}/{k[1]}": v for k, v in out.items()}, f, indent=1)


if __name__ == "__main__":
    main()
