"""Show the OpenMP-vs-OpenBLAS hazard and what fastnn's defaults do about it.

    python bench/thread_hazard.py [--threads 2] [--batches 32,128]

Runs the 784-512-256-10 SGD-momentum training step (fastnn's fit loop, float32) in a fresh process per setting,
because libgomp reads its wait policy once, when it loads:
  * default            fastnn's own choice (OMP_WAIT_POLICY=PASSIVE for its libgomp, kernels between matmuls
                       serial below the work threshold)
  * ACTIVE / GOMP_SPINCOUNT=100000 / 10000   libgomp threads spin after each parallel region
  * threshold=1        every kernel takes its OpenMP path, even tiny ones between matmuls
and each of them again with torch imported first (another OpenMP runtime in the process). Prints samples/s.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, sys, time
import numpy as np
if {torch}:
    import torch
    torch.set_num_threads({threads})
import fastnn as fnn
from fastnn.layers import Dense
fnn.set_num_threads({threads})
out = {{}}
for batch in {batches}:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch * 20, 784), dtype=np.float32)
    y = rng.integers(0, 10, batch * 20)
    model = fnn.Sequential([Dense(512, activation="relu"), Dense(256, activation="relu"), Dense(10)],
                           input_dim=784)
    opt = fnn.optim.SGD(lr=0.01, momentum=0.9)
    model.fit(X, y, optimizer=opt, epochs=1, batch_size=batch, verbose=0)
    best = 0.0
    for _ in range(3):
        t = time.perf_counter()
        model.fit(X, y, optimizer=opt, epochs=5, batch_size=batch, verbose=0)
        best = max(best, 100 * batch / (time.perf_counter() - t))
    out[batch] = round(best)
print(json.dumps(out))
"""

SETTINGS = {
    "default (passive, serial below threshold)": {},
    "OMP_WAIT_POLICY=ACTIVE": {"OMP_WAIT_POLICY": "ACTIVE"},
    "GOMP_SPINCOUNT=100000": {"GOMP_SPINCOUNT": "100000"},
    "GOMP_SPINCOUNT=10000": {"GOMP_SPINCOUNT": "10000"},
    "threshold=1 (OpenMP everywhere), passive": {"FASTNN_PARALLEL_THRESHOLD": "1"},
    "threshold=1, ACTIVE": {"FASTNN_PARALLEL_THRESHOLD": "1", "OMP_WAIT_POLICY": "ACTIVE"},
}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batches", default="32,128")
    args = p.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    base_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("OMP_", "GOMP_", "FASTNN_PARALLEL"))}
    print(f"{'setting':45s} {'torch imported':>14s} " + " ".join(f"{'b' + str(b):>10s}" for b in batches))
    for name, env in SETTINGS.items():
        for with_torch in (False, True):
            code = CHILD.format(torch=with_torch, threads=args.threads, batches=batches)
            res = subprocess.run([sys.executable, "-c", code], env={**base_env, **env}, capture_output=True,
                                 text=True, check=True)
            speeds = json.loads(res.stdout)
            print(f"{name:45s} {str(with_torch):>14s} " + " ".join(f"{speeds[str(b)]:>10,}" for b in batches),
                  flush=True)


if __name__ == "__main__":
    main()
