"""Threads: the OpenMP-vs-OpenBLAS hazard, and where a second thread starts to pay.

  * ``hazard``     the 784-512-256-10 SGD-momentum ``fit`` loop (float32), samples/s, under each libgomp
                   setting (every child is a fresh process, which is what these need: libgomp reads its wait
                   policy once, when it loads), with and without ``import torch`` first (another OpenMP runtime,
                   PyTorch's spinning ``libgomp.so.1``, which fastnn then shares):
                     default                         fastnn's own choice (a brief spin, GOMP_SPINCOUNT=10000,
                                                     threads adapted to the free cores, step kernels serial
                                                     below the work threshold)
                     OMP_WAIT_POLICY=PASSIVE         the former default: threads sleep right after each region
                     OMP_WAIT_POLICY=ACTIVE, GOMP_SPINCOUNT=100000 ... 300   libgomp threads spin after each region
                     threshold=1                     every kernel takes its OpenMP path, even tiny ones
  * ``threshold``  the fused SGD-momentum update (5 streams: p, g, buf read; p, buf written) over n elements,
                   serial vs the run's thread count, alone and right after a 128x784 @ 784x512 matmul as in a
                   training step. The crossover between matmuls is what fastnn._config's PARALLEL_THRESHOLD
                   should be.
"""
from __future__ import annotations

import numpy as np
from harness import Benchmark, Contender

from suites import training


def hazard_fit(batch, torch_first):
    if torch_first:
        import torch  # noqa: F401  (loaded before fastnn: its libgomp is the one fastnn then shares)
    return training.fastnn_fit("784-512-256-10", batch, "sgd", False, 0.0)


def sgd_update(n, placement, serial, threads):
    from fastnn.ops import optim as opt_ops

    n_threads = 1 if serial else threads
    rng = np.random.default_rng(0)
    A = rng.standard_normal((128, 784), dtype=np.float32)
    B = rng.standard_normal((784, 512), dtype=np.float32)
    C = np.empty((128, 512), np.float32)
    hp = np.array([[0.01, 0.0, 0.9, 1.0, 0.0, 0.0]])
    g = rng.standard_normal(n, dtype=np.float32)
    prm = rng.standard_normal(n, dtype=np.float32)
    buf = np.zeros(n, np.float32)
    bounds = np.array([0, n], np.int64)

    def update():
        opt_ops.sgd_step(g, bounds, hp, prm, buf, n_threads=n_threads, check=False)

    def sandwiched():
        np.matmul(A, B, out=C)
        update()

    return update if placement == "alone" else sandwiched


SETTINGS = {
    "default": {},
    "OMP_WAIT_POLICY=PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
    "threshold=2**18 (not raised)": {"FASTNN_PARALLEL_THRESHOLD": str(1 << 18)},
    "OMP_WAIT_POLICY=ACTIVE": {"OMP_WAIT_POLICY": "ACTIVE"},
    "GOMP_SPINCOUNT=100000": {"GOMP_SPINCOUNT": "100000"},
    "GOMP_SPINCOUNT=10000": {"GOMP_SPINCOUNT": "10000"},
    "GOMP_SPINCOUNT=3000": {"GOMP_SPINCOUNT": "3000"},
    "GOMP_SPINCOUNT=1000": {"GOMP_SPINCOUNT": "1000"},
    "GOMP_SPINCOUNT=300": {"GOMP_SPINCOUNT": "300"},
    "threshold=1 (OpenMP everywhere) passive": {"FASTNN_PARALLEL_THRESHOLD": "1"},
    "threshold=1 ACTIVE": {"FASTNN_PARALLEL_THRESHOLD": "1", "OMP_WAIT_POLICY": "ACTIVE"},
}

BENCHMARKS = [
    Benchmark(
        name="hazard", title="Training step under libgomp settings (fit loop, 784-512-256-10, SGD momentum)",
        contenders=[Contender(name, "suites.threads:hazard_fit", env=env, fastnn=True)
                    for name, env in SETTINGS.items()],
        baseline="OMP_WAIT_POLICY=PASSIVE", unit="items/s", items="samples",
        grid={"torch_first": [False, True], "batch": [32, 128]}, quick_grid={"batch": [128]},
        warmup=1, min_calls=2, min_time=1.0, rounds=3, fastnn_adaptive_threads=True,
        notes="Each row is a fresh process with the setting in its environment (libgomp reads it once); "
              "torch_first = `import torch` before fastnn."),
    Benchmark(
        name="threshold", title="Fused SGD-momentum update: serial vs threaded, alone and between matmuls",
        contenders=[Contender("serial", "suites.threads:sgd_update", params={"serial": True}, fastnn=True),
                    Contender("threaded", "suites.threads:sgd_update", params={"serial": False}, fastnn=True)],
        baseline="serial", unit="s",
        grid={"placement": ["alone", "between_matmuls"], "n": [1 << k for k in range(14, 24)]},
        quick_grid={"n": [1 << 16, 1 << 20]}, warmup=3, min_calls=5, min_time=0.2, rounds=3,
        notes="threaded = the run's --threads; the ratio to serial is the second thread's speedup."),
]
