"""Optimizer step benchmarks: fastnn's fused kernels vs torch.optim (fused=True / foreach=True / for-loop).

  * ``step``       one step over ``n`` float32 parameters (default 10M) for Adam, AdamW, RMSprop, SGD-momentum
                   and Adam with global-norm clipping; torch gets the parameters as 10 tensors of n/10 (like
                   ../shared/peers/torch_kernels.py) or as one tensor of n. ``extra`` gives fastnn's GB/s: the
                   bytes the update must move (Adam: read p, g, m, v; write p, m, v = 28 B/param).
  * ``mlp_step``   the optimizer step alone for the 535,818 parameters of the 784-512-256-10 MLP (6 tensors in
                   torch): what a training loop pays per step, fastnn serial vs 2 threads.
  * ``train_step`` a full Adam training step (batch 128) of that MLP through ``Sequential.train_step``, the
                   optimizer serial, 2 threads or left to ``threads_for``, next to PyTorch's step.
  * ``contention`` (not run by default) the SGD training loop while a busy-loop process occupies one core:
                   fastnn at 1 and 2 threads under each libgomp wait policy, its load-adaptive thread count on
                   (what this measures), next to PyTorch (default and fused update) at 1 and 2 threads.
"""
from __future__ import annotations

import contextlib
import subprocess
import sys
import time

import numpy as np
from harness import Benchmark, Contender, Unsupported, with_extra

BYTES_PER_PARAM = {"Adam": 7, "AdamW": 7, "RMSprop": 5, "SGD-momentum": 5, "Adam+clip": 8}
MLP = (784, 512, 256, 10)
MLP_BATCH = 128


def mlp_tensor_shapes():
    out = []
    for i in range(len(MLP) - 1):
        out += [(MLP[i + 1], MLP[i]), (MLP[i + 1],)]
    return out


MLP_PARAMS = sum(int(np.prod(s)) for s in mlp_tensor_shapes())


def fastnn_optimizer_step(optimizer, n, opt_threads=None):
    """One fused step of ``optimizer`` over n float32 parameters in one flat buffer."""
    from fastnn import clip as C
    from fastnn import optim
    from fastnn._layout import ParamLayout

    layout = ParamLayout.pack([("0.W", (n,), "weight", 0)], np.float32)
    rng = np.random.default_rng(0)
    p = rng.standard_normal(n, dtype=np.float32)
    g = rng.standard_normal(n, dtype=np.float32)
    opt, clip = {
        "Adam": (optim.Adam(lr=1e-3), None),
        "AdamW": (optim.AdamW(lr=1e-3), None),
        "RMSprop": (optim.RMSprop(lr=1e-3), None),
        "SGD-momentum": (optim.SGD(lr=1e-3, momentum=0.9), None),
        "Adam+clip": (optim.Adam(lr=1e-3), C.ByGlobalNorm(1.0)),
    }[optimizer]
    opt.bind(layout)
    opt.n_threads = opt_threads
    return lambda: opt.step(p, g, clip=clip)


def torch_optimizer_step(optimizer, shapes, mode):
    """mode: 'fused', 'foreach' or 'loop'; Unsupported where torch has no such implementation."""
    import torch

    params = [torch.nn.Parameter(torch.randn(s)) for s in shapes]
    for q in params:
        q.grad = torch.randn_like(q)
    kw = {"fused": {"fused": True}, "foreach": {"foreach": True}, "loop": {"foreach": False}}[mode]
    cls, args = {
        "Adam": (torch.optim.Adam, {"lr": 1e-3}),
        "Adam+clip": (torch.optim.Adam, {"lr": 1e-3}),
        "AdamW": (torch.optim.AdamW, {"lr": 1e-3}),
        "RMSprop": (torch.optim.RMSprop, {"lr": 1e-3}),
        "SGD-momentum": (torch.optim.SGD, {"lr": 1e-3, "momentum": 0.9}),
    }[optimizer]
    try:
        opt = cls(params, **args, **kw)
    except (TypeError, RuntimeError, ValueError) as e:
        raise Unsupported(f"torch {optimizer} {mode}: {e}") from None
    if optimizer == "Adam+clip":  # torch: a clip_grad_norm_ pass, then the step
        foreach = mode != "loop"

        def step():
            torch.nn.utils.clip_grad_norm_(params, 1.0, foreach=foreach)
            opt.step()
        return step
    return opt.step


# ---- step over n parameters

def fastnn_step(optimizer, n):
    fn = fastnn_optimizer_step(optimizer, n)

    def extra():
        t0, calls = time.perf_counter(), 0
        while time.perf_counter() - t0 < 0.2 or calls < 3:
            fn()
            calls += 1
        return {"GB/s": BYTES_PER_PARAM[optimizer] * 4 * n * calls / (time.perf_counter() - t0) / 1e9}

    return with_extra(fn, extra)


def torch_step(optimizer, n, tensors, mode):
    return torch_optimizer_step(optimizer, [n // tensors] * tensors, mode)


# ---- the MLP's optimizer step alone

def fastnn_mlp_step(optimizer, opt_threads):
    return fastnn_optimizer_step(optimizer, MLP_PARAMS, opt_threads)


def torch_mlp_step(optimizer, mode):
    return torch_optimizer_step(optimizer, mlp_tensor_shapes(), mode)


# ---- full training step

def _mlp_data(batch):
    rng = np.random.default_rng(0)
    return rng.standard_normal((batch * 20, MLP[0]), dtype=np.float32), rng.integers(0, MLP[-1], batch * 20)


def fastnn_train_step(opt_threads, blas_threads=None, steps=1):
    """``steps`` Adam training steps through ``Sequential.train_step``; optionally numpy's BLAS limited to
    ``blas_threads`` around them (threadpoolctl)."""
    import fastnn
    from fastnn import optim
    from fastnn.layers import Dense

    batch = MLP_BATCH
    X, y = _mlp_data(batch)
    model = fastnn.Sequential([Dense(MLP[1], activation="relu"), Dense(MLP[2], activation="relu"),
                               Dense(MLP[3])], input_dim=MLP[0], dtype="float32", seed=0)
    opt = optim.Adam(lr=1e-3)
    opt.n_threads = opt_threads
    state = {"i": 0}

    def limits():
        if blas_threads is None:
            return contextlib.nullcontext()
        from threadpoolctl import threadpool_limits

        return threadpool_limits(limits=blas_threads, user_api="blas")

    def run():
        with limits():
            for _ in range(steps):
                j = (state["i"] % 20) * batch
                state["i"] += 1
                model.train_step(X[j:j + batch], y[j:j + batch], optimizer=opt)
        return steps * batch

    return run


def torch_train_step(fused=False, steps=1):
    import torch

    batch = MLP_BATCH
    X, y = _mlp_data(batch)
    model = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 256),
                                torch.nn.ReLU(), torch.nn.Linear(256, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, **({"fused": True} if fused else {}))
    lossf = torch.nn.CrossEntropyLoss()
    tX, tY = torch.from_numpy(X), torch.from_numpy(y)
    state = {"i": 0}

    def run():
        for _ in range(steps):
            j = (state["i"] % 20) * batch
            state["i"] += 1
            opt.zero_grad(set_to_none=True)
            lossf(model(tX[j:j + batch]), tY[j:j + batch]).backward()
            opt.step()
        return steps * batch

    return run


@contextlib.contextmanager
def one_core_busy():
    """A process that keeps one core busy for the whole benchmark."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        yield
    finally:
        hog.kill()
        hog.wait()


M = "suites.optim:"
OPTIMIZERS = ["Adam", "AdamW", "RMSprop", "SGD-momentum", "Adam+clip"]

BENCHMARKS = [
    Benchmark(
        name="step", title="One optimizer step over n float32 parameters",
        contenders=[Contender("fastnn", M + "fastnn_step", preload=("fastnn",)),
                    Contender("torch fused 10x", M + "torch_step", params={"tensors": 10, "mode": "fused"},
                              family="torch"),
                    Contender("torch fused 1x", M + "torch_step", params={"tensors": 1, "mode": "fused"},
                              family="torch"),
                    Contender("torch foreach", M + "torch_step", params={"tensors": 10, "mode": "foreach"},
                              family="torch"),
                    Contender("torch for-loop", M + "torch_step", params={"tensors": 10, "mode": "loop"},
                              family="torch")],
        baseline="torch fused 10x", unit="s", grid={"optimizer": OPTIMIZERS, "n": [10_000_000]},
        quick_grid={"optimizer": ["Adam", "RMSprop"], "n": [1_000_000]}, warmup=2, min_calls=5, min_time=0.3,
        rounds=5, notes="torch gets the parameters as 10 tensors of n/10 (10x) or one tensor (1x); torch has no "
                        "fused RMSprop; Adam+clip is clip_grad_norm_ then the step in torch, one fused pass in "
                        "fastnn. fastnn's GB/s (bytes the update must move) is listed below the table."),
    Benchmark(
        name="mlp_step", title="Optimizer step alone, 784-512-256-10 MLP (535,818 float32 parameters)",
        contenders=[Contender("fastnn serial", M + "fastnn_mlp_step", params={"opt_threads": 1},
                              preload=("fastnn",)),
                    Contender("fastnn 2 threads", M + "fastnn_mlp_step", params={"opt_threads": 2},
                              preload=("fastnn",)),
                    Contender("torch fused", M + "torch_mlp_step", params={"mode": "fused"}, family="torch"),
                    Contender("torch foreach", M + "torch_mlp_step", params={"mode": "foreach"}, family="torch"),
                    Contender("torch for-loop", M + "torch_mlp_step", params={"mode": "loop"}, family="torch")],
        baseline="torch fused", unit="s", grid={"optimizer": ["Adam", "SGD-momentum"]},
        quick_grid={"optimizer": ["Adam"]}, warmup=5, min_calls=20, min_time=0.3, rounds=5),
    Benchmark(
        name="train_step", title="Adam training step, 784-512-256-10, batch 128, float32",
        contenders=[Contender("fastnn opt serial", M + "fastnn_train_step", params={"opt_threads": 1},
                              preload=("fastnn",)),
                    Contender("fastnn opt 2 threads", M + "fastnn_train_step", params={"opt_threads": 2},
                              preload=("fastnn",)),
                    Contender("fastnn default", M + "fastnn_train_step", params={"opt_threads": None},
                              preload=("fastnn",)),
                    Contender("torch Adam (default)", M + "torch_train_step", preload=("torch",), family="torch"),
                    Contender("torch Adam fused", M + "torch_train_step", params={"fused": True},
                              preload=("torch",), family="torch")],
        baseline="torch Adam (default)", unit="items/s", items="samples", warmup=5, min_calls=20, min_time=0.5,
        rounds=5),
    Benchmark(
        name="contention", title="Training step with another process keeping one core busy (issue 11: load)",
        contenders=[Contender(f"fastnn {t} thread(s){' ' + label if label else ''}", "suites.training:fastnn_fit",
                              params={"threads": t}, env=env, preload=("fastnn",))
                    for label, env in (("", {}), ("OMP_WAIT_POLICY=PASSIVE", {"OMP_WAIT_POLICY": "PASSIVE"}),
                                       ("GOMP_SPINCOUNT=10000", {"GOMP_SPINCOUNT": "10000"}))
                    for t in (1, 2)]
        + [Contender(f"torch{' fused' if impl == 'fused' else ''} {t} thread(s)", "suites.training:torch_step",
                     params={"threads": t, "impl": impl}, preload=("torch",), family="torch")
           for impl in ("default", "fused") for t in (1, 2)],
        baseline="fastnn 1 thread(s)", unit="items/s", items="samples", grid={"batch": [32, 128]},
        fixed={"sizes": "784-512-256-10", "opt": "sgd", "bn": False, "dropout": 0.0},
        warmup=1, min_calls=3, min_time=0.5, rounds=3, default=False, around=one_core_busy,
        fastnn_adaptive_threads=True,
        notes="fastnn = fit() epochs of the 784-512-256-10 SGD-momentum MLP (suites.training), torch = the same "
              "loop in PyTorch eager (its default and its fused optimizer update), each at 1 and 2 threads: "
              "fastnn is quoted against torch's best row below the table. A busy-loop process occupies one of "
              "the 2 cores for the whole run (it counts among the other processes in the header). "
              "fastnn rows without a setting: fastnn's default (a brief spin, GOMP_SPINCOUNT=10000, and the "
              "thread count adapted to the free cores); a row naming a setting has it in its environment, which "
              "turns the adaptation off (the former default was OMP_WAIT_POLICY=PASSIVE)."),
]
