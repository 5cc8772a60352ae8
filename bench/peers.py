"""The peers fastnn's benchmarks measure against, on the same shapes.

Training: each ``*_trainer(sizes, batch, ...)`` returns ``step``: ``step(i)`` runs one training step on
mini-batch ``i`` of a fixed random data set (``data``). A peer that dispatches asynchronously (JAX) gives its
step a ``sync()`` that waits for the queued work; a timed pass must call it. Inference: each ``*_predictor``
returns ``predict(x)`` for a network with the weights of ``mlp_weights``, so every peer computes the same
function (softmax probabilities). Adapted from ../shared/peers (torch_mlp.py, numpy_mlp.py, gemm_floor.py,
ort_mlp.py). bench/harness.py runs each peer alone in its own process; the heavy libraries are imported inside
the functions, so a process loads only its own peer.
"""
from __future__ import annotations

import os
import sys

import numpy as np

N_BATCHES = 20


def data(batch: int, n_in: int, n_out: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch * N_BATCHES, n_in), dtype=np.float32)
    y = rng.integers(0, n_out, batch * N_BATCHES)
    return X, y


def torch_mlp(sizes, bn=False, dropout=0.0):
    """The MLP as a torch.nn.Sequential: Linear, [BatchNorm1d], ReLU, [Dropout] per hidden layer."""
    import torch

    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            if bn:
                layers.append(torch.nn.BatchNorm1d(sizes[i + 1]))
            layers.append(torch.nn.ReLU())
            if dropout:
                layers.append(torch.nn.Dropout(dropout))
    return torch.nn.Sequential(*layers)


TORCH_OPTIMIZER_IMPLS = {"default": {}, "foreach": {"foreach": True}, "fused": {"fused": True}}


def torch_optimizer_options(impl: str) -> dict:
    """torch.optim keyword arguments of an implementation: "default" (on CPU torch's per-parameter for-loop),
    "foreach" (multi-tensor) or "fused" (one kernel; CPU support for SGD, Adam and AdamW since torch 2.4)."""
    if impl not in TORCH_OPTIMIZER_IMPLS:
        raise ValueError(f"impl must be one of {sorted(TORCH_OPTIMIZER_IMPLS)}, not {impl!r}")
    return dict(TORCH_OPTIMIZER_IMPLS[impl])


def torch_trainer(sizes, batch, opt="sgd", bn=False, dropout=0.0, compiled=False, impl="default"):
    """PyTorch eager, or with ``compiled`` torch.compile (inductor, default mode) of the model (forward and,
    through AOTAutograd, backward) and of the optimizer step (PyTorch's "compiling the optimizer" recipe). The
    compilation happens in the first steps: warm up before timing. ``impl``: the optimizer's implementation
    (``torch_optimizer_options``)."""
    import torch

    model = torch_mlp(sizes, bn, dropout)
    options = torch_optimizer_options(impl)
    optimizer = {"adam": lambda: torch.optim.Adam(model.parameters(), 1e-3, **options),
                 "sgd": lambda: torch.optim.SGD(model.parameters(), 0.01, momentum=0.9, **options)}[opt]()
    forward = torch.compile(model) if compiled else model

    def optimizer_step():
        optimizer.step()

    update = torch.compile(optimizer_step) if compiled else optimizer_step
    lossf = torch.nn.CrossEntropyLoss()
    X, y = data(batch, sizes[0], sizes[-1])
    X, Y = torch.from_numpy(X), torch.from_numpy(y)

    def step(i):
        j = (i % N_BATCHES) * batch
        optimizer.zero_grad(set_to_none=True)
        loss = lossf(forward(X[j:j + batch]), Y[j:j + batch])
        loss.backward()
        update()

    return step


def limit_jax_threads(threads: int) -> dict:
    """Give JAX ``threads`` threads; call before JAX creates its CPU client (importing jax and optax first is
    fine: the client, its thread pool and the XLA_FLAGS it reads come with the first computation). Returns the
    settings, for the record.

    jax (0.10) has no thread setting: XLA's CPU client sizes its intra-op pool by the process's CPU affinity
    mask, so the mask is cut to ``threads`` cores. With one thread, ``--xla_cpu_multi_thread_eigen=false`` also
    keeps matmuls on the calling thread (jax-ml/jax#743, #1539). The often quoted ``intra_op_parallelism_threads``
    is not an XLA flag (it is accepted and ignored).
    """
    if _jax_backend_started():
        raise RuntimeError("limit_jax_threads must run before JAX creates its CPU client (before any computation)")
    settings = {}
    allowed = sorted(os.sched_getaffinity(0))
    if threads < len(allowed):
        os.sched_setaffinity(0, allowed[:threads])
        settings["cpu_affinity"] = ",".join(map(str, allowed[:threads]))
    if threads == 1:
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_cpu_multi_thread_eigen" not in flags:
            os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false").strip()
    settings["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "(unset)")
    settings["xla_pool_cores"] = len(os.sched_getaffinity(0))
    return settings


def _jax_backend_started() -> bool:
    if "jax" not in sys.modules:
        return False
    from jax._src import xla_bridge

    return xla_bridge.backends_are_initialized()


def jax_trainer(sizes, batch, opt="sgd"):
    """The same MLP, loss and optimizer in JAX: one ``jax.jit`` step (value_and_grad + optax update, parameters
    and optimizer state donated), optax.sgd(0.01, momentum=0.9) or optax.adam(1e-3) (torch's update rules and
    defaults). The mini-batches are put on the device once, as torch's are views of one tensor."""
    import functools

    import jax
    import jax.numpy as jnp
    import optax

    tx = optax.adam(1e-3) if opt == "adam" else optax.sgd(0.01, momentum=0.9)
    params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in mlp_weights(sizes)]
    last = len(params) - 1

    def loss_fn(params, x, y):
        h = x
        for k, (W, b) in enumerate(params):
            h = h @ W + b
            if k < last:
                h = jax.nn.relu(h)
        return optax.softmax_cross_entropy_with_integer_labels(h, y).mean()

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def train_step(params, opt_state, x, y):
        grads = jax.grad(loss_fn)(params, x, y)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    X, y = data(batch, sizes[0], sizes[-1])
    batches = [(jax.device_put(X[j:j + batch]), jax.device_put(y[j:j + batch].astype(np.int32)))
               for j in range(0, len(X), batch)]
    state = {"params": params, "opt_state": tx.init(params)}

    def step(i):
        x, yb = batches[i % N_BATCHES]
        state["params"], state["opt_state"] = train_step(state["params"], state["opt_state"], x, yb)

    step.sync = lambda: jax.block_until_ready(state["params"])
    return step


def numpy_trainer(sizes, batch, opt="sgd"):
    """A plain numpy MLP, no fusion: the level a quick hand-written version reaches."""
    rng = np.random.default_rng(0)
    L = len(sizes) - 1
    W = [rng.standard_normal((sizes[i], sizes[i + 1]), dtype=np.float32) * np.float32(np.sqrt(2 / sizes[i]))
         for i in range(L)]
    b = [np.zeros(sizes[i + 1], np.float32) for i in range(L)]
    params = W + b
    m = [np.zeros_like(q) for q in params]
    X, Y = data(batch, sizes[0], sizes[-1])

    def step(i):
        j = (i % N_BATCHES) * batch
        x, y = X[j:j + batch], Y[j:j + batch]
        hs = [x]
        for k in range(L):
            z = hs[-1] @ W[k] + b[k]
            hs.append(np.maximum(z, 0) if k < L - 1 else z)
        z = hs[-1] - hs[-1].max(1, keepdims=True)
        e = np.exp(z)
        g = e / e.sum(1, keepdims=True)
        g[np.arange(len(y)), y] -= 1
        g /= len(y)
        grads_W, grads_b = [None] * L, [None] * L
        for k in reversed(range(L)):
            grads_W[k], grads_b[k] = hs[k].T @ g, g.sum(0)
            if k:
                g = (g @ W[k].T) * (hs[k] > 0)
        for q, gq, mq in zip(params, grads_W + grads_b, m):
            mq *= 0.9
            mq += gq
            q -= 0.01 * mq

    return step


def gemm_floor_trainer(sizes, batch, matmul=None):
    """Only the matmuls of one training step, into preallocated outputs: no BLAS-backed step beats it.
    ``matmul(a, b, out)``: numpy's (OpenBLAS) by default; fastnn's gemm for the floor of fastnn's own engine."""
    matmul = matmul or (lambda a, b, out: np.matmul(a, b, out=out))
    rng = np.random.default_rng(0)
    L = len(sizes) - 1
    W = [rng.standard_normal((sizes[i], sizes[i + 1]), dtype=np.float32) for i in range(L)]
    H = [rng.standard_normal((batch, n), dtype=np.float32) for n in sizes]
    G = [rng.standard_normal((batch, n), dtype=np.float32) for n in sizes]
    dW = [np.empty_like(w) for w in W]

    def step(i):
        for k in range(L):
            matmul(H[k], W[k], H[k + 1])
        for k in reversed(range(L)):
            matmul(H[k].T, G[k + 1], dW[k])
            if k:
                matmul(G[k + 1], W[k].T, G[k])

    return step


# ------------------------------------------------------------------------------------------------- inference


def mlp_weights(sizes, seed=0):
    """[(W (in, out), b (out,))] per layer, float32, He-scaled normal weights and small biases: the one set of
    weights every inference peer (and the JAX trainer) uses."""
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((n_in, n_out), dtype=np.float32) * np.float32(np.sqrt(2 / n_in)),
             rng.standard_normal(n_out, dtype=np.float32) * np.float32(0.01))
            for n_in, n_out in zip(sizes[:-1], sizes[1:])]


def inputs(batch, n_in, seed=1):
    return np.random.default_rng(seed).standard_normal((batch, n_in), dtype=np.float32)


def numpy_forward(weights, x):
    """softmax(relu(relu(x W1 + b1) W2 + b2) W3 + b3), plainly in numpy (in-place where it costs nothing)."""
    h = x
    for k, (W, b) in enumerate(weights):
        h = h @ W
        h += b
        if k < len(weights) - 1:
            np.maximum(h, 0, out=h)
    h -= h.max(axis=1, keepdims=True)
    np.exp(h, out=h)
    h /= h.sum(axis=1, keepdims=True)
    return h


def numpy_predictor(sizes):
    weights = mlp_weights(sizes)
    return lambda x: numpy_forward(weights, x)


def torch_predictor(sizes, weights=None, bn_stats=None):
    """PyTorch eager under torch.inference_mode(), entered per call as a serving function does. ``weights``:
    [(W, b)] (default ``mlp_weights(sizes)``); ``bn_stats``: [(gamma, beta, mean, var)] per hidden layer for a
    BatchNorm1d (evaluation mode) after each hidden Linear."""
    import torch

    model = torch_mlp(sizes, bn=bn_stats is not None).eval()
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    bns = [m for m in model if isinstance(m, torch.nn.BatchNorm1d)]
    with torch.no_grad():
        for linear, (W, b) in zip(linears, weights or mlp_weights(sizes)):
            linear.weight.copy_(torch.from_numpy(W.T.copy()))
            linear.bias.copy_(torch.from_numpy(b))
        for bn, stats in zip(bns, bn_stats or []):
            for t, v in zip((bn.weight, bn.bias, bn.running_mean, bn.running_var), stats):
                t.copy_(torch.from_numpy(v))

    def predict(x):
        with torch.inference_mode():
            return torch.softmax(model(torch.from_numpy(x)), dim=1).numpy()

    return predict


def onnx_model(sizes, weights=None, bn_stats=None) -> bytes:
    """The MLP as an ONNX graph (opset 17): Gemm, [BatchNormalization], Relu, ..., Gemm, Softmax(axis=-1), batch
    dimension free. ``weights`` and ``bn_stats`` as in ``torch_predictor``."""
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits, h = [], [], "x"
    weights = weights or mlp_weights(sizes)
    for k, (W, b) in enumerate(weights):
        inits += [numpy_helper.from_array(W, f"W{k}"), numpy_helper.from_array(b, f"b{k}")]
        nodes.append(helper.make_node("Gemm", [h, f"W{k}", f"b{k}"], [f"z{k}"]))
        h = f"z{k}"
        if k < len(weights) - 1:
            if bn_stats is not None:
                names = [f"{p}{k}" for p in ("g", "beta", "mean", "var")]
                inits += [numpy_helper.from_array(a, n) for a, n in zip(bn_stats[k], names)]
                nodes.append(helper.make_node("BatchNormalization", [h] + names, [f"n{k}"], epsilon=1e-5))
                h = f"n{k}"
            nodes.append(helper.make_node("Relu", [h], [f"h{k}"]))
            h = f"h{k}"
    nodes.append(helper.make_node("Softmax", [h], ["y"], axis=-1))
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", sizes[0]])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", sizes[-1]])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    return model.SerializeToString()


def ort_session_options(threads: int):
    """ONNX Runtime CPU settings: ``threads`` intra-op threads, sequential executor, all graph optimizations,
    ORT's default spinning."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return so


def ort_predictor(sizes, batch, threads, model: bytes | None = None):
    """ONNX Runtime through IOBinding: the output preallocated and bound once, each call binds its input
    without a copy (``bind_cpu_input`` passes the array's pointer). ``model``: another graph of the same input
    and output (default: ``onnx_model(sizes)``)."""
    import onnxruntime as ort

    session = ort.InferenceSession(model or onnx_model(sizes), ort_session_options(threads),
                                   providers=["CPUExecutionProvider"])
    y = np.empty((batch, sizes[-1]), np.float32)
    binding = session.io_binding()
    binding.bind_ortvalue_output("y", ort.OrtValue.ortvalue_from_numpy(y))

    def predict(x):
        binding.bind_cpu_input("x", x)
        session.run_with_iobinding(binding)
        return y

    return predict
