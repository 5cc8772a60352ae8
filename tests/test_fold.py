"""Folding BatchNorm into Dense and removing Dropout for inference."""
from __future__ import annotations

import numpy as np
import pytest

import fastnn
from fastnn.cancellation import offset_cancels
from fastnn.fold import fold
from fastnn.layers import BatchNorm, Dense, Dropout, LayerNorm, ReLU, Tanh


def _data(rng, n=300, d=10, classes=3):
    X = (rng.standard_normal((n, d)) * rng.uniform(0.5, 4, d) + rng.standard_normal(d) * 3).astype(np.float32)
    y = (X[:, 0] * 0.3 + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1)
    return X, np.minimum(y, classes - 1)


def _trained(layers, rng, dtype="float32", epochs=3):
    X, y = _data(rng)
    model = fastnn.Sequential(layers, input_dim=X.shape[1], dtype=dtype, seed=1)
    model.fit(X, y, epochs=epochs, batch_size=32, verbose=0)
    bns = [layer for layer in model.layers if isinstance(layer, BatchNorm)]
    if bns:  # training moved the statistics
        assert any(not np.allclose(bn.buffers["running_mean"], 0) for bn in bns)
    for bn in bns:  # and gamma/beta far from their initial 1/0, so a wrong fold cannot pass
        bn.params["gamma"][...] = rng.uniform(0.3, 2.0, bn.in_dim) * rng.choice([-1, 1], bn.in_dim)
        bn.params["beta"][...] = rng.standard_normal(bn.in_dim)
    return model, X


def _no_batchnorm(model):
    return not any(isinstance(layer, (BatchNorm, Dropout)) for layer in model.layers)


CASES = {
    "dense_bn_relu": lambda: [Dense(32), BatchNorm(), ReLU(), Dropout(0.3), Dense(16), BatchNorm(), ReLU(),
                              Dropout(0.3), Dense(3)],
    "bn_first": lambda: [BatchNorm(), Dense(16, activation="relu"), Dense(3)],
    "bn_after_activation": lambda: [Dense(16, activation="tanh"), BatchNorm(), Dense(3)],
    "no_bias": lambda: [Dense(16, use_bias=False), BatchNorm(), Tanh(), Dense(3, use_bias=False)],
    "chain": lambda: [BatchNorm(), Dense(16), BatchNorm(), BatchNorm(momentum=None), ReLU(), Dense(3)],
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("dtype, rtol", [("float32", 2e-5), ("float64", 1e-11)])
def test_fold_keeps_predictions_and_removes_batchnorm(case, dtype, rtol, rng):
    model, X = _trained(CASES[case](), rng, dtype)
    before = [w.copy() for w in model.get_weights()]
    folded = model.fold()
    # every BatchNorm goes but one whose running mean would cancel digits in the next Dense (fastnn.cancellation;
    # the inputs here have means up to 12 stds, tanh outputs sit near +-1): that one stays, and nothing else
    left = [layer for layer in folded.layers if isinstance(layer, (BatchNorm, Dropout))]
    assert all(isinstance(layer, BatchNorm) and offset_cancels(layer) for layer in left)
    assert _no_batchnorm(folded) == (case in ("dense_bn_relu", "no_bias"))  # Dense -> BatchNorm always folds
    assert len(folded.layers) == len(model.layers) - sum(
        isinstance(layer, (BatchNorm, Dropout)) for layer in model.layers) + len(left)
    p0, p1 = model.predict(X), folded.predict(X)
    np.testing.assert_allclose(p1, p0, rtol=rtol, atol=rtol * 1e-2)
    # the raw outputs (logits) too, in the model dtype
    xb = np.ascontiguousarray(X[:64], dtype=model.dtype)
    np.testing.assert_allclose(folded.forward(xb).copy(), model.forward(xb).copy(), rtol=rtol * 10,
                               atol=rtol * 10 * np.abs(model.forward(xb)).max())
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # original untouched
    assert folded.dtype == model.dtype and folded.input_dim == model.input_dim


def test_fold_function_and_method_agree(rng):
    model, X = _trained(CASES["dense_bn_relu"](), rng)
    a, b = fold(model), model.fold()
    assert all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))


def test_unfoldable_batchnorm_stays_in_eval_mode(rng):
    """BatchNorm after an activation with no Dense after it cannot be folded; it is kept and still exact."""
    model, X = _trained([Dense(16, activation="relu"), Dense(3, activation="tanh"), BatchNorm()], rng)
    folded = model.fold()
    assert isinstance(folded.layers[-1], BatchNorm)
    np.testing.assert_allclose(folded.predict(X), model.predict(X), rtol=1e-6)


def test_other_layers_pass_through(rng):
    model, X = _trained([Dense(16), LayerNorm(), ReLU(), Dropout(0.5), Dense(3)], rng)
    folded = model.fold()
    assert [type(layer).__name__ for layer in folded.layers] == ["Dense", "LayerNorm", "ReLU", "Dense"]
    np.testing.assert_allclose(folded.predict(X), model.predict(X), rtol=1e-6)


def test_folded_weights_follow_the_formula(rng):
    model = fastnn.Sequential([Dense(4), BatchNorm(eps=1e-3)], input_dim=3, dtype="float64")
    dense, bn = model.layers
    bn.params["gamma"][...] = [1.0, 2.0, -1.0, 0.5]
    bn.params["beta"][...] = [0.0, 1.0, 2.0, 3.0]
    bn.buffers["running_mean"][...] = [1.0, -1.0, 0.5, 0.0]
    bn.buffers["running_var"][...] = [4.0, 1.0, 0.25, 9.0]
    W, b = dense.params["W"].copy(), dense.params["b"].copy()
    (folded_dense,) = model.fold().layers
    s = bn.params["gamma"] / np.sqrt(bn.buffers["running_var"] + 1e-3)
    np.testing.assert_allclose(folded_dense.params["W"], W * s, rtol=1e-15)
    np.testing.assert_allclose(folded_dense.params["b"], (b - bn.buffers["running_mean"]) * s + bn.params["beta"],
                               rtol=1e-15)


def test_custom_init_callable_does_not_block_folding(rng):
    init = lambda shape, rng, **_: rng.standard_normal(shape) * 0.1  # noqa: E731
    model = fastnn.Sequential([Dense(8, init=init), BatchNorm(), Dense(2)], input_dim=3)
    X = rng.standard_normal((20, 3)).astype(np.float32)
    folded = model.fold()
    assert _no_batchnorm(folded)
    np.testing.assert_allclose(folded.predict(X), model.predict(X), rtol=1e-5, atol=1e-6)


def test_fold_keeps_the_preprocessor(rng):
    pre = pytest.importorskip("fastnn.preprocessing")
    X, y = _data(rng)
    model = fastnn.Sequential([Dense(16), BatchNorm(), ReLU(), Dense(3)], preprocess=pre.StandardScaler())
    model.fit(X, y, epochs=2, batch_size=32, verbose=0)
    folded = model.fold(preprocess=False)
    assert folded.preprocess is not None and _no_batchnorm(folded)
    np.testing.assert_allclose(folded.predict(X), model.predict(X), rtol=2e-5, atol=1e-6)


def test_folded_model_saves_and_loads(tmp_path, rng):
    model, X = _trained(CASES["dense_bn_relu"](), rng)
    folded = model.fold()
    path = tmp_path / "folded.fnn"
    fastnn.io.save(folded, path)
    again = fastnn.io.load(path)
    assert _no_batchnorm(again)
    assert np.array_equal(again.predict(X), folded.predict(X))


def test_fold_errors():
    with pytest.raises(TypeError, match="Sequential"):
        fold([Dense(3)])
    with pytest.raises(ValueError, match="not built"):
        fold(fastnn.Sequential([Dense(3), BatchNorm()]))
