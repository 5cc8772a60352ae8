"""Inference (predict) of the 784-512-256-10 ReLU MLP, float32, softmax probabilities out; time per call.

Every contender holds the same weights (``peers.mlp_weights``) and gets the same input (``peers.inputs``), so
they compute the same function; each records max |its output - the numpy forward| once, as a check.

  * ``fastnn``       ``model.predict(x)`` (input checks, forward, softmax into a new array);
  * ``torch``        PyTorch eager, ``torch.inference_mode()`` entered per call, softmax, ``.numpy()``;
  * ``onnxruntime``  the same network as an ONNX graph (Gemm, Relu, Softmax; built with the onnx package, no
                     torch export), CPU provider, ``intra_op_num_threads`` = the run's threads, sequential
                     executor, all graph optimizations, default spinning, output bound once (IOBinding);
  * ``numpy``        a plain numpy forward (``x @ W``, in-place bias and ReLU, softmax).
"""
from __future__ import annotations

import numpy as np
import peers
from harness import Benchmark, Contender, Unsupported, with_extra

SIZES = "784-512-256-10"


def _sizes(sizes: str) -> list[int]:
    return [int(s) for s in sizes.split("-")]


def _timed(predict, sizes, batch, settings=None):
    """One call = one prediction of the batch; extra: the deviation from the numpy forward, settings."""
    x = peers.inputs(batch, sizes[0])

    def extra():
        ref = peers.numpy_forward(peers.mlp_weights(sizes), x.copy())
        return {"max |out - numpy|": float(np.abs(np.asarray(predict(x)) - ref).max()), **(settings or {})}

    return with_extra(lambda: predict(x), extra)


def fastnn_predict(sizes, batch):
    import fastnn as fnn
    from suites import training

    sizes = _sizes(sizes)
    model = training.fastnn_model(sizes)
    model.set_weights([a for W, b in peers.mlp_weights(sizes) for a in (W, b)])
    model.loss = fnn.losses.get("cross_entropy")  # predict returns softmax probabilities, as the peers do
    return _timed(model.predict, sizes, batch)


def torch_predict(sizes, batch):
    sizes = _sizes(sizes)
    return _timed(peers.torch_predictor(sizes), sizes, batch)


def ort_predict(sizes, batch, threads):
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as e:
        raise Unsupported(f"onnxruntime/onnx not installed ({e})") from None
    sizes = _sizes(sizes)
    settings = {"intra_op_num_threads": threads, "inter_op_num_threads": 1, "execution": "sequential",
                "spinning": "default (on)"}
    return _timed(peers.ort_predictor(sizes, batch, threads), sizes, batch, settings)


def numpy_predict(sizes, batch):
    sizes = _sizes(sizes)
    return _timed(peers.numpy_predictor(sizes), sizes, batch)


M = "suites.inference:"
BENCHMARKS = [
    Benchmark(
        name="predict", title="Inference, 784-512-256-10 MLP, float32, softmax probabilities",
        contenders=[Contender("fastnn", M + "fastnn_predict", preload=("fastnn",)),
                    Contender("torch", M + "torch_predict", preload=("torch",)),
                    Contender("onnxruntime", M + "ort_predict"),
                    Contender("numpy", M + "numpy_predict")],
        baseline="torch", unit="s", grid={"batch": [1, 32, 1024]}, fixed={"sizes": SIZES},
        warmup=50, min_calls=20, min_time=0.5, rounds=5,
        notes="Time per predict call of the whole batch (samples/s = batch / time). The same weights and input "
              "everywhere; max |out - numpy forward| and the ONNX Runtime settings are listed below the table."),
]
