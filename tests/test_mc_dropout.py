"""Monte Carlo dropout: model.predict(X, mc_samples=T, seed=s) -> MCPrediction(mean, std), Dropout active and
BatchNorm in inference mode, reproducible, thread-safe, nothing stored on the model."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fastnn
from fastnn.layers import BatchNorm, Dense, Dropout
from fastnn.mc_dropout import MCPrediction


def bn_model(p: float, seed: int = 0) -> tuple[fastnn.Sequential, np.ndarray]:
    """A small classifier with BatchNorm and Dropout, trained so the running statistics are its own."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((200, 6)) * 2.0 + 1.0
    y = (X[:, 0] + X[:, 1] > 2).astype(np.int64)
    model = fastnn.Sequential([Dense(16), BatchNorm(), Dense(16, activation="relu"), Dropout(p), Dense(2)],
                              seed=seed)
    model.fit(X, y, loss="cross_entropy", optimizer=fastnn.optim.SGD(lr=0.1), epochs=3, batch_size=32,
              verbose=0)
    return model, X


def test_one_sample_without_dropout_is_predict_and_batchnorm_stays_in_inference_mode():
    model, X = bn_model(p=0.0)
    shifted = X[:50] + 3.0  # batch statistics would normalize this shift away; running statistics do not
    out = model.predict(shifted, mc_samples=1)
    assert isinstance(out, MCPrediction) and out.mean.dtype == model.dtype == out.std.dtype
    np.testing.assert_array_equal(out.mean, model.predict(shifted))
    mean, std = model.predict(shifted, mc_samples=3, seed=5)
    np.testing.assert_array_equal(mean, model.predict(shifted))
    np.testing.assert_array_equal(std, 0.0)


def test_dropout_is_active_and_nothing_is_stored_on_the_model():
    model, X = bn_model(p=0.5)
    before = {k: v.copy() for k, v in model.state_arrays().items()}
    step = model.step_count
    mean, std = model.predict(X, mc_samples=20, seed=1)
    assert mean.shape == std.shape == (200, 2)
    assert np.all(std.max(axis=1) > 0)  # every row varies between passes
    np.testing.assert_allclose(mean.sum(axis=1), 1.0, rtol=1e-5)  # the mean of probabilities
    assert model.step_count == step
    for k, v in model.state_arrays().items():
        np.testing.assert_array_equal(v, before[k])


def test_a_seed_reproduces_for_any_thread_count_and_from_many_threads():
    model, X = bn_model(p=0.3)
    X = np.tile(X, (6, 1))  # 1200 rows: two chunks of masks
    with fastnn.threads(1):
        one = model.predict(X, mc_samples=4, seed=11)
    with fastnn.threads(2, parallel_threshold=0):
        two = model.predict(X, mc_samples=4, seed=11)
    np.testing.assert_array_equal(one.mean, two.mean)
    np.testing.assert_array_equal(one.std, two.std)
    other = model.predict(X, mc_samples=4, seed=12)
    assert not np.array_equal(one.mean, other.mean)
    assert not np.array_equal(one.mean[:1024], one.mean[1024:2048])  # chunks do not repeat their masks
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda s: model.predict(X, mc_samples=4, seed=s), [11, 12, 11, 12]))
    for got, want in zip(results, [one, other, one, other]):
        np.testing.assert_array_equal(got.mean, want.mean)
        np.testing.assert_array_equal(got.std, want.std)
    default = model.predict(X, mc_samples=2)  # the model's seed
    np.testing.assert_array_equal(default.mean, model.predict(X, mc_samples=2, seed=model.seed).mean)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_mean_converges_to_predict_for_a_linear_network(seed):
    """A linear network with inverted dropout has E[output] = the deterministic output: the Monte Carlo mean
    approaches predict as 1/sqrt(T), within its own standard error."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((40, 5))
    model = fastnn.Sequential([Dense(32), Dropout(0.5), Dense(3)], input_dim=5, seed=seed, dtype="float64",
                              loss="mse")
    exact = model.predict(X)
    errors = {}
    for T in (16, 1024):
        mean, std = model.predict(X, mc_samples=T, seed=seed)
        z = (mean - exact) / (std / np.sqrt(T))
        assert np.sqrt(np.mean(z ** 2)) < 1.5  # the error is the standard error's size
        errors[T] = np.sqrt(np.mean((mean - exact) ** 2))
    assert errors[1024] < errors[16] / 4  # sqrt(1024 / 16) = 8 in expectation


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"mc_samples": 0}, ValueError, "mc_samples"),
    ({"mc_samples": -3}, ValueError, "mc_samples"),
    ({"mc_samples": 2.5}, TypeError, "mc_samples"),
    ({"mc_samples": True}, TypeError, "mc_samples"),
    ({"mc_samples": "4"}, TypeError, "mc_samples"),
    ({"mc_samples": 2, "seed": -1}, ValueError, "seed"),
    ({"mc_samples": 2, "seed": 1.5}, TypeError, "seed"),
    ({"seed": 3}, ValueError, "with mc_samples"),
])
def test_bad_arguments_raise_clearly(kwargs, exc, match):
    model = fastnn.Sequential([Dense(4), Dropout(0.5), Dense(2)], input_dim=3)
    with pytest.raises(exc, match=match):
        model.predict(np.zeros((2, 3)), **kwargs)
