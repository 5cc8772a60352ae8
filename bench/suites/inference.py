"""Inference (predict) of the 784-512-256-10 MLP, float32, softmax probabilities out; time per call.

Two architectures (``arch``): ``relu`` (Dense + ReLU) and ``batchnorm`` (Dense, BatchNorm1d in evaluation mode,
ReLU). Every contender holds the same weights (``peers.mlp_weights``, and ``_bn_stats`` for the BatchNorms) and
gets the same input (``peers.inputs``), so they compute the same function; each records max |its output - the
numpy forward| once, as a check.

  * ``fastnn plan``  ``fastnn.inference.compile(model).predict(x)`` (BatchNorm folded, one C call per block of
                     rows, result in a new array); ``fastnn plan out=`` writes into a preallocated one;
  * ``fastnn``       ``model.predict(x)`` (input checks, forward, softmax into a new array);
  * ``torch``        PyTorch eager, ``torch.inference_mode()`` entered per call, softmax, ``.numpy()``;
  * ``onnxruntime``  the same network as an ONNX graph (Gemm, [BatchNormalization], Relu, Softmax; built with
                     the onnx package), CPU provider, ``intra_op_num_threads`` = the run's threads, sequential
                     executor, all graph optimizations, default spinning, output bound once (IOBinding);
  * ``numpy``        a plain numpy forward (``x @ W``, in-place bias, BatchNorm and ReLU, softmax).

The ``overhead`` benchmark times a 2-2 network at batch 1: what a call costs beyond its arithmetic. Latency
percentiles (p99) per call: ``python bench/bench_inference.py`` (each contender in its own process too).
"""
from __future__ import annotations

import numpy as np
import peers
from harness import Benchmark, Contender, Unsupported, with_extra

SIZES = "784-512-256-10"


def _sizes(sizes: str) -> list[int]:
    return [int(s) for s in sizes.split("-")]


def _bn_stats(sizes, seed=2):
    """(gamma, beta, running_mean, running_var) per hidden layer, float32, away from the identity."""
    rng = np.random.default_rng(seed)
    return [(rng.uniform(0.5, 1.5, n).astype(np.float32), rng.normal(0, 0.1, n).astype(np.float32),
             rng.normal(0, 0.5, n).astype(np.float32), rng.uniform(0.5, 2, n).astype(np.float32))
            for n in sizes[1:-1]]


def _numpy_forward(sizes, arch, x, weights=None, stats=None):
    weights = peers.mlp_weights(sizes) if weights is None else weights
    if arch == "relu":
        return peers.numpy_forward(weights, x.copy())
    h = x
    stats = _bn_stats(sizes) if stats is None else stats
    for k, (W, b) in enumerate(weights):
        h = h @ W + b
        if k < len(weights) - 1:
            g, beta, mean, var = stats[k]
            h = np.maximum((h - mean) / np.sqrt(var + np.float32(1e-5)) * g + beta, 0)
    e = np.exp(h - h.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _timed(predict, sizes, batch, arch="relu", settings=None):
    """One call = one prediction of the batch; extra: the deviation from the numpy forward, settings."""
    x = peers.inputs(batch, sizes[0])

    def extra():
        ref = _numpy_forward(sizes, arch, x)
        return {"max |out - numpy|": float(np.abs(np.asarray(predict(x)) - ref).max()), **(settings or {})}

    return with_extra(lambda: predict(x), extra)


def fastnn_model(sizes, arch):
    import fastnn as fnn
    from suites import training

    model = training.fastnn_model(sizes, bn=arch == "batchnorm")
    weights = peers.mlp_weights(sizes)
    stats = _bn_stats(sizes) if arch == "batchnorm" else [()] * len(weights)
    model.set_weights([a for (W, b), s in zip(weights, stats + [()]) for a in (W, b, *s)])
    model.loss = fnn.losses.get("cross_entropy")  # predict returns softmax probabilities, as the peers do
    return model


def fastnn_predict(sizes, batch, arch="relu"):
    sizes = _sizes(sizes)
    return _timed(fastnn_model(sizes, arch).predict, sizes, batch, arch)


def plan_predict(sizes, batch, arch="relu", out=False, plan_threads=1):
    import fastnn.inference

    sizes = _sizes(sizes)
    plan = fastnn.inference.compile(fastnn_model(sizes, arch), threads=plan_threads)
    if not out:
        return _timed(plan.predict, sizes, batch, arch, {"plan": plan.summary().splitlines()[0]})
    y = np.empty((batch, sizes[-1]), np.float32)
    return _timed(lambda x: plan.predict(x, out=y), sizes, batch, arch)


def torch_predict(sizes, batch, arch="relu"):
    sizes = _sizes(sizes)
    if arch == "relu":
        return _timed(peers.torch_predictor(sizes), sizes, batch, arch)
    import torch

    model = peers.torch_mlp(sizes, bn=True).eval()
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    bns = [m for m in model if isinstance(m, torch.nn.BatchNorm1d)]
    with torch.no_grad():
        for linear, (W, b) in zip(linears, peers.mlp_weights(sizes)):
            linear.weight.copy_(torch.from_numpy(W.T.copy()))
            linear.bias.copy_(torch.from_numpy(b))
        for bn, (g, beta, mean, var) in zip(bns, _bn_stats(sizes)):
            for t, v in ((bn.weight, g), (bn.bias, beta), (bn.running_mean, mean), (bn.running_var, var)):
                t.copy_(torch.from_numpy(v))

    def predict(x):
        with torch.inference_mode():
            return torch.softmax(model(torch.from_numpy(x)), dim=1).numpy()

    return _timed(predict, sizes, batch, arch)


def _ort_bn_model(sizes) -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits, h = [], [], "x"
    weights, stats = peers.mlp_weights(sizes), _bn_stats(sizes)
    for k, (W, b) in enumerate(weights):
        inits += [numpy_helper.from_array(W, f"W{k}"), numpy_helper.from_array(b, f"b{k}")]
        nodes.append(helper.make_node("Gemm", [h, f"W{k}", f"b{k}"], [f"z{k}"]))
        h = f"z{k}"
        if k < len(weights) - 1:
            names = [f"{p}{k}" for p in ("g", "beta", "mean", "var")]
            inits += [numpy_helper.from_array(a, n) for a, n in zip(stats[k], names)]
            nodes.append(helper.make_node("BatchNormalization", [h] + names, [f"n{k}"], epsilon=1e-5))
            nodes.append(helper.make_node("Relu", [f"n{k}"], [f"h{k}"]))
            h = f"h{k}"
    nodes.append(helper.make_node("Softmax", [h], ["y"], axis=-1))
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", sizes[0]])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", sizes[-1]])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8).SerializeToString()


def ort_predict(sizes, batch, threads, arch="relu"):
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as e:
        raise Unsupported(f"onnxruntime/onnx not installed ({e})") from None
    sizes = _sizes(sizes)
    settings = {"intra_op_num_threads": threads, "inter_op_num_threads": 1, "execution": "sequential",
                "spinning": "default (on)"}
    graph = _ort_bn_model(sizes) if arch == "batchnorm" else None
    return _timed(peers.ort_predictor(sizes, batch, threads, graph), sizes, batch, arch, settings)


def numpy_predict(sizes, batch, arch="relu"):
    sizes = _sizes(sizes)
    weights, stats = peers.mlp_weights(sizes), _bn_stats(sizes)
    return _timed(lambda x: _numpy_forward(sizes, arch, x, weights, stats), sizes, batch, arch)


M = "suites.inference:"
CONTENDERS = [Contender("fastnn plan", M + "plan_predict", preload=("fastnn.inference",)),
              Contender("fastnn plan out=", M + "plan_predict", params={"out": True}, preload=("fastnn.inference",)),
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
