"""Measure where a second OpenMP thread starts to pay for an elementwise kernel, alone and sandwiched between
BLAS matmuls as in a training step (the hazard: both thread pools compete for 2 cores).

    python bench/threshold.py [--threads 2]

For sizes from 16k to 8M elements it times the fused SGD-momentum update (5 streams: p, g, buf read; p, buf
written) serially and with --threads threads, (a) alone and (b) right after a 128x784 @ 784x512 matmul. The
crossover of (b) is what fastnn._config's PARALLEL_THRESHOLD should be. Prints one JSON line per size.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

import fastnn
from fastnn.ops import optim as opt_ops


def best_time(fn, reps: int, rounds: int = 5) -> float:
    for _ in range(3):
        fn()
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - t) / reps)
    return best


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    fastnn.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    A = rng.standard_normal((128, 784), dtype=np.float32)
    B = rng.standard_normal((784, 512), dtype=np.float32)
    C = np.empty((128, 512), np.float32)
    hp = np.array([[0.01, 0.0, 0.9, 1.0, 0.0, 0.0]])
    for n in [1 << k for k in range(14, 24)]:
        g = rng.standard_normal(n, dtype=np.float32)
        prm = rng.standard_normal(n, dtype=np.float32)
        buf = np.zeros(n, np.float32)
        bounds = np.array([0, n], np.int64)
        row = {"n": n}
        for threads in (1, args.threads):
            def update():
                opt_ops.sgd_step(g, bounds, hp, prm, buf, n_threads=threads, check=False)

            def sandwiched():
                np.matmul(A, B, out=C)
                update()

            reps = max(3, int(2e6 // n))
            row[f"alone_t{threads}_us"] = round(best_time(update, reps) * 1e6, 1)
            row[f"between_matmuls_t{threads}_us"] = round(best_time(sandwiched, reps) * 1e6, 1)
        row["speedup_alone"] = round(row["alone_t1_us"] / row[f"alone_t{args.threads}_us"], 2)
        row["speedup_between_matmuls"] = round(row["between_matmuls_t1_us"] /
                                               row[f"between_matmuls_t{args.threads}_us"], 2)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
