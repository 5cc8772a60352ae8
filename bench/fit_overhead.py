"""What ``fit`` costs beyond the bare step loop, per step: the 784-512-256-10 SGD-momentum MLP of
bench/suites/training.py on its data set of ``peers.N_BATCHES`` batches, timed in one fresh process (fastnn
only), the variants alternated, best and median over rounds of 10 epochs' worth of steps each:

  * ``fit 1 epoch x10``  ten calls of fit(epochs=1): fit's setup (checks of X and y, the loader, the history)
                         paid every ``N_BATCHES`` steps;
  * ``fit 10 epochs``    one call of fit(epochs=10): setup paid once; the shuffled rows gathered every step;
  * ``fit unshuffled``   the same with shuffle=False: batches are slices of X, as in the step loop;
  * ``fit, update apart`` fit(epochs=10) with each weight's optimizer update in its own pass after the products
                         instead of inside its gradient's product (fastnn.training.step.FUSE_WEIGHT_UPDATES;
                         fit fuses only up to FUSE_MAX_BATCH rows, so at larger batches the two are the same);
  * ``fit, gather on 1 thread`` fit(epochs=10) with the shuffled batch's row gather on one thread (its default
                         takes two from 2**18 bytes: 128 rows of 784 float32, fastnn.ops.augment.gather_rows);
  * ``fit, layers' calls`` fit(epochs=10) with each layer's kernels called from its Python method instead of the
                         whole step in one C call (fastnn.training.step.USE_CHAIN; the chain takes fused steps only,
                         so above FUSE_MAX_BATCH rows the two are the same);
  * ``step loop``        ``model.loss_and_grad`` + ``optimizer.step`` on consecutive slices (the peers' loop).

``--sizes 8-8-8-2`` runs the same loops on a network whose kernels cost next to nothing: what is left is Python's
fixed cost per step (and the C calls' own), the part of a step no kernel work hides.

    python bench/fit_overhead.py [--batch 32 128 1024] [--threads 2] [--rounds 10] [--sizes 784-512-256-10]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

EPOCHS = 10


def variants(batch: int, sizes: str = "784-512-256-10") -> dict:
    import peers
    from suites import training

    from fastnn.data import loader
    from fastnn.training import step

    widths = [int(w) for w in sizes.split("-")]
    X, y = peers.data(batch, widths[0], widths[-1])
    model = training.fastnn_model(widths)
    optimizer = training.fastnn_optimizer("sgd")
    step_loop = training.fastnn_step(sizes, batch, "sgd", False, 0.0)

    threaded_gather = loader.gather_rows

    def serial_gather(x, rows, out, n_threads=None, check=True):
        return threaded_gather(x, rows, out, 1, check)

    def fit(epochs: int, calls: int, shuffle: bool = True, fused: bool = True, gather=threaded_gather,
            chain: bool = True):
        def run():
            step.FUSE_WEIGHT_UPDATES, loader.gather_rows, step.USE_CHAIN = fused, gather, chain
            try:
                for _ in range(calls):
                    model.fit(X, y, optimizer=optimizer, epochs=epochs, batch_size=batch, shuffle=shuffle, verbose=0)
            finally:
                step.FUSE_WEIGHT_UPDATES, loader.gather_rows, step.USE_CHAIN = True, threaded_gather, True
        return run

    def steps():
        for _ in range(EPOCHS):
            step_loop()

    return {"fit 1 epoch x10": fit(1, EPOCHS), "fit 10 epochs": fit(EPOCHS, 1),
            "fit unshuffled": fit(EPOCHS, 1, shuffle=False), "fit, update apart": fit(EPOCHS, 1, fused=False),
            "fit, gather on 1 thread": fit(EPOCHS, 1, gather=serial_gather),
            "fit, layers' calls": fit(EPOCHS, 1, chain=False), "step loop": steps}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, nargs="+", default=[32, 128, 1024])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--sizes", default="784-512-256-10", help="layer widths (8-8-8-2: Python's fixed cost alone)")
    args = p.parse_args(argv)
    import peers

    import fastnn

    fastnn.set_num_threads(args.threads)
    print(f"fastnn from {os.path.dirname(fastnn.__file__)}, {args.sizes}, {args.threads} threads, load average "
          f"{os.getloadavg()[0]:.2f}\n")
    print("| batch | variant | best us/step | median us/step | median vs step loop |\n| --- | --- | --- | --- | --- |")
    for batch in args.batch:
        runs = variants(batch, args.sizes)
        for run in runs.values():  # warm up: first builds, first-touch of buffers
            run()
        times: dict[str, list[float]] = {name: [] for name in runs}
        for r in range(args.rounds):
            order = list(runs) if r % 2 == 0 else list(reversed(runs))
            for name in order:
                t0 = time.perf_counter()
                runs[name]()
                times[name].append((time.perf_counter() - t0) / (EPOCHS * peers.N_BATCHES) * 1e6)
        base = statistics.median(times["step loop"])
        for name, values in times.items():
            median = statistics.median(values)
            print(f"| {batch} | {name} | {min(values):.1f} | {median:.1f} | {median / base:.3f} |")


if __name__ == "__main__":
    main()
