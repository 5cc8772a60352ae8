"""Training throughput of an MLP (default 784-512-256-10, ReLU, cross entropy, float32), samples/s.

Contenders (each alone in its process):
  * ``fastnn``       ``model.fit`` (shuffled, rows gathered into the batch buffer, metrics): one call = one epoch
                     over the fixed data set of ``peers.N_BATCHES`` batches;
  * ``fastnn_step``  the same per-step slicing loop as the PyTorch peer (``model.loss_and_grad`` +
                     ``optimizer.step``): one call = ``peers.N_BATCHES`` steps;
  * ``torch``        PyTorch eager, the same network, optimizer and loop;
  * ``numpy``        a plain numpy MLP (SGD momentum only, no BatchNorm/Dropout);
  * ``gemm_floor``   only the matmuls of the same step into preallocated outputs: no BLAS-backed step beats it.
SGD is lr 0.01 momentum 0.9, Adam lr 1e-3 (torch.optim.Adam's default implementation) on every side.
The peak-RSS growth of each child (data set included) is reported too: what ``compare_mlp.py --memory``
measured.
"""
from __future__ import annotations

import peers
from harness import Benchmark, Contender


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


def fastnn_fit(sizes, batch, opt, bn, dropout):
    """One call: one ``fit`` epoch over ``peers.N_BATCHES`` batches."""
    sizes = _sizes(sizes)
    X, y = peers.data(batch, sizes[0], sizes[-1])
    model = fastnn_model(sizes, bn, dropout)
    optimizer = fastnn_optimizer(opt)

    def run():
        model.fit(X, y, optimizer=optimizer, epochs=1, batch_size=batch, verbose=0)
        return len(X)

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
    """A peer's step function as one call of ``peers.N_BATCHES`` steps."""
    def run():
        for i in range(peers.N_BATCHES):
            step(i)
        return peers.N_BATCHES * batch
    return run


def torch_step(sizes, batch, opt, bn, dropout):
    return _pass(peers.torch_trainer(_sizes(sizes), batch, opt, bn, dropout), batch)


def numpy_step(sizes, batch, opt, bn, dropout):
    return _pass(peers.numpy_trainer(_sizes(sizes), batch), batch)


def gemm_floor(sizes, batch, opt, bn, dropout):
    return _pass(peers.gemm_floor_trainer(_sizes(sizes), batch), batch)


def _plain_sgd(p):
    return p["opt"] == "sgd" and not p["bn"] and not p["dropout"]


CONTENDERS = [
    Contender("fastnn", "suites.training:fastnn_fit", preload=("fastnn",)),
    Contender("fastnn_step", "suites.training:fastnn_step", preload=("fastnn",)),
    Contender("torch", "suites.training:torch_step", preload=("torch",)),
    Contender("numpy", "suites.training:numpy_step", when=_plain_sgd),
    Contender("gemm_floor", "suites.training:gemm_floor", when=_plain_sgd),
]

BENCHMARKS = [
    Benchmark(
        name="mlp", title="Training throughput, 784-512-256-10 MLP, float32",
        contenders=CONTENDERS, baseline="torch", unit="items/s", items="samples",
        grid={"opt": ["sgd"], "batch": [32, 128, 1024]}, quick_grid={"batch": [128]},
        fixed={"sizes": "784-512-256-10", "bn": False, "dropout": 0.0},
        warmup=1, min_calls=2, min_time=1.0, rounds=5, report_memory=True,
        notes="fastnn = fit() epochs, fastnn_step = the same slicing loop as torch; gemm_floor = the step's "
              "matmuls alone. Peak RSS growth: from after the imports to the end of the child, data set "
              "included."),
]
