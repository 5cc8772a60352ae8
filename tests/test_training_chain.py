"""The training step of Dense layers in one C call (fastnn.training.chain) against the layers' own calls.

The chain makes the kernel calls the layers make, in the same order with the same arguments, so training with it
and without it (``step.USE_CHAIN``) must leave the same bits: weights, optimizer state and history. Checked for
every optimizer, both dtypes, every activation, layers without bias, separate activation layers, label smoothing,
value clipping, a last partial batch, 1-3 threads with every call threaded and a refused non-finite step. A spy
counts the chain's steps, so each comparison knows the chain ran; it must step aside for what it does not cover.
"""
import threading
from unittest import mock

import numpy as np
import pytest
from conftest import assert_trained_alike, counted

import fastnn
from fastnn import _config
from fastnn._ext import chain as _chain
from fastnn.layers import BatchNorm, Dense, Dropout, LeakyReLU, ReLU
from fastnn.training import chain as C
from fastnn.training import step as S
from fastnn.training.callbacks import Callback
from fastnn.training.step import NonFiniteLossError

OPTIMIZERS = {
    "sgd_momentum": lambda: fastnn.optim.SGD(lr=0.05, momentum=0.9),
    "sgd_nesterov_decay": lambda: fastnn.optim.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4),
    "adam": lambda: fastnn.optim.Adam(lr=3e-3),
    "adamw_amsgrad_groups": lambda: fastnn.optim.AdamW(
        lr=fastnn.schedules.Cosine(3e-3, 40), amsgrad=True, param_groups=fastnn.optim.no_decay_on_bias_and_norm()),
    "rmsprop_centered": lambda: fastnn.optim.RMSprop(lr=1e-3, centered=True, momentum=0.5),
    "adagrad_prox": lambda: fastnn.optim.Adagrad(lr=0.05, param_groups=[{"kinds": ["weight"], "prox_l1": 1e-3}]),
    "adadelta": lambda: fastnn.optim.Adadelta(),
}


def _data(dtype="float32", n=240, d=20):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d)).astype(dtype)
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    return X, y


def _layers():
    return [Dense(32, "relu"), Dense(16, "tanh"), Dense(3)]


def _fit(use_chain, optimizer, dtype="float32", layers=None, threads=2, X=None, y=None, **fit_args):
    """(model, optimizer, history, steps the chain took) of a fit from the same start with the chain on or off."""
    if X is None:
        X, y = _data(dtype)
    model = fastnn.Sequential(layers or _layers(), input_dim=X.shape[1], dtype=dtype, seed=5)
    with mock.patch.object(S, "USE_CHAIN", use_chain), fastnn.threads(threads, parallel_threshold=1), \
            counted(C.ChainPrograms, "step", lambda result: result is not None) as chained:
        history = model.fit(X, y, optimizer=optimizer, **{"epochs": 2, "batch_size": 32, "verbose": 0, "seed": 1,
                                                          **fit_args})
    return model, optimizer, history, len(chained)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_the_chain_trains_bitwise_like_the_layers_calls(name, dtype):
    chain = _fit(True, OPTIMIZERS[name](), dtype)
    layers = _fit(False, OPTIMIZERS[name](), dtype)
    assert chain[3] == chain[1].step_count == 16  # every step chained: 8 batches (the last of 16 rows) x 2 epochs
    assert layers[3] == 0
    assert_trained_alike(chain, layers)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_activation_no_bias_and_separate_activation_layers(dtype):
    def layers():
        return [Dense(24, "gelu"), Dense(20, "leaky_relu", alpha=0.2, use_bias=False), Dense(16, "sigmoid"),
                Dense(12), ReLU(), Dense(10, use_bias=False), LeakyReLU(0.3), Dense(8, "identity"), Dense(3)]
    chain = _fit(True, fastnn.optim.Adam(1e-2), dtype, layers())
    plain = _fit(False, fastnn.optim.Adam(1e-2), dtype, layers())
    assert chain[3] == 16
    assert_trained_alike(chain, plain)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_label_smoothing_and_value_clipping_for_any_thread_count(threads):
    def fit(use_chain, n):
        return _fit(use_chain, fastnn.optim.SGD(0.1, momentum=0.9), threads=n,
                    loss=fastnn.losses.CrossEntropy(label_smoothing=0.1), clip=fastnn.clip.ByValue(0.01))
    chain, plain = fit(True, threads), fit(False, 2)
    assert chain[3] == 16 and chain[2].history["loss"][0] > 0
    assert_trained_alike(chain, plain)


def test_a_refused_nonfinite_step_leaves_what_the_layers_calls_leave():
    X, y = _data("float32")
    X[37] = 3e38  # batch 2's forward pass overflows
    errors, models = [], []
    for use_chain in (True, False):
        model = fastnn.Sequential(_layers(), input_dim=20, seed=5)
        with mock.patch.object(S, "USE_CHAIN", use_chain), pytest.raises(NonFiniteLossError) as info:
            model.fit(X, y, optimizer=fastnn.optim.Adam(1e-3), epochs=1, batch_size=32, shuffle=False, verbose=0)
        errors.append((info.value.step, info.value.batch, info.value.weights_finite))
        models.append(model)
    assert errors[0] == errors[1] == (1, 1, True)
    for wa, wb in zip(models[0].get_weights(), models[1].get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    # trained on ("ignore"): the same non-finite weights either way
    ignored = [_fit(use, fastnn.optim.SGD(0.01), X=X, y=y, on_nonfinite_loss="ignore", shuffle=False)
               for use in (True, False)]
    assert ignored[0][3] == 16 and not np.isfinite(ignored[0][0].params).all()
    assert_trained_alike(*ignored)


@pytest.mark.parametrize("case", ["dropout", "batchnorm", "penalty", "mse", "probability_targets", "class_weight",
                                  "metrics", "optimizer_threads", "large_batch", "subclass"])
def test_the_chain_steps_aside_for_what_it_does_not_cover(case):
    class MyDense(Dense):
        pass

    X, y = _data("float64")
    layers, args, optimizer = _layers(), {}, fastnn.optim.SGD(0.05, momentum=0.9)
    if case == "dropout":
        layers.insert(1, Dropout(0.2))
    elif case == "batchnorm":
        layers.insert(1, BatchNorm())
    elif case == "penalty":
        layers[0] = Dense(32, "relu", l2=1e-3)
    elif case == "mse":
        args["loss"], y = "mse", np.eye(3)[y]
    elif case == "probability_targets":
        y = np.eye(3)[y]
    elif case == "class_weight":
        args["class_weight"] = "balanced"
    elif case == "metrics":
        args["metrics"] = ["accuracy", "top_2_accuracy"]
    elif case == "optimizer_threads":
        optimizer.n_threads = 1
    elif case == "large_batch":
        args["batch_size"] = len(X)  # more rows than FUSE_MAX_BATCH
    elif case == "subclass":
        layers[1] = MyDense(16, "tanh")
    chain = _fit(True, optimizer, "float64", layers, X=X, y=y, **args)
    assert chain[3] == 0 and chain[1].step_count > 0
    if case not in ("dropout", "batchnorm", "penalty", "large_batch"):  # those never reach the chain (not fused)
        assert_trained_alike(chain, _fit(False, fastnn.optim.SGD(0.05, momentum=0.9), "float64", None, X=X, y=y, **args)
                     if case not in ("subclass", "optimizer_threads") else chain)


def test_train_step_chains_too_and_trains_bitwise_like_the_layers_calls():
    X, y = _data()
    models = []
    with counted(C.ChainPrograms, "step", lambda result: result is not None) as chained:
        for use_chain in (True, False):
            with mock.patch.object(S, "USE_CHAIN", use_chain):
                model = fastnn.Sequential(_layers(), input_dim=20, seed=5)
                optimizer = fastnn.optim.Adam(1e-2)
                for i in range(0, 96, 32):
                    model.train_step(X[i:i + 32], y[i:i + 32], loss="cross_entropy", optimizer=optimizer)
            models.append(model)
    assert len(chained) == 3  # the chain took the three steps; the layers' path never asked it
    for wa, wb in zip(models[0].get_weights(), models[1].get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


def test_a_slope_changed_between_steps_is_the_next_steps_slope():
    class AnnealSlope(Callback):
        def on_batch_begin(self, batch, logs, model):
            if batch == 3:
                model.layers[0].alpha = 0.5

    def fit(use_chain):
        return _fit(use_chain, fastnn.optim.SGD(0.1), layers=[Dense(32, "leaky_relu", alpha=0.1), Dense(3)],
                    epochs=1, callbacks=[AnnealSlope()])
    chain = fit(True)
    assert chain[3] == 8
    assert_trained_alike(chain, fit(False))


def test_a_model_or_activation_subclass_that_overrides_the_step_keeps_the_layers_calls():
    class HalfInputs(fastnn.Sequential):
        def forward_loss(self, xb, targets, loss, ctx):
            return super().forward_loss(xb * 0.5, targets, loss, ctx)

    class Doubled(ReLU):
        def forward(self, x, ws, ctx):
            return super().forward(x, ws, ctx) * 2

    X, y = _data()
    for make in (lambda: HalfInputs(_layers(), input_dim=20, seed=5),
                 lambda: fastnn.Sequential([Dense(16), Doubled(), Dense(3)], input_dim=20, seed=5)):
        models = []
        with counted(C.ChainPrograms, "step", lambda result: result is not None) as chained:
            for use_chain in (True, False):
                with mock.patch.object(S, "USE_CHAIN", use_chain):
                    model = make()
                    model.fit(X, y, optimizer=fastnn.optim.SGD(0.05), epochs=1, batch_size=32, verbose=0, seed=1)
                models.append(model)
        assert chained == [] and models[0].training_state.step_count == 8
        for wa, wb in zip(models[0].get_weights(), models[1].get_weights(), strict=True):
            np.testing.assert_array_equal(wa, wb)


@pytest.mark.parametrize("threshold", [1, 1000, 1 << 18])
def test_a_call_class_gets_what_threads_for_gives_its_work(threshold):
    works = [0, 1, 999, 1000, 5000, _config.UNOWNED_MIN_WORK - 1, _config.UNOWNED_MIN_WORK, 10**9]

    def decisions():
        with fastnn.threads(2, parallel_threshold=threshold):
            return [((1, *_config.class_shares({_config.work_class(w)}))[_config.work_class(w)],
                     _config.threads_for(w)) for w in works]

    here = decisions()
    assert all(chained == general for chained, general in here)
    assert {general for _, general in here} == {1, 2} if threshold < 10**9 else {1}
    elsewhere = []  # a Python thread that does not own the OpenMP team: only large calls get threads
    worker = threading.Thread(target=lambda: elsewhere.extend(decisions()))
    worker.start()
    worker.join()
    assert all(chained == general for chained, general in elsewhere)
    assert [general for _, general in elsewhere] == [1 if w < _config.UNOWNED_MIN_WORK or w < threshold else 2
                                                      for w in works]


def test_the_program_refuses_buffers_that_do_not_chain():
    f32 = np.zeros((4, 3), np.float32)
    program = _chain.DenseChain(2, 5, True)
    ok = dict(x=None, w=f32, b=None, z=np.zeros((5, 3), np.float32), y=np.zeros((5, 3), np.float32), dx=None,
              db=None, dw=np.zeros((4, 3), np.float32), update=1, act=0, alpha=0.0, threads=(0,) * 5)
    with pytest.raises(ValueError, match="z"):
        program.set_layer(0, **{**ok, "z": np.zeros((4, 3), np.float32)})  # 4 rows, not the program's 5
    with pytest.raises(ValueError, match="w"):
        program.set_layer(0, **{**ok, "w": f32.astype(np.float64)})
    with pytest.raises(ValueError, match="dw"):
        program.set_layer(0, **{**ok, "dw": np.zeros((4, 6), np.float32)[:, ::2]})
    program.set_layer(0, **ok)
    with pytest.raises(ValueError, match="first layer"):
        program.set_layer(1, **ok)  # a later layer needs its input and input gradient
    second = dict(ok, w=np.zeros((3, 2), np.float32), z=np.zeros((5, 2), np.float32), y=np.zeros((5, 2), np.float32),
                  dw=np.zeros((3, 2), np.float32), dx=np.zeros((5, 3), np.float32))
    with pytest.raises(ValueError, match="output of layer 0"):
        program.set_layer(1, **{**second, "x": np.zeros((5, 3), np.float32)})  # not layer 0's y
    with pytest.raises(RuntimeError, match="not all set"):
        program.run(np.zeros((5, 4), np.float32), np.zeros(5, np.int64), 1, 1, True)
    with pytest.raises(ValueError, match="once, after every layer"):
        program.set_loss(np.zeros((5, 3), np.float32), 0.2, 0.0, 0)  # layer 1 is not set
    with pytest.raises(ValueError, match="in order, each once"):
        program.set_layer(0, **{**ok, "w": np.zeros((4, 4096), np.float32)})  # rebinding would outgrow layer 1
    program.set_layer(1, **{**second, "x": program.keep[0][4]})
    with pytest.raises(ValueError, match="after the loss"):
        program.set_updates(1, 1, 0, 0, None)
    with pytest.raises(ValueError, match="at least one"):
        _chain.DenseChain(0, 5, True)
