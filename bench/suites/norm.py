"""BatchNorm / LayerNorm / Dropout speed against PyTorch.

  * ``kernels``  forward + backward at (1024, 512) float32 through the layer protocol (``layer.forward`` in
                 training mode, ``layer.backward`` with the input gradient, gamma/beta gradients) against
                 torch.nn.BatchNorm1d / LayerNorm (``module(x)``, ``y.backward(g)``, x.grad reset each call so
                 torch reuses the incoming buffer instead of accumulating); Dropout(0.5) forward + backward vs
                 torch.nn.Dropout. The inputs are standardized (variance + eps = 1 per feature / per row,
                 gamma = 1) so fastnn's in-place backward, run thousands of times on the same buffer, stays a
                 fixed point (no drift to overflow/denormals); the fastnn child checks that at the end.
  * ``training`` the 784-512-256-10 MLP with BatchNorm and Dropout(0.2) after each hidden layer, SGD momentum,
                 batch 128, samples/s against the same PyTorch network, eager (default, foreach and fused
                 optimizer update) and torch.compile (the training suite's contenders).
"""
from __future__ import annotations

import numpy as np
from harness import Benchmark, Contender, with_extra

from suites import training

ROWS, COLS = 1024, 512


def standardized(axis, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((ROWS, COLS))
    x -= x.mean(axis=axis, keepdims=True)
    x /= x.std(axis=axis, keepdims=True)
    x *= np.sqrt(1.0 - 1e-5)  # var + eps = 1: invstd = 1, the backward is an exact projection
    return np.ascontiguousarray(x, dtype=np.float32)


def _bound(layer, in_dim):
    layer.build(in_dim, np.float32)
    layer.bind({n: np.zeros(s, np.float32) for n, s, _ in layer.param_specs()},
               {n: np.zeros(s, np.float32) for n, s, _ in layer.param_specs()},
               {n: np.full(s, f, np.float32) for n, s, f in layer.buffer_specs()})
    layer.init_params(np.random.default_rng(0))
    return layer


def fastnn_kernel(kind):
    from fastnn.layers import BatchNorm, Dropout, LayerNorm, StepContext

    layer = _bound({"bn": BatchNorm, "ln": LayerNorm, "dropout": lambda: Dropout(0.5)}[kind](), COLS)
    axis = 0 if kind == "bn" else 1
    x, dy = standardized(axis), standardized(axis, seed=1)
    ws = layer.workspace(ROWS)
    ctx = StepContext(training=True, seed=0, step=0)

    if kind == "dropout":  # repeated in-place masking would zero dy: same kernel into a separate buffer
        from fastnn.ops.dropout import dropout_backward

        dx = np.empty_like(dy)

        def run():
            ctx.step += 1
            layer.forward(x, ws, ctx)
            dropout_backward(dy, ws.mask, dx, layer.p)

        return run

    def run():
        ctx.step += 1
        layer.forward(x, ws, ctx)
        layer.backward(dy, ws, ctx, True)  # dx lands in dy (in place), as inside a model

    def check():
        assert np.isfinite(dy).all() and np.abs(dy).max() > 1e-3, "benchmark input drifted"
        return {"input_stayed_finite": True}

    return with_extra(run, check)


def torch_kernel(kind):
    import torch

    mod = {"bn": lambda: torch.nn.BatchNorm1d(COLS), "ln": lambda: torch.nn.LayerNorm(COLS),
           "dropout": lambda: torch.nn.Dropout(0.5)}[kind]().train()
    axis = 0 if kind == "bn" else 1
    x = torch.from_numpy(standardized(axis)).requires_grad_(True)
    g = torch.from_numpy(standardized(axis, seed=1))

    def run():
        x.grad = None
        for p in mod.parameters():
            p.grad = None
        mod(x).backward(g)

    return run


BENCHMARKS = [
    Benchmark(
        name="kernels", title="BatchNorm, LayerNorm, Dropout(0.5) forward + backward at (1024, 512) float32",
        contenders=[Contender("fastnn", "suites.norm:fastnn_kernel", preload=("fastnn",)),
                    Contender("torch", "suites.norm:torch_kernel", preload=("torch",))],
        baseline="torch", unit="s", grid={"kind": ["bn", "ln", "dropout"]}, warmup=20, min_calls=10,
        min_time=0.5, rounds=7),
    Benchmark(
        name="training", title="Training throughput, 784-512-256-10 with BatchNorm + ReLU + Dropout(0.2), SGD "
                               "momentum, float32",
        contenders=[c for c in training.CONTENDERS
                    if c.name in ("fastnn", "fastnn_step", "torch", "torch_foreach", "torch_fused", "torch_compile")],
        baseline="torch", unit="items/s", items="samples", grid={"batch": [128]},
        fixed={"sizes": "784-512-256-10", "opt": "sgd", "bn": True, "dropout": 0.2},
        warmup=1, min_calls=2, min_time=1.0, rounds=5),
]
