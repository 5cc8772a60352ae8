"""Training throughput of an MLP (default 784-512-256-10, ReLU, cross entropy, SGD momentum 0.9, float32):
fastnn vs PyTorch CPU vs a plain-numpy MLP vs the matmul floor, measured in ONE process, interleaved.

    python bench/compare_mlp.py --threads 2 --batches 32,128,1024 [--opt adam] [--bn --dropout 0.1]
    python bench/compare_mlp.py --memory        # peak memory of each side, each in its own process

Each round runs every peer for --steps steps per batch size; the best round counts (these machines are shared
and noisy). fastnn is measured two ways: "fastnn" = the fit() loop (shuffled, rows gathered into the batch
buffer, metrics) and "fastnn_step" = the same per-step slicing loop as the PyTorch peer. Prints a table and one
JSON line per batch size with the ratios.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402

import fastnn as fnn  # noqa: E402


def fastnn_model(sizes, bn=False, dropout=0.0):
    from fastnn.layers import Dense

    layers = []
    for h in sizes[1:-1]:
        layers.append(Dense(h) if bn else Dense(h, activation="relu"))
        if bn:
            layers += [fnn.layers.BatchNorm(), fnn.layers.ReLU()]
        if dropout:
            layers.append(fnn.layers.Dropout(dropout))
    layers.append(Dense(sizes[-1]))
    return fnn.Sequential(layers, input_dim=sizes[0], dtype="float32", seed=0)


def make_optimizer(opt):
    return fnn.optim.Adam(lr=1e-3) if opt == "adam" else fnn.optim.SGD(lr=0.01, momentum=0.9)


def fastnn_fit_runner(sizes, batch, opt, bn=False, dropout=0.0):
    """Whole epochs of model.fit over batch * N_BATCHES rows."""
    X, y = peers.data(batch, sizes[0], sizes[-1])
    model = fastnn_model(sizes, bn, dropout)
    optimizer = make_optimizer(opt)

    def run(n_steps):
        epochs = max(1, n_steps // peers.N_BATCHES)
        model.fit(X, y, optimizer=optimizer, epochs=epochs, batch_size=batch, verbose=0)
        return epochs * peers.N_BATCHES

    return run


def fastnn_step_trainer(sizes, batch, opt, bn=False, dropout=0.0):
    X, y = peers.data(batch, sizes[0], sizes[-1])
    model = fastnn_model(sizes, bn, dropout)
    optimizer = make_optimizer(opt)
    optimizer.bind(model.layout)
    loss = fnn.losses.get("cross_entropy")
    T = loss.prepare_targets(y, len(y), sizes[-1], model.dtype)
    ctx = fnn.layers.StepContext(training=True)

    def step(i):
        j = (i % peers.N_BATCHES) * batch
        ctx.step = i
        model.loss_and_grad(X[j:j + batch], T[j:j + batch], loss, ctx)
        optimizer.step(model.params, model.grads)

    return step


def steps_runner(step):
    def run(n_steps):
        for i in range(n_steps):
            step(i)
        return n_steps
    return run


def runners(args, batch):
    sizes = [int(s) for s in args.sizes.split(",")]
    out = {"fastnn": fastnn_fit_runner(sizes, batch, args.opt, args.bn, args.dropout),
           "fastnn_step": steps_runner(fastnn_step_trainer(sizes, batch, args.opt, args.bn, args.dropout))}
    if not args.no_torch:
        out["torch"] = steps_runner(peers.torch_trainer(sizes, batch, args.opt, args.bn, args.dropout))
    if not (args.bn or args.dropout) and args.opt == "sgd":
        out["numpy"] = steps_runner(peers.numpy_trainer(sizes, batch))
        out["gemm_floor"] = steps_runner(peers.gemm_floor_trainer(sizes, batch))
    return out


def measure(args, batch) -> dict:
    peers_run = runners(args, batch)
    best = {name: 0.0 for name in peers_run}
    for run in peers_run.values():  # warm up: workspaces, thread pools, caches
        run(peers.N_BATCHES)
    for _ in range(args.rounds):
        for name, run in peers_run.items():
            t = time.perf_counter()
            n = run(args.steps)
            best[name] = max(best[name], n * batch / (time.perf_counter() - t))
    return best


def set_threads(n):
    fnn.set_num_threads(n)
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:
        pass


def environment() -> dict:
    env = {k: v for k, v in os.environ.items() if k.startswith(("OMP_", "GOMP_", "OPENBLAS_", "MKL_"))}
    info = {"date": time.strftime("%Y-%m-%d"), "machine": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "numpy": np.__version__, "fastnn": fnn.__version__, "env": env}
    try:
        import torch

        info["torch"] = torch.__version__
    except ImportError:
        pass
    return info


def peak_memory_child(args):
    """Run one peer alone and print the growth of peak RSS during training, in MiB."""
    def vm_hwm():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024

    set_threads(args.threads)
    sizes = [int(s) for s in args.sizes.split(",")]
    batch = int(args.batches.split(",")[0])
    if args.child == "torch":
        import torch  # noqa: F401  (import cost is not training memory)
    before = vm_hwm()
    if args.child == "torch":
        run = steps_runner(peers.torch_trainer(sizes, batch, args.opt, args.bn, args.dropout))
    else:
        run = fastnn_fit_runner(sizes, batch, args.opt, args.bn, args.dropout)
    run(args.steps)
    print(json.dumps({"peer": args.child, "batch": batch, "peak_rss_growth_mib": vm_hwm() - before}))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batches", default="32,128,1024")
    p.add_argument("--sizes", default="784,512,256,10")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--opt", choices=["sgd", "adam"], default="sgd")
    p.add_argument("--bn", action="store_true", help="BatchNorm after each hidden Dense")
    p.add_argument("--dropout", type=float, default=0.0, help="Dropout(p) after each hidden activation")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--memory", action="store_true", help="measure peak memory, each peer in its own process")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return peak_memory_child(args)
    set_threads(args.threads)
    print(json.dumps(environment()))
    if args.memory:
        for batch in args.batches.split(","):
            for peer in ("fastnn", "torch"):
                cmd = [sys.executable, __file__, "--child", peer, "--batches", batch, "--threads",
                       str(args.threads), "--sizes", args.sizes, "--steps", str(args.steps), "--opt", args.opt]
                cmd += ["--bn"] if args.bn else []
                cmd += ["--dropout", str(args.dropout)] if args.dropout else []
                print(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip())
        return
    for batch in [int(b) for b in args.batches.split(",")]:
        best = measure(args, batch)
        row = {"batch": batch, "opt": args.opt, "bn": args.bn, "dropout": args.dropout, "threads": args.threads,
               **{f"{k}_samples_per_s": round(v) for k, v in best.items()}}
        if "torch" in best:
            row["fastnn_over_torch"] = round(best["fastnn"] / best["torch"], 2)
            row["fastnn_step_over_torch"] = round(best["fastnn_step"] / best["torch"], 2)
        if "gemm_floor" in best:
            row["fastnn_over_floor"] = round(best["fastnn"] / best["gemm_floor"], 2)
            row["fastnn_step_over_floor"] = round(best["fastnn_step"] / best["gemm_floor"], 2)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
