"""The shuffled batches of ``fit``: the loader's epoch over a 784-column float32 X (twice the 51,200 rows of an
in-memory epoch, 320 MB, so rows come from memory, not cache), its rows gathered by fastnn's C kernel
(fastnn.ops.augment.gather_rows, each next row prefetched) against ``np.take``, alternated round by round in one
process (both single-threaded, no thread pool involved); the median per batch of each.

    python bench/loader_gather.py [--batch 32 128 1024] [--rounds 6]
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, nargs="+", default=[32, 128, 1024])
    p.add_argument("--rounds", type=int, default=6)
    args = p.parse_args(argv)
    import fastnn.data.loader as loader_module

    rows = 51_200 * 2
    rng = np.random.default_rng(0)
    X = rng.random((rows, 784), dtype=np.float32)
    targets = rng.integers(0, 10, rows)

    print("| batch | np.take, us per batch | C gather, us per batch | np.take / C gather |")
    print("| --- | --- | --- | --- |")
    for batch in args.batch:
        loader = loader_module.Loader(X, targets, batch, np.float32, shuffle=True, seed=0)
        kernel = loader.source.x_bytes  # the loader takes np.take where X has no byte view (not C-contiguous)
        times: dict[str, list[float]] = {"take": [], "kernel": []}
        for r in range(args.rounds):
            order = (("take", None), ("kernel", kernel)) if r % 2 else (("kernel", kernel), ("take", None))
            for name, x_bytes in order:
                loader.source.x_bytes = x_bytes
                t0 = time.perf_counter()
                for _ in loader.epoch(0):
                    pass
                times[name].append((time.perf_counter() - t0) / loader.n_batches * 1e6)
        a, b = np.median(times["take"]), np.median(times["kernel"])
        print(f"| {batch} | {a:.1f} | {b:.1f} | {a / b:.2f}x |")


if __name__ == "__main__":
    main()
