"""Fused loss kernels against the numpy reference, both dtypes, serial and threaded; the reported loss is the
same bits for any thread count."""
import numpy as np
import pytest

import fastnn
from fastnn._reference import loss as ref
from fastnn.ops import loss as ops

TOL = {np.float32: dict(rtol=2e-6, atol=2e-6), np.float64: dict(rtol=1e-13, atol=1e-13)}


def test_softmax_xent_matches_reference_and_counts_correct(dtype, threads, rng):
    logits = (rng.standard_normal((64, 10)) * 5).astype(dtype)
    logits[0] += 1000  # log-sum-exp stability: huge logits must not overflow
    labels = rng.integers(0, 10, 64)
    grad = np.empty_like(logits)
    loss, correct = ops.softmax_xent(logits, labels, grad, 1 / 64)
    loss_ref, grad_ref = ref.softmax_xent(logits, labels, 1 / 64)
    assert np.isfinite(loss)
    np.testing.assert_allclose(loss, loss_ref, rtol=1e-6 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(grad, grad_ref, **TOL[dtype])
    assert correct == int((logits.argmax(axis=1) == labels).sum())
    probs = np.empty_like(logits)
    ops.softmax(logits, probs)
    np.testing.assert_allclose(probs, ref.softmax(logits), **TOL[dtype])


def test_softmax_xent_rejects_out_of_range_labels(rng):
    logits = rng.standard_normal((4, 3))
    with pytest.raises(ValueError, match="labels must lie in"):
        ops.softmax_xent(logits, np.array([0, 1, 2, 3]), None, 1.0)


def test_bce_and_mse_match_reference(dtype, threads, rng):
    x = (rng.standard_normal((33, 3)) * 30).astype(dtype)  # large |x|: the stable form must hold
    t = rng.random((33, 3)).astype(dtype)
    g = np.empty_like(x)
    loss, correct = ops.bce_logits(x, t, g, 1 / x.size)
    loss_ref, g_ref = ref.bce_logits(x, t, 1 / x.size)
    np.testing.assert_allclose(loss, loss_ref, rtol=1e-6 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(g, g_ref, **TOL[dtype])
    assert correct == int(((x > 0) == (t > 0.5)).sum())
    loss, _ = ops.mse(x, t, g, 1 / x.size), None
    loss_ref, g_ref = ref.mse(x, t, 1 / x.size)
    np.testing.assert_allclose(loss, loss_ref, rtol=1e-6 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(g, g_ref, **TOL[dtype])


def test_evaluate_loss_includes_the_penalty(rng):
    from fastnn.layers import Dense

    X = rng.standard_normal((20, 4))
    y = rng.integers(0, 3, 20)
    plain = fastnn.Sequential([Dense(5, activation="tanh"), Dense(3)], input_dim=4, dtype="float64", seed=2)
    penalized = fastnn.Sequential([Dense(5, activation="tanh", l1=0.01, l2=0.02), Dense(3)], input_dim=4,
                                  dtype="float64", seed=2)
    W = penalized.layers[0].params["W"]
    expected = 0.01 * np.abs(W).sum() + 0.02 * (W ** 2).sum()
    diff = penalized.evaluate(X, y)["loss"] - plain.evaluate(X, y)["loss"]
    assert diff == pytest.approx(expected, rel=1e-12)
