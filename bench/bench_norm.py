"""BatchNorm / LayerNorm / Dropout speed against PyTorch, measured in ONE process, interleaved.

    python bench/bench_norm.py [--threads 2] [--rounds 40] [--iters 10] [--mlp-rounds 8] [--no-mlp]

1. Kernels: BatchNorm and LayerNorm forward + backward at (1024, 512) float32, through the layer protocol
   (layer.forward in training mode, layer.backward with the input gradient, gamma/beta gradients) against
   torch.nn.BatchNorm1d / LayerNorm (module(x), y.backward(g), x.grad reset each call so torch reuses the
   incoming buffer instead of accumulating). Also Dropout(0.5) forward + backward vs torch.nn.Dropout.
   The inputs are standardized (variance + eps = 1 per feature / per row, gamma = 1) so fastnn's in-place
   backward, run thousands of times on the same buffer, stays a fixed point (no drift to overflow/denormals).
2. Training: the 784-512-256-10 MLP with BatchNorm and Dropout(0.2) after each hidden layer, SGD momentum,
   batch 128, samples/s against the same PyTorch network (bench/compare_mlp.py's runners).

Each round times every peer once; the best round counts (shared, noisy machines). Prints one JSON line per
measurement with the ratio torch_time / fastnn_time (> 1: fastnn faster).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fastnn as fnn  # noqa: E402
from fastnn.layers import BatchNorm, Dropout, LayerNorm, StepContext  # noqa: E402

ROWS, COLS = 1024, 512


def bound(layer, in_dim):
    layer.build(in_dim, np.float32)
    layer.bind({n: np.zeros(s, np.float32) for n, s, _ in layer.param_specs()},
               {n: np.zeros(s, np.float32) for n, s, _ in layer.param_specs()},
               {n: np.full(s, f, np.float32) for n, s, f in layer.buffer_specs()})
    layer.init_params(np.random.default_rng(0))
    return layer


def standardized(axis, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((ROWS, COLS))
    x -= x.mean(axis=axis, keepdims=True)
    x /= x.std(axis=axis, keepdims=True)
    x *= np.sqrt(1.0 - 1e-5)  # var + eps = 1: invstd = 1, the backward is an exact projection
    return np.ascontiguousarray(x, dtype=np.float32)


def fastnn_runner(kind):
    layer = {"bn": BatchNorm, "ln": LayerNorm, "dropout": lambda: Dropout(0.5)}[kind]()
    bound(layer, COLS)
    x = standardized(0 if kind == "bn" else 1)
    dy = standardized(0 if kind == "bn" else 1, seed=1)
    ws = layer.workspace(ROWS)
    ctx = StepContext(training=True, seed=0, step=0)

    if kind == "dropout":  # repeated in-place masking would zero dy: same kernel into a separate buffer
        from fastnn.ops.dropout import dropout_backward

        dx = np.empty_like(dy)

        def run():
            ctx.step += 1
            layer.forward(x, ws, ctx)
            dropout_backward(dy, ws.mask, dx, layer.p)

        return run, lambda: None

    def run():
        ctx.step += 1
        layer.forward(x, ws, ctx)
        layer.backward(dy, ws, ctx, True)  # dx lands in dy (in place), as inside a model

    def check():
        assert np.isfinite(dy).all() and np.abs(dy).max() > 1e-3, "benchmark input drifted"

    return run, check


def torch_runner(kind):
    import torch

    mod = {"bn": lambda: torch.nn.BatchNorm1d(COLS), "ln": lambda: torch.nn.LayerNorm(COLS),
           "dropout": lambda: torch.nn.Dropout(0.5)}[kind]().train()
    x = torch.from_numpy(standardized(0 if kind == "bn" else 1)).requires_grad_(True)
    g = torch.from_numpy(standardized(0 if kind == "bn" else 1, seed=1))

    def run():
        x.grad = None
        for p in mod.parameters():
            p.grad = None
        mod(x).backward(g)

    return run, lambda: None


def time_kernels(args) -> list[dict]:
    results = []
    for kind in ("bn", "ln", "dropout"):
        peers = {"fastnn": fastnn_runner(kind), "torch": torch_runner(kind)}
        best = {name: float("inf") for name in peers}
        for run, _ in peers.values():  # warm up: workspaces, thread pools, caches
            for _ in range(20):
                run()
        for _ in range(args.rounds):
            for name, (run, _) in peers.items():
                t = time.perf_counter()
                for _ in range(args.iters):
                    run()
                best[name] = min(best[name], (time.perf_counter() - t) / args.iters)
        for _, check in peers.values():
            check()
        row = {"bench": f"{kind}_fwd_bwd", "shape": [ROWS, COLS], "dtype": "float32", "threads": args.threads,
               "fastnn_us": round(best["fastnn"] * 1e6, 1), "torch_us": round(best["torch"] * 1e6, 1),
               "speedup_vs_torch": round(best["torch"] / best["fastnn"], 2)}
        print(json.dumps(row), flush=True)
        results.append(row)
    return results


def time_mlp(args) -> dict:
    import compare_mlp

    ns = argparse.Namespace(sizes="784,512,256,10", opt="sgd", bn=True, dropout=0.2, no_torch=False,
                            rounds=args.mlp_rounds, steps=args.mlp_steps)
    best = compare_mlp.measure(ns, 128)
    row = {"bench": "mlp_bn_dropout_train", "sizes": "784-512-256-10", "batch": 128, "dropout": 0.2, "opt": "sgd",
           "threads": args.threads, **{f"{k}_samples_per_s": round(v) for k, v in best.items()},
           "fit_speedup_vs_torch": round(best["fastnn"] / best["torch"], 2),
           "step_speedup_vs_torch": round(best["fastnn_step"] / best["torch"], 2)}
    print(json.dumps(row), flush=True)
    return row


def environment(args) -> dict:
    import torch

    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    env = {k: v for k, v in os.environ.items() if k.startswith(("OMP_", "GOMP_", "OPENBLAS_", "MKL_", "FASTNN_"))}
    return {"date": time.strftime("%Y-%m-%d %H:%M"), "cpu": cpu, "cpus": os.cpu_count(), "threads": args.threads,
            "loadavg_before": os.getloadavg()[0], "numpy": np.__version__, "torch": torch.__version__,
            "fastnn": fnn.__version__, "env": env,
            "parallel_threshold": fnn._config._state.parallel_threshold}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=40, help="short rounds: the best one is the least disturbed")
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--mlp-rounds", type=int, default=8)
    p.add_argument("--mlp-steps", type=int, default=40)
    p.add_argument("--no-mlp", action="store_true")
    args = p.parse_args()
    import torch

    fnn.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    print(json.dumps(environment(args)), flush=True)
    time_kernels(args)
    if not args.no_mlp:
        time_mlp(args)
    print(json.dumps({"loadavg_after": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
