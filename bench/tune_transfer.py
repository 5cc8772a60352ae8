"""What a search pays to ship its objective: ``--trials`` trivial trials (no training) of an objective that holds
``--rows`` x 784 float32 (Fashion-MNIST's 60000 rows: 188 MB), on 2 workers that are started and warmed up first:
a ProcessExecutor, or with ``--dask`` a local Dask cluster of 2 worker processes (1 thread each). Run it with each
tree first on the path to compare trees:

    PYTHONPATH=/path/to/tree python bench/tune_transfer.py [--rows 60000] [--trials 16] [--dask]
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
    p.add_argument("--dask", action="store_true", help="a local Dask cluster instead of the process pool")
    args = p.parse_args()
    if args.dask:
        from distributed import Client, LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            seconds, megabytes = time_search(client, args)
    else:
        from fastnn.tune._executors_pool import ProcessExecutor

        with ProcessExecutor(2) as executor:
            seconds, megabytes = time_search(executor, args)
    where = "a local Dask cluster of 2 workers" if args.dask else "2 pool workers"
    print(f"{args.trials} trials of an objective holding {megabytes:.0f} MB on {where}: {seconds:.2f} s")


def time_search(executor, args) -> tuple[float, float]:
    from fastnn.tune import Uniform, search

    search(HoldsData(10), {"x": Uniform(0, 1)}, n_trials=2, executor=executor)  # the workers are up
    objective = HoldsData(args.rows)
    start = time.perf_counter()
    search(objective, {"x": Uniform(0, 1)}, n_trials=args.trials, executor=executor)
    return time.perf_counter() - start, objective.X.nbytes / 1e6


if __name__ == "__main__":  # the workers (forkserver) import this module without running the search
    main()
