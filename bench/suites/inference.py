"""Inference (predict) of the 784-512-256-10 MLP, float32, softmax probabilities out; time per call.

Two architectures (``arch``): ``relu`` (Dense + ReLU) and ``batchnorm`` (Dense, BatchNorm1d in evaluation mode,
ReLU). Every contender holds the same weights and gets the same inputs, so they compute the same function; each
records max |its output - the numpy forward| once, as a check. Two sources (``data``):

  * ``"gaussian"`` (default): He-scaled random weights (``peers.mlp_weights``, ``_bn_stats`` for the BatchNorms)
    and one standard-normal input batch (``peers.inputs``), every call the same;
  * the path of an .npz written by bench/fashion_mlp.py: the weights (and BatchNorm statistics) of the MLP
    trained on Fashion-MNIST, and test images (pixels / 255); the calls cycle through consecutive batches of
    them, as a service sees different requests (a zero pixel, about half of them, and a ReLU's zeros are what a
    batch-1 plan skips).

Contenders:

  * ``fastnn plan 1 thread``  ``fastnn.inference.compile(model).predict(x)`` (BatchNorm folded, one C call per
                     block of rows, result in a new array), the plan's default of 1 thread whatever the run's
                     ``--threads``; ``fastnn plan out= 1 thread`` writes into a preallocated one; ``fastnn plan 2
                     threads`` is compiled with ``threads=2``;
  * ``fastnn``       ``model.predict(x)`` (input checks, forward, softmax into a new array);
  * ``fastnn kernel``  the plan's C kernel alone (``fastnn.ops.infer.forward`` unchecked, one thread);
  * ``torch``        PyTorch eager, ``torch.inference_mode()`` entered per call, softmax, ``.numpy()``;
  * ``onnxruntime``  the same network as an ONNX graph (Gemm, [BatchNormalization], Relu, Softmax; built with
                     the onnx package), CPU provider, ``intra_op_num_threads`` = the run's threads, sequential
                     executor, all graph optimizations, default spinning, output bound once (IOBinding);
  * ``numpy``        a plain numpy forward (``x @ W``, in-place bias, BatchNorm and ReLU, softmax).

The ``overhead`` benchmark times a 2-2 network at batch 1: what a call costs beyond its arithmetic. Latency
percentiles (p99) per call: ``python bench/bench_inference.py`` (each contender in its own process too).
"""
from __future__ import annotations

import itertools
import os
import subprocess
import sys

import numpy as np
import peers
from harness import Benchmark, Contender, Unsupported, with_extra

SIZES = "784-512-256-10"
BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(BENCH, ".cache")


def data_source(data: str, arch: str = "relu", cache: str = CACHE) -> str:
    """The ``data`` argument of this suite's contenders for ``--data gaussian|fashion``: "gaussian", or the .npz of
    the MLP trained on Fashion-MNIST (bench/fashion_mlp.py, run in its own process if the file is missing)."""
    if data == "gaussian":
        return data
    path = os.path.join(cache, f"fashion_{arch}.npz")
    if not os.path.exists(path):
        subprocess.run([sys.executable, os.path.join(BENCH, "fashion_mlp.py"), "--out", cache, "--arch", arch],
                       check=True)
    return path


def _sizes(sizes: str) -> list[int]:
    return [int(s) for s in sizes.split("-")]


def _bn_stats(sizes, seed=2):
    """(gamma, beta, running_mean, running_var) per hidden layer, float32, away from the identity."""
    rng = np.random.default_rng(seed)
    return [(rng.uniform(0.5, 1.5, n).astype(np.float32), rng.normal(0, 0.1, n).astype(np.float32),
             rng.normal(0, 0.5, n).astype(np.float32), rng.uniform(0.5, 2, n).astype(np.float32))
            for n in sizes[1:-1]]


def _params(sizes, arch, data="gaussian"):
    """(weights [(W, b)], BatchNorm statistics per hidden layer or None) of ``data`` (see the module doc)."""
    if data == "gaussian":
        return peers.mlp_weights(sizes), _bn_stats(sizes) if arch == "batchnorm" else None
    with np.load(data) as f:
        n = len(sizes) - 1
        if f["sizes"].tolist() != sizes or str(f["arch"]) != arch:
            raise ValueError(f"{data} holds a {f['arch']} MLP of sizes {f['sizes'].tolist()}, not {arch} {sizes}")
        weights = [(f[f"W{k}"], f[f"b{k}"]) for k in range(n)]
        if arch != "batchnorm":
            return weights, None
        return weights, [tuple(f[f"{p}{k}"] for p in ("g", "beta", "mean", "var")) for k in range(n - 1)]


def _inputs(sizes, batch, data="gaussian") -> list[np.ndarray]:
    """The input batches the calls cycle through."""
    if data == "gaussian":
        return [peers.inputs(batch, sizes[0])]
    with np.load(data) as f:
        X = f["X"]
    if batch > len(X):
        raise ValueError(f"{data} holds {len(X)} input rows, fewer than a batch of {batch}")
    return [np.ascontiguousarray(X[i:i + batch]) for i in range(0, len(X) - batch + 1, batch)]


def _numpy_forward(x, weights, stats):
    if stats is None:
        return peers.numpy_forward(weights, x.copy())
    h = x
    for k, (W, b) in enumerate(weights):
        h = h @ W + b
        if k < len(weights) - 1:
            g, beta, mean, var = stats[k]
            h = np.maximum((h - mean) / np.sqrt(var + np.float32(1e-5)) * g + beta, 0)
    e = np.exp(h - h.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _timed(predict, sizes, batch, arch="relu", data="gaussian", settings=None):
    """One call = one prediction of the next input batch; extra: the deviation from the numpy forward (on the
    first batch), settings."""
    xs = _inputs(sizes, batch, data)
    batches = itertools.cycle(xs)

    def extra():
        ref = _numpy_forward(xs[0], *_params(sizes, arch, data))
        return {"max |out - numpy|": float(np.abs(np.asarray(predict(xs[0])) - ref).max()), **(settings or {})}

    return with_extra(lambda: predict(next(batches)), extra)


def fastnn_model(sizes, arch, data="gaussian"):
    import fastnn as fnn
    from suites import training

    model = training.fastnn_model(sizes, bn=arch == "batchnorm")
    weights, stats = _params(sizes, arch, data)
    stats = stats or [()] * len(weights)
    model.set_weights([a for (W, b), s in zip(weights, list(stats) + [()]) for a in (W, b, *s)])
    model.loss = fnn.losses.get("cross_entropy")  # predict returns softmax probabilities, as the peers do
    return model


def fastnn_predict(sizes, batch, arch="relu", data="gaussian"):
    sizes = _sizes(sizes)
    return _timed(fastnn_model(sizes, arch, data).predict, sizes, batch, arch, data)


def plan_predict(sizes, batch, arch="relu", out=False, plan_threads=1, data="gaussian", skip_zeros=True):
    import fastnn.inference
    from fastnn.ops import infer

    if not skip_zeros:
        infer.set_skip_zeros(False)  # the batch-1 row GEMV reads every row (the same results)
    sizes = _sizes(sizes)
    plan = fastnn.inference.compile(fastnn_model(sizes, arch, data), threads=plan_threads)
    if not out:
        return _timed(plan.predict, sizes, batch, arch, data, {"plan": plan.summary().splitlines()[0]})
    y = np.empty((batch, sizes[-1]), np.float32)
    return _timed(lambda x: plan.predict(x, out=y), sizes, batch, arch, data)


def kernel_predict(sizes, batch, arch="relu", data="gaussian"):
    """The plan's C kernel called directly (``fastnn.ops.infer.forward`` without its checks, one thread), each
    calling thread with its own output and scratch: the kernel's time without the plan's Python."""
    import threading

    import fastnn.inference
    from fastnn.ops import infer

    sizes = _sizes(sizes)
    program = fastnn.inference.compile(fastnn_model(sizes, arch, data)).program
    local = threading.local()

    def predict(x):
        if not hasattr(local, "y"):
            local.y = np.empty((batch, sizes[-1]), np.float32)
            local.scratch = np.empty(program.scratch_size(batch), np.float32)
        return infer.forward(program, x, local.y, local.scratch, "softmax", 1, False)

    return _timed(predict, sizes, batch, arch, data)


def torch_predict(sizes, batch, arch="relu", data="gaussian"):
    sizes = _sizes(sizes)
    return _timed(peers.torch_predictor(sizes, *_params(sizes, arch, data)), sizes, batch, arch, data)


def ort_predict(sizes, batch, threads, arch="relu", data="gaussian"):
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as e:
        raise Unsupported(f"onnxruntime/onnx not installed ({e})") from None
    sizes = _sizes(sizes)
    settings = {"intra_op_num_threads": threads, "inter_op_num_threads": 1, "execution": "sequential",
                "spinning": "default (on)"}
    graph = peers.onnx_model(sizes, *_params(sizes, arch, data))
    return _timed(peers.ort_predictor(sizes, batch, threads, graph), sizes, batch, arch, data, settings)


def numpy_predict(sizes, batch, arch="relu", data="gaussian"):
    sizes = _sizes(sizes)
    params = _params(sizes, arch, data)
    return _timed(lambda x: _numpy_forward(x, *params), sizes, batch, arch, data)


M = "suites.inference:"
# a plan runs the threads it was compiled with (1 by default), whatever the run's --threads: the label says so
CONTENDERS = [Contender("fastnn plan 1 thread", M + "plan_predict", preload=("fastnn.inference",)),
              Contender("fastnn plan out= 1 thread", M + "plan_predict", params={"out": True},
                        preload=("fastnn.inference",)),
              Contender("fastnn plan 2 threads", M + "plan_predict", params={"plan_threads": 2},
                        preload=("fastnn.inference",)),
              Contender("fastnn", M + "fastnn_predict", preload=("fastnn",)),
              Contender("torch", M + "torch_predict", preload=("torch",)),
              Contender("onnxruntime", M + "ort_predict"),
              Contender("numpy", M + "numpy_predict")]
BENCHMARKS = [
    Benchmark(
        name="predict", title="Inference, 784-512-256-10 MLP, float32, softmax probabilities",
        contenders=CONTENDERS, baseline="onnxruntime", unit="s",
        grid={"batch": [1, 16, 128, 1024], "arch": ["relu", "batchnorm"]}, fixed={"sizes": SIZES},
        quick_grid={"batch": [1, 128], "arch": ["relu"]},
        warmup=50, min_calls=20, min_time=0.5, rounds=5,
        notes="Time per predict call of the whole batch (samples/s = batch / time). The same weights and input "
              "everywhere; max |out - numpy forward| and the ONNX Runtime settings are listed below the table. "
              "Run with --threads 1 and --threads 2."),
    Benchmark(
        name="overhead", title="Per-call cost of a 2-2 network at batch 1 (what a call costs beyond arithmetic)",
        contenders=CONTENDERS, baseline="onnxruntime", unit="s", grid={"batch": [1]}, fixed={"sizes": "2-2"},
        warmup=200, min_calls=2000, min_time=0.3, rounds=5),
]
