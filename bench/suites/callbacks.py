"""The per-batch cost of callbacks in ``fit``: steps/s of an epoch of tiny steps (a 1-1 Dense network, batch 1,
so the step itself is ~10 us and the loop's per-batch Python shows), with

  * ``none``          ``callbacks=None`` (the baseline);
  * ``no_hooks``      ten ``Callback()`` instances: they define no hook, so fit resolves every hook list to
                      empty (the issue's "empty callback list": it should cost nothing, < 2 us per batch);
  * ``batch_hooks``   one callback with no-op ``on_batch_begin`` and ``on_batch_end`` (the cost of a hook that
                      is used: building its logs dict and the call);
  * ``checkpoint``    ``checkpoint=`` set but written only at the end of the epoch (the per-step cadence test).

The per-batch overhead of a contender is ``1/rate - 1/rate_none``; the ratio column shows it relative to the
step. Run: ``python bench/run.py callbacks`` (``--quick`` for one round).
"""
from __future__ import annotations

import os
import tempfile

import numpy as np
from harness import Benchmark, Contender

STEPS = 4000


def fit_epoch(variant):
    import fastnn as fnn

    X = np.random.default_rng(0).normal(size=(STEPS, 1)).astype(np.float32)
    y = X[:, 0] * 0.5
    model = fnn.Sequential([fnn.layers.Dense(1)], input_dim=1, loss="mse", seed=0)
    opt = fnn.optim.SGD(lr=1e-3)

    class BatchHooks(fnn.training.Callback):
        def on_batch_begin(self, batch, logs, model):
            pass

        def on_batch_end(self, batch, logs, model):
            pass

    callbacks = {"none": None, "no_hooks": [fnn.training.Callback() for _ in range(10)],
                 "batch_hooks": [BatchHooks()], "checkpoint": None}[variant]
    extra = {}
    if variant == "checkpoint":
        extra = {"checkpoint": os.path.join(tempfile.mkdtemp(), "run.ckpt"), "checkpoint_every": None,
                 "checkpoint_every_steps": 10 * STEPS}

    def run():
        model.fit(X, y, optimizer=opt, epochs=1, batch_size=1, shuffle=False, verbose=0, callbacks=callbacks,
                  **extra)
        return STEPS

    return run


M = "suites.callbacks:fit_epoch"
BENCHMARKS = [
    Benchmark(
        name="batch_overhead", title=f"fit: steps/s of {STEPS} batch-1 steps of a 1-1 Dense network, by callbacks",
        contenders=[Contender(v, M, params={"variant": v}, preload=("fastnn",), fastnn=True)
                    for v in ("none", "no_hooks", "batch_hooks", "checkpoint")],
        baseline="none", unit="items/s", items="steps", warmup=1, min_calls=3, min_time=0.5, rounds=5),
]
