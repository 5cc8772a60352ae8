"""The Fashion-MNIST recipe of issue 11: AdamW + OneCycle on the 784-512-256-10 ReLU MLP, fastnn against
PyTorch eager (AdamW's default, foreach and fused implementations), wall time to train and the test accuracy
reached. Each run is a fresh process, the contenders alternated round by round with their order rotated
(bench/harness.py says why); threads set explicitly (fastnn's load-adaptive count off), OpenBLAS's kernel
variables removed as the harness does. fastnn is quoted against the best torch variant, paired per round.

    python bench/recipe_fashion.py                        # 5 epochs, batch 128, 3 rounds, 2 threads
    python bench/recipe_fashion.py --epochs 3 --rounds 5 --threads 1 --contenders fastnn,torch_fused

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
import functools
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402


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


def run_torch(epochs: int, batch: int, threads: int, impl: str = "default") -> dict:
    """``impl``: AdamW's implementation, "default" (on CPU a for-loop over the parameters), "foreach" or
    "fused"."""
    import torch
    from peers import torch_optimizer_options

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    X, y, Xt, yt = _data()
    X, y, Xt = torch.from_numpy(X), torch.from_numpy(y), torch.from_numpy(Xt)
    model = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 256),
                                torch.nn.ReLU(), torch.nn.Linear(256, 10))
    steps = epochs * -(-len(X) // batch)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-2, **torch_optimizer_options(impl))
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


CONTENDERS = {"fastnn": run_fastnn, "torch": run_torch,
              "torch_foreach": functools.partial(run_torch, impl="foreach"),
              "torch_fused": functools.partial(run_torch, impl="fused")}


def child_environment(name: str, threads: int, keep_openblas_env: bool) -> dict:
    """A contender's process environment: the harness's (``harness.env_for``) for a child named ``name``."""
    return harness.env_for(threads, name.startswith("fastnn"), keep_openblas_env)


def best_torch(results: dict[str, list[dict]]) -> str:
    """The torch variant with the lowest median time."""
    return min((n for n in results if n.startswith("torch")),
               key=lambda n: statistics.median(x["seconds"] for x in results[n]))


def table(results: dict[str, list[dict]]) -> list[str]:
    """The markdown rows: each contender's times, accuracy and paired per-round time ratio to the best torch."""
    best = best_torch(results)
    lines = ["| contender | median s | min s | test accuracy (median, min-max) | OpenBLAS kernel | "
             f"speed vs best torch ({best}): median of per-round ratios [min, max] |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, rs in results.items():
        secs = [x["seconds"] for x in rs]
        accs = [x["test_accuracy"] for x in rs]
        ratio = harness.paired_ratio(secs, [x["seconds"] for x in results[best]], higher_is_better=False)
        kernels = harness.openblas_architectures(x.get("blas") for x in rs)
        lines.append(f"| {name} | {statistics.median(secs):.2f} | {min(secs):.2f} | "
                     f"{statistics.median(accs):.4f} ({min(accs):.4f}-{max(accs):.4f}) | "
                     f"{', '.join(kernels) or 'n/a'} | "
                     f"{ratio['ratio']:.2f}x [{ratio['min']:.2f}, {ratio['max']:.2f}] |")
    return lines


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--contenders", default=",".join(CONTENDERS),
                   help=f"comma-separated, of {', '.join(CONTENDERS)} (at least one torch)")
    p.add_argument("--keep-openblas-env", action="store_true",
                   help="pass OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE on to the children (removed by default)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        out = CONTENDERS[args.child](args.epochs, args.batch, args.threads)
        print(json.dumps({**out, "blas": harness.blas_info()}))
        return
    names = args.contenders.split(",")
    unknown = sorted(set(names) - set(CONTENDERS))
    if unknown or not any(n.startswith("torch") for n in names):
        p.error(f"--contenders: unknown {unknown}" if unknown else "--contenders: at least one torch variant")
    results: dict[str, list[dict]] = {name: [] for name in names}
    for r in range(args.rounds):
        for name in harness.rotated(names, r):
            out = subprocess.run([sys.executable, __file__, "--child", name, "--epochs", str(args.epochs),
                                  "--batch", str(args.batch), "--threads", str(args.threads)],
                                 env=child_environment(name, args.threads, args.keep_openblas_env),
                                 capture_output=True, text=True, check=True)
            results[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"round {r} {name}: {results[name][-1]}", file=sys.stderr)
    print(f"Command: `python bench/recipe_fashion.py --epochs {args.epochs} --batch {args.batch} "
          f"--rounds {args.rounds} --threads {args.threads} --contenders {args.contenders}"
          f"{' --keep-openblas-env' if args.keep_openblas_env else ''}` "
          f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {os.getloadavg()[0]:.2f}; "
          f"children's environment: {harness.environment_note(args.keep_openblas_env)})\n")
    print("\n".join(table(results)))


if __name__ == "__main__":
    main()
