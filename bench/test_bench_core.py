"""pytest-benchmark: the training step and the core kernels, fastnn beside PyTorch where it has the same op.

    pytest bench/test_bench_core.py --benchmark-only --benchmark-group-by=param:case

Threads are set to 2 for both sides. fastnn and PyTorch run here in ONE process, one after the other, so do not
compare them with each other: a library's thread pool keeps spinning after its calls and slows whatever runs
next (bench/RESULTS.md, "How these figures are measured"). Use these to follow one side's speed from run to run;
fastnn against PyTorch is bench/run.py's job (each contender alone in a fresh process).
"""
import sys
from pathlib import Path

import numpy as np
import pytest

import fastnn as fnn
from fastnn.ops import dense as ops
from fastnn.ops import loss as loss_ops

sys.path.insert(0, str(Path(__file__).parent))
import peers  # noqa: E402

torch = pytest.importorskip("torch")
THREADS = 2
SIZES = [784, 512, 256, 10]


@pytest.fixture(autouse=True)
def threads():
    fnn.set_num_threads(THREADS)
    torch.set_num_threads(THREADS)


def fastnn_step(batch):
    from fastnn.layers import Dense, StepContext

    X, y = peers.data(batch, SIZES[0], SIZES[-1])
    model = fnn.Sequential([Dense(512, activation="relu"), Dense(256, activation="relu"), Dense(10)],
                           input_dim=784)
    opt = fnn.optim.SGD(lr=0.01, momentum=0.9)
    opt.bind(model.layout)
    loss = fnn.losses.get("cross_entropy")
    T = loss.prepare_targets(y, len(y), 10, np.float32)
    ctx = StepContext(training=True)
    state = {"i": 0}

    def step():
        j = (state["i"] % peers.N_BATCHES) * batch
        state["i"] += 1
        model.loss_and_grad(X[j:j + batch], T[j:j + batch], loss, ctx)
        opt.step(model.params, model.grads)

    return step


def torch_step(batch):
    step = peers.torch_trainer(SIZES, batch, "sgd")
    state = {"i": 0}

    def run():
        step(state["i"])
        state["i"] += 1

    return run


@pytest.mark.parametrize("case", ["train_step_b32", "train_step_b128", "train_step_b1024"])
@pytest.mark.parametrize("impl", ["fastnn", "torch", "gemm_floor"])
def test_training_step(benchmark, case, impl):
    batch = int(case.rsplit("b", 1)[1])
    if impl == "fastnn":
        fn = fastnn_step(batch)
    elif impl == "torch":
        fn = torch_step(batch)
    else:
        floor = peers.gemm_floor_trainer(SIZES, batch)
        fn = lambda: floor(0)  # noqa: E731
    benchmark.extra_info["samples"] = batch
    benchmark.pedantic(fn, rounds=50, iterations=1, warmup_rounds=10)


@pytest.mark.parametrize("case", ["bias_relu_fwd_1024x512"])
@pytest.mark.parametrize("impl", ["fastnn", "torch"])
def test_bias_relu_forward(benchmark, case, impl):
    rng = np.random.default_rng(0)
    z = rng.standard_normal((1024, 512), dtype=np.float32)
    b = rng.standard_normal(512, dtype=np.float32)
    if impl == "fastnn":
        y = np.empty_like(z)
        benchmark(lambda: ops.bias_act_forward(z, b, y, "relu"))
    else:
        zt, bt = torch.from_numpy(z), torch.from_numpy(b)
        benchmark(lambda: torch.relu(zt + bt))


@pytest.mark.parametrize("case", ["relu_bwd_biasgrad_1024x512"])
@pytest.mark.parametrize("impl", ["fastnn", "torch"])
def test_relu_backward_with_bias_grad(benchmark, case, impl):
    rng = np.random.default_rng(0)
    y = np.maximum(rng.standard_normal((1024, 512), dtype=np.float32), 0)
    dy = rng.standard_normal((1024, 512), dtype=np.float32)
    if impl == "fastnn":
        dz, db = np.empty_like(dy), np.empty(512, np.float32)
        benchmark(lambda: ops.act_backward(dy, y, None, dz, db, "relu"))
    else:
        yt, dyt = torch.from_numpy(y), torch.from_numpy(dy)

        def run():
            dz = torch.ops.aten.threshold_backward(dyt, yt, 0)
            return dz.sum(0)

        benchmark(run)


@pytest.mark.parametrize("case", ["softmax_xent_1024x10"])
@pytest.mark.parametrize("impl", ["fastnn", "torch"])
def test_softmax_cross_entropy(benchmark, case, impl):
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((1024, 10), dtype=np.float32)
    labels = rng.integers(0, 10, 1024)
    if impl == "fastnn":
        grad = np.empty_like(logits)
        benchmark(lambda: loss_ops.softmax_xent(logits, labels, grad, 1 / 1024, checked_labels=True))
    else:
        lt = torch.from_numpy(logits).requires_grad_()
        yt = torch.from_numpy(labels)

        def run():
            lt.grad = None
            torch.nn.functional.cross_entropy(lt, yt).backward()

        benchmark(run)
