"""The softmax cross entropy (loss and gradient) of a batch of 10-class logits on 1 and 2 threads, each call right
after a 256 x 10 product so the pool is awake as it is in a training step (fastnn only, one process): what
``fastnn.ops.loss.EXP_ELEMENT_WORK`` is set from. Best and median of 300 calls, us.

    python bench/loss_threads.py [--rows 64 128 512 1024]
"""
from __future__ import annotations

import argparse
import os

import numpy as np


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, nargs="+", default=[64, 128, 512, 1024])
    p.add_argument("--calls", type=int, default=300)
    args = p.parse_args(argv)
    import time

    import fastnn
    from fastnn.ops import gemm, loss

    fastnn.set_num_threads(2)
    rng = np.random.default_rng(0)
    print(f"fastnn from {os.path.dirname(fastnn.__file__)}, load average {os.getloadavg()[0]:.2f}\n")
    print("| rows | 1 thread best / median | 2 threads best / median | threads by default |\n| --- | --- | --- | --- |")
    for rows in args.rows:
        x = rng.standard_normal((rows, 10)).astype(np.float32)
        y, g = rng.integers(0, 10, rows), np.empty_like(x)
        a, w = rng.standard_normal((rows, 256)).astype(np.float32), rng.standard_normal((256, 10)).astype(np.float32)
        z = np.empty((rows, 10), np.float32)
        cells = []
        for n_threads in (1, 2):
            times = []
            for _ in range(args.calls):
                gemm.gemm(a, w, z, check=False)
                t0 = time.perf_counter()
                loss.softmax_xent(x, y, g, 1.0 / rows, True, n_threads)
                times.append((time.perf_counter() - t0) * 1e6)
            times.sort()
            cells.append(f"{times[0]:.1f} / {times[len(times) // 2]:.1f}")
        default = fastnn._config.threads_for(loss.softmax_xent_work(x, g))
        print(f"| {rows} | {cells[0]} | {cells[1]} | {default} |")


if __name__ == "__main__":
    main()
