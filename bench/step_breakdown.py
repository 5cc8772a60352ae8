"""How much of a training step the optimizer pass takes: the batch-32 step loop of bench/suites/training.py
(``loss_and_grad`` + ``optimizer.step``, 784-512-256-10, SGD momentum, float32) timed with and without the
optimizer step, alternated in one fresh process (one library only, so nothing else's threads interfere); the
minimum over rounds of each.

    python bench/step_breakdown.py [--batch 32] [--threads 2] [--rounds 30]

It bounds what applying the update inside the gemm (issue 11 item 3) could save: at most the whole pass.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=30)
    args = p.parse_args(argv)
    import peers
    from suites import training

    import fastnn as fnn

    fnn.set_num_threads(args.threads)
    X, y = peers.data(args.batch, 784, 10)
    model = training.fastnn_model([784, 512, 256, 10])
    opt = training.fastnn_optimizer("sgd")
    opt.bind(model.layout)
    loss = fnn.losses.get("cross_entropy")
    T = loss.prepare_targets(y, len(y), 10, model.dtype)
    ctx = fnn.layers.StepContext(training=True)

    def steps(with_optimizer: bool) -> float:
        t0 = time.perf_counter()
        for i in range(peers.N_BATCHES):
            j = i * args.batch
            model.loss_and_grad(X[j:j + args.batch], T[j:j + args.batch], loss, ctx)
            if with_optimizer:
                opt.step(model.params, model.grads)
        return (time.perf_counter() - t0) / peers.N_BATCHES * 1e6

    times: dict[bool, list[float]] = {True: [], False: []}
    for r in range(args.rounds + 1):
        for with_optimizer in (True, False):
            t = steps(with_optimizer)
            if r:  # round 0 warms up
                times[with_optimizer].append(t)
    full, bare = min(times[True]), min(times[False])
    print(f"batch {args.batch}, {args.threads} threads, load average {os.getloadavg()[0]:.2f}: step {full:.1f} us, "
          f"without the optimizer {bare:.1f} us; the optimizer pass {full - bare:.1f} us ({(full - bare) / full:.0%})")


if __name__ == "__main__":
    main()
