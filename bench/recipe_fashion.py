"""The Fashion-MNIST recipe of issue 11: AdamW + OneCycle on the 784-512-256-10 ReLU MLP, fastnn against
PyTorch eager, wall time to train and the test accuracy reached. Each run is a fresh process, the contenders
alternated round by round (bench/harness.py says why); threads set explicitly.

    python bench/recipe_fashion.py                        # 5 epochs, batch 128, 3 rounds, 2 threads
    python bench/recipe_fashion.py --epochs 3 --rounds 5 --threads 1

The recipe, the same on both sides: inputs scaled to [0, 1] then standardized with the training set's mean and
std (one scalar each); PyTorch's default Linear weight init on both sides (kaiming_uniform, a=sqrt(5); fastnn's
biases start at 0, PyTorch's uniform in +-1/sqrt(fan_in));
AdamW (lr from OneCycle max_lr 3e-3 over every step with beta1 fixed, torch's OneCycleLR with cycle_momentum=False;
weight decay 1e-2, torch's defaults otherwise); shuffled mini-batches of 128 with the last partial batch kept;
cross entropy. Time covers the training epochs only (data
loading, model construction and the test evaluation are outside it). Needs Fashion-MNIST
(`apt-get install dataset-fashion-mnist`).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _data():
    import numpy as np

    from fastnn.datasets import load_fashion_mnist

    X, y, Xt, yt = load_fashion_mnist(dtype="float32")
    X, Xt = X / 255.0, Xt / 255.0
    mean, std = X.mean(), X.std()
    return ((X - mean) / std).astype(np.float32), y.astype(np.int64), ((Xt - mean) / std).astype(np.float32), \
        yt.astype(np.int64)


def run_fastnn(epochs: int, batch: int, threads: int) -> dict:
    import fastnn as fnn
    from fastnn.layers import Dense

    fnn.set_num_threads(threads)
    X, y, Xt, yt = _data()
    steps = epochs * -(-len(X) // batch)
    init = fnn.init.Init("he_uniform", nonlinearity="leaky_relu", a=5 ** 0.5)  # torch.nn.Linear's weights
    model = fnn.Sequential([Dense(512, activation="relu", init=init), Dense(256, activation="relu", init=init),
                            Dense(10, init=init)], input_dim=784, dtype="float32", seed=0, loss="cross_entropy")
    opt = fnn.optim.AdamW(lr=fnn.schedules.OneCycle(max_lr=3e-3, total_steps=steps), weight_decay=1e-2)
    t0 = time.perf_counter()
    model.fit(X, y, optimizer=opt, epochs=epochs, batch_size=batch, seed=0, verbose=0)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "test_accuracy": float((model.predict(Xt).argmax(1) == yt).mean())}


def run_torch(epochs: int, batch: int, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    X, y, Xt, yt = _data()
    X, y, Xt = torch.from_numpy(X), torch.from_numpy(y), torch.from_numpy(Xt)
    model = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 256),
                                torch.nn.ReLU(), torch.nn.Linear(256, 10))
    steps = epochs * -(-len(X) // batch)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-2)
    # fastnn's OneCycle sets the lr only; torch's default (cycle_momentum=True) would also cycle AdamW's beta1
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps, cycle_momentum=False)
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(X), generator=gen)
        for i in range(0, len(X), batch):
            idx = order[i:i + batch]
            opt.zero_grad(set_to_none=True)
            loss_fn(model(X[idx]), y[idx]).backward()
            opt.step()
            sched.step()
    seconds = time.perf_counter() - t0
    with torch.inference_mode():
        accuracy = float((model(Xt).argmax(1).numpy() == yt).mean())
    return {"seconds": seconds, "test_accuracy": accuracy}


CONTENDERS = {"fastnn": run_fastnn, "torch": run_torch}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(CONTENDERS[args.child](args.epochs, args.batch, args.threads)))
        return
    env = dict(os.environ, **{v: str(args.threads) for v in THREAD_VARS})
    results: dict[str, list[dict]] = {name: [] for name in CONTENDERS}
    for r in range(args.rounds):
        for name in CONTENDERS:
            out = subprocess.run([sys.executable, __file__, "--child", name, "--epochs", str(args.epochs),
                                  "--batch", str(args.batch), "--threads", str(args.threads)],
                                 env=env, capture_output=True, text=True, check=True)
            results[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"round {r} {name}: {results[name][-1]}", file=sys.stderr)
    print(f"Command: `python bench/recipe_fashion.py --epochs {args.epochs} --batch {args.batch} "
          f"--rounds {args.rounds} --threads {args.threads}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"load average {os.getloadavg()[0]:.2f})\n")
    print("| contender | median s | min s | test accuracy (median, min-max) | time vs torch "
          "(median of per-round ratios) |")
    print("| --- | --- | --- | --- | --- |")
    for name, rs in results.items():
        secs = [x["seconds"] for x in rs]
        accs = [x["test_accuracy"] for x in rs]
        ratio = statistics.median(a["seconds"] / b["seconds"] for a, b in zip(rs, results["torch"]))
        print(f"| {name} | {statistics.median(secs):.2f} | {min(secs):.2f} | {statistics.median(accs):.4f} "
              f"({min(accs):.4f}-{max(accs):.4f}) | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
