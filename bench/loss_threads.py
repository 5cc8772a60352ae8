"""The exp-bound kernels of fastnn.ops.loss on 1 and 2 threads: the softmax cross entropy (loss and gradient) and
the binary cross entropy from logits (loss and gradient) of a batch, and the row-wise softmax (predict_proba),
each call right after a 256 x 10 product so the pool is awake as it is in a training step (fastnn only, one
process): what ``fastnn.ops.loss.EXP_ELEMENT_WORK`` and the work functions built on it are set from. Best and
median of ``--calls`` calls, us.

    python bench/loss_threads.py [--rows 64 128 512 1024] [--kernels softmax_xent bce_logits softmax]
"""
from __future__ import annotations

import argparse
import os

import numpy as np


def calls(rows: int, rng: np.random.Generator) -> dict:
    """kernel name -> (call(n_threads), the work it counts toward its thread count) on ``rows`` rows of 10."""
    from fastnn.ops import loss

    x = rng.standard_normal((rows, 10)).astype(np.float32)
    labels, g = rng.integers(0, 10, rows), np.empty_like(x)
    t, probs = (rng.random((rows, 10)) < 0.5).astype(np.float32), np.empty_like(x)
    return {
        "softmax_xent": (lambda n: loss.softmax_xent(x, labels, g, 1.0 / rows, True, n), loss.softmax_xent_work(x, g)),
        "bce_logits": (lambda n: loss.bce_logits(x, t, g, 1.0 / x.size, n), loss.bce_logits_work(x)),
        "softmax": (lambda n: loss.softmax(x, probs, n), loss.softmax_work(x)),
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, nargs="+", default=[64, 128, 512, 1024])
    p.add_argument("--kernels", nargs="+", default=["softmax_xent", "bce_logits", "softmax"],
                   choices=["softmax_xent", "bce_logits", "softmax"])
    p.add_argument("--calls", type=int, default=300)
    args = p.parse_args(argv)
    import time

    import fastnn
    from fastnn.ops import gemm

    fastnn.set_num_threads(2)
    rng = np.random.default_rng(0)
    print(f"fastnn from {os.path.dirname(fastnn.__file__)}, load average {os.getloadavg()[0]:.2f}\n")
    print("| kernel | rows | 1 thread best / median | 2 threads best / median | threads by default |\n"
          "| --- | --- | --- | --- | --- |")
    for kernel in args.kernels:
        for rows in args.rows:
            call, work = calls(rows, rng)[kernel]
            a = rng.standard_normal((rows, 256)).astype(np.float32)
            w = rng.standard_normal((256, 10)).astype(np.float32)
            z = np.empty((rows, 10), np.float32)
            cells = []
            for n_threads in (1, 2):
                times = []
                for _ in range(args.calls):
                    gemm.gemm(a, w, z, check=False)
                    t0 = time.perf_counter()
                    call(n_threads)
                    times.append((time.perf_counter() - t0) * 1e6)
                times.sort()
                cells.append(f"{times[0]:.1f} / {times[len(times) // 2]:.1f}")
            print(f"| {kernel} | {rows} | {cells[0]} | {cells[1]} | {fastnn._config.threads_for(work)} |")


if __name__ == "__main__":
    main()
