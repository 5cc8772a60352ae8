"""Issue 13's acceptance for tuning an MLP: Hyperband (and BOHB) vs random search with full-length trials on
Fashion-MNIST.

    PYTHONPATH=$PWD python bench/tune_mlp.py [--train 6000] [--val 2000] [--max-epochs 27] [--seeds 0 1 2]
    PYTHONPATH=$PWD python bench/tune_mlp.py --smoke      # a 1-minute run that checks the script works
    PYTHONPATH=$PWD python bench/tune_mlp.py --heldout --seeds 0 1 2   # also score each pick on the test set

The six hyperparameters of the issue: lr (log), batch size, depth, width per layer (log), dropout, l2 (log); the
optimizer is Adam, the activation ReLU, no normalization. The data are a SUBSET so it runs in minutes: ``--train``
rows of the Fashion-MNIST training set (a stratified draw) for training and ``--val`` other rows for validation;
the test set is not touched.

Per seed: Hyperband (min 1, max ``--max-epochs`` epochs, eta 3; promoted configurations continue from their
checkpoints) starts ``--hyperband-configs`` configurations (49: one full iteration, brackets of 27, 12, 6, 4);
its epochs actually trained E are counted. BOHB (``method="bohb"``, fastnn/tune/searchers/bohb.py) runs the same
brackets, so the same epochs, but a GP fitted on the largest budget with enough results proposes two thirds of
each bracket's new configurations. Then random search trains ceil(3 E / max_epochs) configurations for
max_epochs each (E: the larger of the two), i.e. at least 3 times each variant's epochs. The claim holds for a
seed when a variant's best validation accuracy reaches random search's (>=); it is also reported within one
standard error of an accuracy on the validation set (sqrt(p (1 - p) / n_val)). Printed per seed: every search's
best accuracy, total epochs, wall time, each variant's epochs ratio and whether it reaches random search's best;
then a table over the seeds; ``--json`` writes them. The trials' configurations and scores are deterministic
(for a thread count); the wall times are not.

``--heldout``: is a search's shortfall on validation accuracy selection noise (random search's best is the
maximum of many noisy validation estimates, so it is biased upwards)? Each search's chosen configuration at
``--max-epochs`` epochs is scored on data no search saw, the 10000 rows of the Fashion-MNIST TEST set. The model
is tune_model's refit (``refit=True``): it continues the search's own checkpoint of that configuration, so when
the pick already reached max_epochs in the search it is the search's trained model itself (0 more epochs), and a
pick chosen at a smaller budget trains on to max_epochs (bitwise what training it from scratch with the seed
gives; the refit epochs are not counted in the search's epochs). Printed per seed and over seeds: each
variant's test accuracy minus random search's (paired: same test rows), its standard error from the rows the two
models disagree on, and the seeds where the variant's pick is at least as good on the test set.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np

import fastnn as fnn
from fastnn.datasets import load_fashion_mnist, stratified_split
from fastnn.tune import mlp_space, tune_model


def data(n_train: int, n_val: int, seed: int):
    X, y, _, _ = load_fashion_mnist()
    rest, train = stratified_split(y, n_train / len(y), seed)
    _, val = stratified_split(y[rest], n_val / len(rest), seed + 1)
    val = rest[val]
    return X[train], y[train], X[val], y[val]


def space():
    return mlp_space(depth=(1, 3), width=(32, 256), activation="relu", norm="none", dropout=(0.0, 0.5),
                     optimizer="adam", lr=(1e-4, 1e-2), l2=(1e-7, 1e-3), batch_size=[32, 64, 128, 256])


def heldout_data():
    """The Fashion-MNIST test set (X_test, y_test): no search sees it."""
    _, _, Xt, yt = load_fashion_mnist()
    return Xt, yt


def one_seed(seed: int, args, test=None) -> dict:
    """One seed's searches; ``test`` (X_test, y_test) also scores each search's refitted pick on it."""
    X, y, Xv, yv = data(args.train, args.val, seed)
    row: dict = {"seed": seed}
    correct: dict = {}  # per search: which test rows its pick classifies correctly
    for method in args.variants:  # Hyperband's brackets; "bohb": with model-proposed new configurations
        t0 = time.perf_counter()
        r = tune_model(space(), X, y, validation_data=(Xv, yv), method=method, max_epochs=args.max_epochs,
                       n_trials=args.hyperband_configs, seed=seed, refit=test is not None)
        row[method] = summary(r, time.perf_counter() - t0)
        row[method]["configurations"] = len({t.config for t in r.trials})
        if test is not None:
            correct[method] = heldout(r, row[method], Xv, yv, test, args.max_epochs)
    budget = max(row[m]["epochs"] for m in args.variants)  # random search gets 3x the larger of them
    n_random = math.ceil(3 * budget / args.max_epochs)
    t0 = time.perf_counter()
    rs = tune_model(space(), X, y, validation_data=(Xv, yv), method="random", max_epochs=args.max_epochs,
                    n_trials=n_random, seed=seed, refit=test is not None)
    row["random"] = summary(rs, time.perf_counter() - t0)
    if test is not None:
        correct["random"] = heldout(rs, row["random"], Xv, yv, test, args.max_epochs)
        for method in args.variants:
            row[method].update(paired(correct[method], correct["random"]))
    se = math.sqrt(rs.best_score * (1 - rs.best_score) / len(yv))
    row["random"]["standard_error"] = se
    line = [f"seed {seed}: random {rs.best_score:.4f} in {rs.epochs_trained} epochs ({len(rs.trials)} trials, "
            f"{row['random']['seconds']:.0f} s; 1 s.e. {se:.4f})"]
    for method in args.variants:
        v = row[method]
        v["epochs_ratio"] = v["epochs"] / rs.epochs_trained
        v["reaches"] = v["best_val_accuracy"] >= rs.best_score
        v["within_one_se"] = v["best_val_accuracy"] >= rs.best_score - se
        line.append(f"{method} {v['best_val_accuracy']:.4f} in {v['epochs']} epochs ({v['trials']} trials, "
                    f"{v['seconds']:.0f} s): ratio {v['epochs_ratio']:.3f}, reaches {v['reaches']} "
                    f"(within 1 s.e. {v['within_one_se']})")
    print(" | ".join(line), flush=True)
    if test is not None:
        print(f"seed {seed} held-out: " + " | ".join(
            f"{m} pick (val {row[m]['best_val_accuracy']:.4f} at {row[m]['best_budget']} epochs, "
            f"{row[m]['pick_val_accuracy']:.4f} at {args.max_epochs}) test {row[m]['test_accuracy']:.4f}"
            + (f", minus random's {row[m]['test_minus_random']:+.4f} (s.e. {row[m]['paired_se']:.4f})"
               if m != "random" else "") for m in ["random", *args.variants]), flush=True)
    return row


def heldout(result, record: dict, Xv, yv, test, max_epochs: int) -> np.ndarray:
    """Score ``result``'s refitted pick on the test set into ``record``; returns its per-row correctness."""
    model = result.model
    Xt, yt = test
    budget = result.search.best_trial.budget  # None: a full-length trial
    record["best_budget"] = max_epochs if budget is None else int(budget)
    record["pick_val_accuracy"] = float(np.mean(model.predict_classes(Xv) == yv))
    correct = model.predict_classes(Xt) == yt
    record["test_accuracy"] = float(correct.mean())
    return correct


def paired(a: np.ndarray, b: np.ndarray) -> dict:
    """Test accuracy of a minus that of b on the same rows, and its standard error: the mean of d_i = a_i - b_i
    (each in {-1, 0, 1}) has s.e. sqrt((mean(d^2) - mean(d)^2) / n), which only the rows they disagree on feed."""
    d = a.astype(np.float64) - b.astype(np.float64)
    return {"test_minus_random": float(d.mean()), "paired_se": float(np.sqrt((np.mean(d * d) - d.mean() ** 2)
                                                                              / len(d))),
            "same_test_predictions": bool(np.array_equal(a, b))}


def summary(result, seconds: float) -> dict:
    return {"best_val_accuracy": result.best_score, "epochs": result.epochs_trained, "trials": len(result.trials),
            "seconds": seconds, "best_params": result.best_params}


def report(rows: list[dict], variants: list[str]) -> None:
    """The per-seed table and, per variant, the seeds where it reaches random search's best."""
    print("\n| seed | random best (epochs) | " + " | ".join(f"{m} best (epochs, ratio)" for m in variants)
          + " | " + " | ".join(f"{m} reaches" for m in variants) + " |")
    print("|" + " --- |" * (2 + 2 * len(variants)))
    for r in rows:
        cells = [f"{r['seed']}", f"{r['random']['best_val_accuracy']:.4f} ({r['random']['epochs']})"]
        cells += [f"{r[m]['best_val_accuracy']:.4f} ({r[m]['epochs']}, {r[m]['epochs_ratio']:.3f})" for m in variants]
        gaps = [r[m]["best_val_accuracy"] - r["random"]["best_val_accuracy"] for m in variants]
        cells += ["yes" if r[m]["reaches"] else f"no ({gap:+.4f})" for m, gap in zip(variants, gaps)]
        print("| " + " | ".join(cells) + " |")
    for m in variants:
        gaps = [r[m]["best_val_accuracy"] - r["random"]["best_val_accuracy"] for r in rows]
        print(f"{m} reaches random search's best on {sum(r[m]['reaches'] for r in rows)}/{len(rows)} seeds "
              f"(within one s.e. on {sum(r[m]['within_one_se'] for r in rows)}); accuracy minus random's: mean "
              f"{sum(gaps) / len(gaps):+.4f}, worst {min(gaps):+.4f}; epoch ratios "
              f"{sorted({round(r[m]['epochs_ratio'], 3) for r in rows})}")


def report_heldout(rows: list[dict], variants: list[str]) -> None:
    """Per seed: each search's validation best and its pick's test accuracy; per variant, the paired test
    difference to random search over the seeds."""
    searches = ["random", *variants]
    print("\n| seed | " + " | ".join(f"{m} val best (budget) / test" for m in searches) + " | "
          + " | ".join(f"{m} - random, test (s.e.)" for m in variants) + " |")
    print("|" + " --- |" * (1 + len(searches) + len(variants)))
    for r in rows:
        cells = [f"{r['seed']}"]
        cells += [f"{r[m]['best_val_accuracy']:.4f} ({r[m]['best_budget']}) / {r[m]['test_accuracy']:.4f}"
                  for m in searches]
        cells += [f"{r[m]['test_minus_random']:+.4f} ({r[m]['paired_se']:.4f})" for m in variants]
        print("| " + " | ".join(cells) + " |")
    for m in variants:
        d = np.array([r[m]["test_minus_random"] for r in rows])
        v = np.array([r[m]["best_val_accuracy"] - r["random"]["best_val_accuracy"] for r in rows])
        spread = f"sd {d.std(ddof=1):.4f}, s.e. of the mean {d.std(ddof=1) / np.sqrt(len(d)):.4f}, " if len(d) > 1 \
            else ""
        print(f"{m} vs random on the test set over {len(d)} seeds: mean {d.mean():+.4f} ({spread}min "
              f"{d.min():+.4f}, max {d.max():+.4f}); at least as good in {int(np.sum(d >= 0))}/{len(d)} "
              f"(same predictions in {sum(r[m]['same_test_predictions'] for r in rows)}); on validation the "
              f"mean was {v.mean():+.4f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=int, default=6000)
    parser.add_argument("--val", type=int, default=2000)
    parser.add_argument("--max-epochs", type=int, default=27)
    parser.add_argument("--hyperband-configs", type=int, default=49,
                        help="configurations Hyperband starts (49: one full Hyperband iteration at 27 / eta 3)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--variants", nargs="+", default=["hyperband", "bohb"], choices=["hyperband", "bohb"],
                        help="the budgeted searches set against random search")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default=None, help="write the results to this file")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks that the script runs")
    parser.add_argument("--heldout", action="store_true",
                        help="score each search's pick, trained max_epochs, on the Fashion-MNIST test set")
    args = parser.parse_args(argv)
    if args.smoke:
        args.train, args.val, args.max_epochs, args.hyperband_configs = 600, 300, 3, 6
    if args.threads:
        fnn.set_num_threads(args.threads)
    env = {k: v for k, v in os.environ.items() if k.startswith(("OMP_", "GOMP_", "OPENBLAS_"))}
    print(f"Fashion-MNIST subset: {args.train} training rows, {args.val} validation rows; max_epochs "
          f"{args.max_epochs}; threads {fnn.get_num_threads()}; env {env}", flush=True)
    test = heldout_data() if args.heldout else None
    rows = [one_seed(seed, args, test) for seed in args.seeds]
    report(rows, args.variants)
    if args.heldout:
        report_heldout(rows, args.variants)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "rows": rows}, f, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
