"""What a process-pool search pays to ship its objective: ``--trials`` trivial trials (no training) of an objective
that holds ``--rows`` x 784 float32 (Fashion-MNIST's 60000 rows: 188 MB), on a ProcessExecutor of 2 workers that
is started and warmed up first. Run it with each tree first on the path to compare trees:

    PYTHONPATH=/path/to/tree python bench/tune_transfer.py [--rows 60000] [--trials 16]
"""
from __future__ import annotations

import argparse
import time

import numpy as np


class HoldsData:
    """An objective that carries its data, as fastnn.tune.tune_model's does."""

    def __init__(self, rows: int):
        self.X = np.ones((rows, 784), np.float32)

    def __call__(self, params: dict) -> float:
        return float(self.X[0, 0] * params["x"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=60000)
    p.add_argument("--trials", type=int, default=16)
    args = p.parse_args()
    from fastnn.tune import Uniform, search
    from fastnn.tune._executors_pool import ProcessExecutor

    with ProcessExecutor(2) as executor:
        search(HoldsData(10), {"x": Uniform(0, 1)}, n_trials=2, executor=executor)  # the workers are up
        objective = HoldsData(args.rows)
        start = time.perf_counter()
        search(objective, {"x": Uniform(0, 1)}, n_trials=args.trials, executor=executor)
        seconds = time.perf_counter() - start
    print(f"{args.trials} trials of an objective holding {objective.X.nbytes / 1e6:.0f} MB on 2 workers: "
          f"{seconds:.2f} s")


if __name__ == "__main__":  # the workers (forkserver) import this module without running the search
    main()
