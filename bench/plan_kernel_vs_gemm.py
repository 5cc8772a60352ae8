"""Where an InferencePlan's own kernel stands against its gemm blocks (``KERNEL_ROWS_MAX``): a plan running every
call in the kernel (``small_batch_max`` above the batch) against one running it in gemm blocks
(``small_batch_max=0``), 784-512-256-10 float32, alternated call by call in one fresh process (fastnn alone: no
other library's threads), median times.

    python bench/plan_kernel_vs_gemm.py [--threads 1] [--rows 33 64 128 256 1024]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rows", type=int, nargs="+", default=[33, 64, 128, 256, 1024])
    args = p.parse_args(argv)
    import numpy as np
    from suites import training

    import fastnn as fnn
    import fastnn.inference as fi

    fnn.set_num_threads(args.threads)
    model = training.fastnn_model([784, 512, 256, 10])
    rng = np.random.default_rng(0)
    print(f"{args.threads} thread(s), SIMD level {fi.plan.ops.simd_level()}, load average {os.getloadavg()[0]:.2f}")
    for rows in args.rows:
        plans = {"kernel": fi.compile(model, small_batch_max=rows, threads=args.threads),
                 "gemm": fi.compile(model, small_batch_max=0, threads=args.threads)}
        x = rng.standard_normal((rows, 784)).astype(np.float32)
        times: dict[str, list[float]] = {name: [] for name in plans}
        for _ in range(max(20, 4000 // rows)):
            for name, plan in plans.items():
                t = time.perf_counter()
                plan.predict(x)
                times[name].append(time.perf_counter() - t)
        kernel, gemm = (float(np.median(times[name])) * 1e6 for name in ("kernel", "gemm"))
        print(f"rows {rows}: kernel {kernel:.0f} us, gemm blocks {gemm:.0f} us, kernel / gemm time {kernel / gemm:.2f}")


if __name__ == "__main__":
    main()
