"""Training throughput of an MLP (default 784-512-256-10, ReLU, cross entropy, float32), samples/s.

Contenders (each alone in its process):
  * ``fastnn``       ``model.fit`` (shuffled, rows gathered into the batch buffer, metrics): one call =
                     ``fit(epochs=FIT_EPOCHS)`` over the fixed data set of ``peers.N_BATCHES`` batches, so fit's
                     checks of X and its setup are paid once per ``FIT_EPOCHS * N_BATCHES`` steps (a real epoch
                     has thousands of batches; one 20-batch epoch per call charged each step 5-9% for them);
  * ``fastnn_step``  the same per-step slicing loop as the PyTorch peer (``model.loss_and_grad`` +
                     ``optimizer.step``): one call = ``peers.N_BATCHES`` steps;
  * ``torch``        PyTorch eager, the same network, optimizer and loop (torch.optim's default implementation:
                     on CPU a for-loop over the parameters);
  * ``torch_foreach`` / ``torch_fused``  the same with the optimizer's ``foreach=True`` / ``fused=True``
                     implementation (both run on CPU for SGD and Adam in torch 2.13);
  * ``torch_compile`` the same with torch.compile (inductor) on the model and on the optimizer step;
  * ``jax``          JAX: one jax.jit step (grad + optax SGD-momentum / Adam), the same loop (plain MLP only),
                     threads set through the CPU affinity (``peers.limit_jax_threads``), jax and optax imported
                     before the memory baseline as the other libraries are;
  * ``numpy``        a plain numpy MLP (SGD momentum only, no BatchNorm/Dropout);
  * ``gemm_floor``   only the matmuls of the same step into preallocated outputs: no BLAS-backed step beats it.
  * ``fastnn_gemm``  the same matmuls through fastnn's own gemm (fastnn.ops.gemm, what the Dense layers run):
                     the floor of fastnn's engine; ``fastnn`` / ``fastnn_gemm`` is the step's overhead on top.
SGD is lr 0.01 momentum 0.9, Adam lr 1e-3 on every side. The torch variants are one peer family: the table
below the main one quotes each fastnn row against the best of them (and against each other peer), paired per
round.
The compiled peers compile during their first steps, before the harness's warm-up pass; the first step's time
(trace + compile) is recorded below the table, never in the throughput. A compiler that fails here is reported
as n/a with its error, not dropped.
The peak-RSS growth of each child (data set included) is reported too: what ``compare_mlp.py --memory``
measured.
"""
from __future__ import annotations

import time

import peers
from harness import Benchmark, Contender, Unsupported, with_extra


def _sizes(sizes: str) -> list[int]:
    return [int(s) for s in sizes.split("-")]


def fastnn_model(sizes, bn=False, dropout=0.0):
    import fastnn as fnn
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


def fastnn_optimizer(opt):
    import fastnn as fnn

    return fnn.optim.Adam(lr=1e-3) if opt == "adam" else fnn.optim.SGD(lr=0.01, momentum=0.9)


# Epochs per fit call. Measured 2026-12-02 (batch 32, 2 threads, this VM): a call of 1 epoch of 20 batches took
# 1.05-1.09x the time per step of one call of 10 epochs (bench/fit_overhead.py); 5 epochs cut that share fivefold.
FIT_EPOCHS = 5


def fastnn_fit(sizes, batch, opt, bn, dropout):
    """One call: ``fit(epochs=FIT_EPOCHS)`` over ``peers.N_BATCHES`` batches (shuffled every epoch)."""
    sizes = _sizes(sizes)
    X, y = peers.data(batch, sizes[0], sizes[-1])
    model = fastnn_model(sizes, bn, dropout)
    optimizer = fastnn_optimizer(opt)

    def run():
        model.fit(X, y, optimizer=optimizer, epochs=FIT_EPOCHS, batch_size=batch, verbose=0)
        return FIT_EPOCHS * len(X)

    return run


def fastnn_step(sizes, batch, opt, bn, dropout):
    """One call: ``peers.N_BATCHES`` steps of loss_and_grad + optimizer.step on consecutive slices."""
    import fastnn as fnn

    sizes = _sizes(sizes)
    X, y = peers.data(batch, sizes[0], sizes[-1])
    model = fastnn_model(sizes, bn, dropout)
    optimizer = fastnn_optimizer(opt)
    optimizer.bind(model.layout)
    loss = fnn.losses.get("cross_entropy")
    T = loss.prepare_targets(y, len(y), sizes[-1], model.dtype)
    ctx = fnn.layers.StepContext(training=True)
    state = {"step": 0}

    def run():
        for i in range(peers.N_BATCHES):
            j = i * batch
            ctx.step = state["step"]
            state["step"] += 1
            model.loss_and_grad(X[j:j + batch], T[j:j + batch], loss, ctx)
            optimizer.step(model.params, model.grads)
        return peers.N_BATCHES * batch

    return run


def _pass(step, batch):
    """A peer's step function as one call of ``peers.N_BATCHES`` steps (waiting for queued work at the end)."""
    sync = getattr(step, "sync", lambda: None)

    def run():
        for i in range(peers.N_BATCHES):
            step(i)
        sync()
        return peers.N_BATCHES * batch
    return run


def _compiled_pass(step, batch, compiler, settings=None):
    """``_pass`` for a peer that compiles in its first step: that step is run and timed here (n/a with the
    error if the compiler fails), its time and the peer's settings recorded as extra."""
    sync = getattr(step, "sync", lambda: None)
    t0 = time.perf_counter()
    try:
        step(0)
        sync()
    except Exception as e:  # noqa: BLE001  (any compiler failure is a result to report)
        first_line = (str(e).strip().splitlines() or [""])[0][:200]
        raise Unsupported(f"{compiler} failed here: {type(e).__name__}: {first_line}") from None
    first = time.perf_counter() - t0
    return with_extra(_pass(step, batch), lambda: {"first step incl. compile s": first, **(settings or {})})


def torch_step(sizes, batch, opt, bn, dropout, impl="default"):
    return _pass(peers.torch_trainer(_sizes(sizes), batch, opt, bn, dropout, impl=impl), batch)


def torch_compile_step(sizes, batch, opt, bn, dropout):
    step = peers.torch_trainer(_sizes(sizes), batch, opt, bn, dropout, compiled=True)
    return _compiled_pass(step, batch, "torch.compile (inductor)")


def jax_step(sizes, batch, opt, bn, dropout, threads):
    if bn or dropout:
        raise Unsupported("the JAX peer is the plain MLP (no BatchNorm/Dropout)")
    settings = peers.limit_jax_threads(threads)
    return _compiled_pass(peers.jax_trainer(_sizes(sizes), batch, opt), batch, "jax.jit", settings)


def numpy_step(sizes, batch, opt, bn, dropout):
    return _pass(peers.numpy_trainer(_sizes(sizes), batch), batch)


def gemm_floor(sizes, batch, opt, bn, dropout):
    return _pass(peers.gemm_floor_trainer(_sizes(sizes), batch), batch)


def fastnn_gemm(sizes, batch, opt, bn, dropout):
    from fastnn.ops import gemm as fastnn_gemm_ops

    return _pass(peers.gemm_floor_trainer(_sizes(sizes), batch, matmul=fastnn_gemm_ops.gemm), batch)


def _plain_sgd(p):
    return p["opt"] == "sgd" and not p["bn"] and not p["dropout"]


CONTENDERS = [
    Contender("fastnn", "suites.training:fastnn_fit", preload=("fastnn",)),
    Contender("fastnn_step", "suites.training:fastnn_step", preload=("fastnn",)),
    Contender("torch", "suites.training:torch_step", preload=("torch",), family="torch"),
    Contender("torch_foreach", "suites.training:torch_step", params={"impl": "foreach"}, preload=("torch",),
              family="torch"),
    Contender("torch_fused", "suites.training:torch_step", params={"impl": "fused"}, preload=("torch",),
              family="torch"),
    Contender("torch_compile", "suites.training:torch_compile_step", preload=("torch",), family="torch"),
    Contender("jax", "suites.training:jax_step", preload=("jax", "optax")),
    Contender("numpy", "suites.training:numpy_step", when=_plain_sgd),
    Contender("gemm_floor", "suites.training:gemm_floor", when=_plain_sgd),
    Contender("fastnn_gemm", "suites.training:fastnn_gemm", preload=("fastnn",), when=_plain_sgd),
]

# Seconds each child times its contender. The 2-core VMs these figures come from change speed in phases of 1-2 s
# (one process, 40 fit calls at batch 128: 62-132k samples/s in runs of 5-10 calls; bench/RESULTS.md, sixteenth
# session): a 1-s window timed one phase, and fit's median at 128 was 84k with it, 118k with 4-s windows.
MLP_MIN_TIME = 3.0

BENCHMARKS = [
    Benchmark(
        name="mlp", title="Training throughput, 784-512-256-10 MLP, float32",
        contenders=CONTENDERS, baseline="torch", unit="items/s", items="samples",
        grid={"opt": ["sgd"], "batch": [32, 128, 1024]}, quick_grid={"batch": [128]},
        fixed={"sizes": "784-512-256-10", "bn": False, "dropout": 0.0},
        warmup=1, min_calls=2, min_time=MLP_MIN_TIME, rounds=5, report_memory=True,
        notes="fastnn = fit() epochs, fastnn_step = the same slicing loop as torch; torch = eager with "
              "torch.optim's default (for-loop) update, torch_foreach / torch_fused = its foreach / fused "
              "update; torch_compile = torch.compile (inductor) of the model and the optimizer step; jax = "
              "jax.jit + optax, threads through the CPU affinity (its settings below the table); gemm_floor = the "
              "step's matmuls alone (numpy's OpenBLAS, its kernel named above), fastnn_gemm = the same through "
              "fastnn's gemm. "
              "Peak RSS growth: from after the imports to the end of the child, data set included (for the "
              "compiled peers also the compiler's)."),
]
