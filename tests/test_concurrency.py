"""Inference on a shared model is safe from any number of threads and never touches training state.

predict / predict_logits / predict_proba / evaluate run on scratch of their own (per thread), never on the
workspaces of a training step, and write no layer or training state. Training a model is single-caller.
"""
import copy
import pickle
import threading

import numpy as np
import pytest

import fastnn as fnn
from fastnn.layers import BatchNorm, Dense, Dropout, Layer, ReLU

BATCH = 32  # the training batch size; inference calls with this many rows are the ones that used to collide


def wide_model(seed=0):
    """The 256-512-10 model of issue 10."""
    return fnn.Sequential([Dense(512, activation="relu"), Dense(10)], input_dim=256, seed=seed)


def regularized_layers():
    return [Dense(64), BatchNorm(), ReLU(), Dropout(0.3), Dense(32, activation="tanh"), BatchNorm(momentum=None),
            Dense(4)]


def regularized_model(seed=0):
    return fnn.Sequential(regularized_layers(), input_dim=24, seed=seed)


def run_threads(n, target):
    """Run ``target(i)`` in n threads released together; re-raise the first exception."""
    barrier, errors = threading.Barrier(n), []

    def body(i):
        try:
            barrier.wait()
            target(i)
        except BaseException as exc:  # reported in the calling thread
            errors.append(exc)

    workers = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise errors[0]


def test_predict_from_8_threads_is_exact():
    rng = np.random.default_rng(0)
    model = wide_model()
    X = rng.standard_normal((64 * BATCH, 256)).astype(np.float32)
    model.fit(X[:2 * BATCH], rng.integers(0, 10, 2 * BATCH), batch_size=BATCH, epochs=1, verbose=0)
    sizes = (1, 3, 8, BATCH)  # the training batch size among them
    calls = [(size, int(start)) for size in sizes for start in rng.integers(0, len(X) - size, 8)]
    with fnn.threads(1):
        expected = [model.predict(X[s:s + n]) for n, s in calls]
        n_threads, per_thread = 8, 500
        wrong = np.zeros(n_threads, int)

        def worker(t):
            for k in range(per_thread):
                j = (7 * t + k) % len(calls)
                n, s = calls[j]
                wrong[t] += not np.array_equal(model.predict(X[s:s + n]), expected[j])

        run_threads(n_threads, worker)
    assert wrong.sum() == 0, f"{wrong.sum()}/{n_threads * per_thread} predictions wrong"


def _fit(model, X, y, epochs=6):
    model.fit(X, y, optimizer=fnn.optim.SGD(lr=0.05, momentum=0.9), batch_size=BATCH, epochs=epochs, seed=3,
              verbose=0)
    return model


def _fit_with_inference_alongside(make_model, X, y, evaluate=False):
    """Fit while another thread predicts (and evaluates) batch-sized inputs in a loop; returns (model, calls)."""
    model = make_model()
    model.build(X.shape[1])
    started, done, calls = threading.Event(), threading.Event(), [0]
    probe = np.ascontiguousarray(X[-BATCH:][::-1])

    def infer():
        while not done.is_set():
            model.predict(probe)
            if evaluate:
                model.evaluate(probe, y[-BATCH:])
            calls[0] += 1
            started.set()

    other = threading.Thread(target=infer)
    other.start()
    started.wait()
    try:
        _fit(model, X, y)
    finally:
        done.set()
        other.join()
    return model, calls[0]


@pytest.mark.parametrize("make_model", [wide_model, regularized_model], ids=["plain", "batchnorm_dropout"])
@pytest.mark.parametrize("evaluate", [False, True], ids=["predict", "predict_evaluate"])
def test_inference_during_fit_leaves_training_bitwise_unchanged(make_model, evaluate):
    rng = np.random.default_rng(1)
    n_in = 256 if make_model is wide_model else 24
    X = rng.standard_normal((16 * BATCH, n_in)).astype(np.float32)
    y = rng.integers(0, 4, len(X))
    with fnn.threads(1):
        alone = _fit(make_model(), X, y)
        shared, n_calls = _fit_with_inference_alongside(make_model, X, y, evaluate)
    assert n_calls > 0
    assert alone.step_count == shared.step_count
    for name, want in alone.state_arrays().items():
        got = shared.state_arrays()[name]
        assert np.array_equal(got, want), f"{name} differs by {np.abs(got - want).max()} after {n_calls} calls"


class _PredictsMidStep(Layer):
    """Identity layer that, in training, runs ``model.predict`` on a batch-sized input between the training
    forward of the layers before it and their backward: the worst interleaving of another thread, made
    deterministic."""

    def __init__(self):
        super().__init__()
        self.model, self.probe = None, None

    def forward(self, x, ws, ctx):
        if ctx.training and self.model is not None:
            self.model.predict(self.probe)
            self.model.evaluate(self.probe, np.zeros(len(self.probe), int))
        return x

    def backward(self, dy, ws, ctx, need_dx):
        return dy


def test_inference_between_a_training_forward_and_its_backward_changes_nothing():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((4 * BATCH, 12)).astype(np.float32)
    y = rng.integers(0, 3, len(X))

    def make(spy):
        return fnn.Sequential([Dense(16, activation="relu"), BatchNorm(), spy, Dense(3)], input_dim=12)

    plain = _fit(make(_PredictsMidStep()), X, y, epochs=2)
    spy = _PredictsMidStep()
    model = make(spy)
    spy.model, spy.probe = model, X[::-1][:BATCH].copy()
    _fit(model, X, y, epochs=2)
    for name, want in plain.state_arrays().items():
        assert np.array_equal(model.state_arrays()[name], want), name


def test_inference_writes_no_model_state():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((3 * BATCH, 24)).astype(np.float32)
    y = rng.integers(0, 4, len(X))
    model = _fit(regularized_model(), X, y, epochs=1)
    arrays = {k: v.copy() for k, v in model.state_arrays().items()}
    state = model.training_state
    before = (state.step_count, state.loss, state.optimizer, state.history, state.stop_training)
    for rows in (1, 5, BATCH, len(X)):
        model.predict(X[:rows])
        model.predict_logits(X[:rows])
        model.predict_proba(X[:rows])
        model.evaluate(X[:rows], y[:rows])
    assert (state.step_count, state.loss, state.optimizer, state.history, state.stop_training) == before
    for name, want in arrays.items():
        assert np.array_equal(model.state_arrays()[name], want), name


def test_each_thread_keeps_a_bounded_scratch_cache():
    rng = np.random.default_rng(4)
    model = wide_model()
    X = rng.standard_normal((40, 256)).astype(np.float32)
    first = model.predict(X[:7])
    for rows in range(1, 40):  # many sizes: the per-thread cache keeps the latest few only
        model.predict(X[:rows])
    assert np.array_equal(model.predict(X[:7]), first)
    assert 0 < len(model._inference_scratch.cache()) <= fnn.models._MAX_CACHED_BATCH_SIZES


def test_predict_with_preprocess_batchnorm_and_dropout_from_4_threads_is_exact():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((6 * BATCH, 24)).astype(np.float32) * 3 + 1
    y = rng.integers(0, 4, len(X))
    model = fnn.Sequential(regularized_layers(), preprocess=[fnn.preprocessing.StandardScaler()])
    _fit(model, X, y, epochs=1)
    starts = rng.integers(0, len(X) - BATCH, 6)
    with fnn.threads(1):
        expected = [model.predict(X[s:s + BATCH]) for s in starts]
        wrong = np.zeros(4, int)

        def worker(t):
            for k in range(150):
                j = (t + k) % len(starts)
                wrong[t] += not np.array_equal(model.predict(X[starts[j]:starts[j] + BATCH]), expected[j])

        run_threads(4, worker)
    assert wrong.sum() == 0, f"{wrong.sum()}/600 predictions wrong"


def test_copies_and_pickles_of_a_model_start_with_their_own_scratch():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((BATCH, 24)).astype(np.float32)
    model = regularized_model()
    want = model.predict(X)
    for twin in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert twin._inference_scratch is not model._inference_scratch
        assert np.array_equal(twin.predict(X), want)


def _setting():
    from threadpoolctl import threadpool_info

    blas = sorted(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")
    return fnn.get_num_threads(), fnn._config._state.parallel_threshold, blas


def test_threads_blocks_of_two_python_threads_closing_out_of_order_put_the_first_setting_back():
    """A opens threads(1), B opens threads(3), A closes, B closes: the setting is the one before A opened (B used
    to put back A's setting, leaving the process at 1 thread for good), and B's stays in force while B is open."""
    fnn.set_num_threads(2)
    before = _setting()
    a_open, b_open, a_closed = threading.Event(), threading.Event(), threading.Event()
    inside_b = []

    def a():
        with fnn.threads(1, parallel_threshold=5):
            a_open.set()
            b_open.wait()
        a_closed.set()

    def b():
        a_open.wait()
        with fnn.threads(3, parallel_threshold=7):
            b_open.set()
            a_closed.wait()
            inside_b.append(_setting()[:2])

    workers = [threading.Thread(target=f) for f in (a, b)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert inside_b == [(3, 7)]
    assert _setting() == before


def test_threads_blocks_opened_and_closed_by_many_python_threads_leave_the_setting_as_it_was():
    fnn.set_num_threads(2)
    before, open_before = _setting(), len(fnn._config._OPEN_BLOCKS)  # conftest's block is open

    def toggle(t):
        r = np.random.default_rng(t)
        for _ in range(30):
            with fnn.threads(int(r.integers(1, 4)), parallel_threshold=int(r.integers(0, 100))):
                if r.random() < 0.3:
                    fnn.set_num_threads(int(r.integers(1, 4)))
                threading.Event().wait(float(r.uniform(0, 0.002)))

    run_threads(6, toggle)
    assert _setting() == before
    assert len(fnn._config._OPEN_BLOCKS) == open_before
