"""Simple regret of fastnn.tune's searchers against Optuna's TPE and GP samplers on two standard test functions.

    PYTHONPATH=$PWD python bench/bench_tune.py [--seeds 10] [--problems branin,hartmann6] [--json out.json]
    PYTHONPATH=$PWD python bench/bench_tune.py --methods bayes,tpe,gp --seeds 1 --budget-scale 0.2   # smoke

Branin (2-d, 30 evaluations, minimum 0.397887) and Hartmann-6 (6-d, 60 evaluations, minimum -3.32237);
for each seed, the simple regret = best value found - the true minimum, for fastnn's "random",
"random+refine" and "bayes" and Optuna's TPESampler ("tpe") and GPSampler ("gp", Optuna's Gaussian-process
searcher, the like of fastnn's bayes), each with its defaults and the same seeds and budgets, all in one run
(Optuna is imported here only). Prints the median (and quartiles) per method and problem as a markdown table,
bayes' ratio to random and to the best Optuna sampler of the run.
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


OPTUNA_SAMPLERS = {"tpe": ("Optuna TPE", "TPESampler"), "gp": ("Optuna GP", "GPSampler")}


def run_optuna(sampler, fn, space, n, seed):
    """Optuna's ``sampler`` ("tpe" or "gp"), its defaults, seeded."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study = optuna.create_study(sampler=getattr(optuna.samplers, OPTUNA_SAMPLERS[sampler][1])(seed=seed))
        study.optimize(lambda t: fn({k: t.suggest_float(k, d.low, d.high) for k, d in space.items()}),
                       n_trials=n)
    return study.best_value


def run_method(method, fn, space, n, seed):
    if method in OPTUNA_SAMPLERS:
        return run_optuna(method, fn, space, n, seed)
    return run_fastnn(method, fn, space, n, seed)


def label(method):
    return OPTUNA_SAMPLERS[method][0] if method in OPTUNA_SAMPLERS else f"fastnn {method}"


def readings(out, problems):
    """bayes' median regret over random's and over the best Optuna sampler's (by median), per problem."""
    lines = []
    for name in problems:
        median = {m: statistics.median(r["regrets"]) for (p, m), r in out.items() if p == name}
        if "bayes" not in median:
            continue
        if "random" in median:
            lines.append(f"{name}: median regret bayes / random = {median['bayes'] / median['random']:.3g}")
        optuna_runs = [m for m in median if m in OPTUNA_SAMPLERS]
        if optuna_runs:
            best = min(optuna_runs, key=median.get)
            lines.append(f"{name}: median regret bayes / best Optuna sampler of this run ({label(best)}) = "
                         f"{median['bayes'] / median[best]:.3g}")
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--problems", default="branin,hartmann6")
    ap.add_argument("--methods", default="random,random+refine,bayes,tpe,gp")
    ap.add_argument("--budget-scale", type=float, default=1.0,
                    help="multiply every problem's evaluation budget (a smoke run uses less; reports use 1)")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    out = {}
    for name in args.problems.split(","):
        fn, space, n, fmin = PROBLEMS[name]
        n = max(2, round(n * args.budget_scale))
        for method in args.methods.split(","):
            regrets, start = [], time.perf_counter()
            for seed in range(args.seeds):
                regrets.append(run_method(method, fn, space, n, seed) - fmin)
            out[(name, method)] = {"regrets": regrets, "seconds": time.perf_counter() - start}
            q = np.percentile(regrets, [25, 50, 75])
            print(f"{name:10s} {method:14s} median regret {q[1]:.3g} (IQR {q[0]:.3g}..{q[2]:.3g}) "
                  f"{out[(name, method)]['seconds']:.1f} s", file=sys.stderr, flush=True)
    print("| problem (evaluations) | method | median simple regret | quartiles | seconds (all seeds) |")
    print("|---|---|---|---|---|")
    for (name, method), r in out.items():
        q = np.percentile(r["regrets"], [25, 50, 75])
        budget = max(2, round(PROBLEMS[name][2] * args.budget_scale))
        print(f"| {name} ({budget}) | {label(method)} | {q[1]:.3g} | {q[0]:.3g} .. {q[2]:.3g} | "
              f"{r['seconds']:.0f} |")
    for line in readings(out, args.problems.split(",")):
        print(f"\n{line}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({f"{k[0]}/{k[1]}": v for k, v in out.items()}, f, indent=1)


if __name__ == "__main__":
    main()
