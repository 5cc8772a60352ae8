"""Issue 13's acceptance for tuning an MLP: Hyperband vs random search with full-length trials on Fashion-MNIST.

    PYTHONPATH=$PWD python bench/tune_mlp.py [--train 6000] [--val 2000] [--max-epochs 27] [--seeds 0 1 2]
    PYTHONPATH=$PWD python bench/tune_mlp.py --smoke      # a 1-minute run that checks the script works

The six hyperparameters of the issue: lr (log), batch size, depth, width per layer (log), dropout, l2 (log); the
optimizer is Adam, the activation ReLU, no normalization. The data are a SUBSET so it runs in minutes: ``--train``
rows of the Fashion-MNIST training set (a stratified draw) for training and ``--val`` other rows for validation;
the test set is not touched.

Per seed: Hyperband (min 1, max ``--max-epochs`` epochs, eta 3; promoted configurations continue from their
checkpoints) runs ``--brackets-configs`` configurations; its epochs actually trained E are counted. Then random
search trains ceil(3 E / max_epochs) configurations for max_epochs each, i.e. at least 3 times Hyperband's epochs.
The claim holds for a seed when Hyperband's best validation accuracy reaches random search's (>=); it is also
reported within one standard error of an accuracy on the validation set (sqrt(p (1 - p) / n_val)). Printed: both
searches' best accuracy, total epochs, wall time; ``--json`` writes them.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

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


def one_seed(seed: int, args) -> dict:
    X, y, Xv, yv = data(args.train, args.val, seed)
    t0 = time.perf_counter()
    hb = tune_model(space(), X, y, validation_data=(Xv, yv), method="hyperband", max_epochs=args.max_epochs,
                    n_trials=args.hyperband_configs, seed=seed, refit=False)
    hb_seconds = time.perf_counter() - t0
    n_random = math.ceil(3 * hb.epochs_trained / args.max_epochs)
    t0 = time.perf_counter()
    rs = tune_model(space(), X, y, validation_data=(Xv, yv), method="random", max_epochs=args.max_epochs,
                    n_trials=n_random, seed=seed, refit=False)
    rs_seconds = time.perf_counter() - t0
    se = math.sqrt(rs.best_score * (1 - rs.best_score) / len(yv))
    row = {"seed": seed,
           "hyperband": {"best_val_accuracy": hb.best_score, "epochs": hb.epochs_trained, "trials": len(hb.trials),
                         "configurations": len({t.config for t in hb.trials}), "seconds": hb_seconds,
                         "best_params": hb.best_params},
           "random": {"best_val_accuracy": rs.best_score, "epochs": rs.epochs_trained, "trials": len(rs.trials),
                      "seconds": rs_seconds, "best_params": rs.best_params},
           "epochs_ratio": hb.epochs_trained / rs.epochs_trained,
           "reaches": hb.best_score >= rs.best_score, "within_one_se": hb.best_score >= rs.best_score - se}
    print(f"seed {seed}: hyperband {hb.best_score:.4f} in {hb.epochs_trained} epochs ({len(hb.trials)} trials, "
          f"{hb_seconds:.0f} s) | random {rs.best_score:.4f} in {rs.epochs_trained} epochs ({len(rs.trials)} "
          f"trials, {rs_seconds:.0f} s) | epochs ratio {row['epochs_ratio']:.3f} | reaches: {row['reaches']} "
          f"(within 1 s.e. {se:.4f}: {row['within_one_se']})", flush=True)
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=int, default=6000)
    parser.add_argument("--val", type=int, default=2000)
    parser.add_argument("--max-epochs", type=int, default=27)
    parser.add_argument("--hyperband-configs", type=int, default=49,
                        help="configurations Hyperband starts (49: one full Hyperband iteration at 27 / eta 3)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default=None, help="write the results to this file")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks that the script runs")
    args = parser.parse_args(argv)
    if args.smoke:
        args.train, args.val, args.max_epochs, args.hyperband_configs = 600, 300, 3, 6
    if args.threads:
        fnn.set_num_threads(args.threads)
    env = {k: v for k, v in os.environ.items() if k.startswith(("OMP_", "GOMP_", "OPENBLAS_"))}
    print(f"Fashion-MNIST subset: {args.train} training rows, {args.val} validation rows; max_epochs "
          f"{args.max_epochs}; threads {fnn.get_num_threads()}; env {env}", flush=True)
    rows = [one_seed(seed, args) for seed in args.seeds]
    print(f"Hyperband reaches random search's best on {sum(r['reaches'] for r in rows)}/{len(rows)} seeds "
          f"(within one s.e. on {sum(r['within_one_se'] for r in rows)}), with epoch ratios "
          f"{[round(r['epochs_ratio'], 3) for r in rows]}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "rows": rows}, f, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
