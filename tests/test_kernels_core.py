"""Dense epilogue and loss kernels against the numpy reference, both dtypes, serial and threaded."""
import numpy as np
import pytest

import fastnn
from fastnn import _reference as _unused  # noqa: F401  (the package must import)
from fastnn._reference import core as ref
from fastnn.ops import core as ops

ACTS = ["identity", "relu", "leaky_relu", "sigmoid", "tanh", "gelu"]
TOL = {np.float32: dict(rtol=2e-6, atol=2e-6), np.float64: dict(rtol=1e-13, atol=1e-13)}


@pytest.fixture(params=[1, 2], ids=["serial", "threaded"])
def threads(request):
    # force the OpenMP path even on small arrays
    with fastnn.threads(request.param, parallel_threshold=1 if request.param > 1 else None):
        yield request.param


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", ACTS)
def test_bias_act_forward_matches_reference(act, dtype, threads, rng):
    z = (rng.standard_normal((37, 300)) * 3).astype(dtype)
    b = rng.standard_normal(300).astype(dtype)
    expected = ref.bias_act_forward(z, b, act, 0.05)
    y = np.empty_like(z)
    zc = z.copy()
    ops.bias_act_forward(zc, b, y, act, 0.05)
    np.testing.assert_allclose(y, expected, **TOL[dtype])
    np.testing.assert_allclose(zc, z + b, **TOL[dtype])  # z keeps the pre-activation when not in place
    zi = z.copy()
    ops.bias_act_forward(zi, b, zi, act, 0.05)  # in place
    np.testing.assert_allclose(zi, expected, **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", ACTS)
def test_act_backward_matches_reference(act, dtype, threads, rng):
    z = (rng.standard_normal((53, 700)) * 2).astype(dtype)  # 700 columns: several column blocks
    dy = rng.standard_normal(z.shape).astype(dtype)
    y = ref.activation(z, act, 0.05)
    dz_expected, db_expected = ref.act_backward(dy, z, act, 0.05)
    dz, db = np.empty_like(dy), np.empty(z.shape[1], dtype)
    ops.act_backward(dy, y, z, dz, db, act, 0.05)
    tol = dict(rtol=5e-5, atol=5e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dz, dz_expected, **tol)
    np.testing.assert_allclose(db, db_expected, **tol)


def test_bias_gradient_is_identical_for_any_thread_count(rng):
    dy = rng.standard_normal((512, 1000)).astype(np.float32)
    y = np.abs(rng.standard_normal(dy.shape)).astype(np.float32)
    results = []
    for n in (1, 2):
        dz, db = np.empty_like(dy), np.empty(1000, np.float32)
        with fastnn.threads(n, parallel_threshold=1):
            ops.act_backward(dy, y, None, dz, db, "relu")
        results.append((dz, db))
    assert np.array_equal(results[0][0], results[1][0])
    assert np.array_equal(results[0][1], results[1][1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_weight_penalty_matches_reference(dtype, threads, rng):
    w = rng.standard_normal((300, 50)).astype(dtype)
    w[0, :3] = 0  # sign(0) = 0
    g = rng.standard_normal(w.shape).astype(dtype)
    g0 = g.copy()
    value = ops.weight_penalty(w, g, 0.01, 0.003)
    value_ref, grad_ref = ref.weight_penalty(w, 0.01, 0.003)
    np.testing.assert_allclose(value, value_ref, rtol=1e-12)
    np.testing.assert_allclose(g - g0, grad_ref, **TOL[dtype])
    assert ops.weight_penalty(w, None, 0.01, 0.003) == value  # value only, same fixed-block sum


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


def test_ops_reject_bad_buffers(rng):
    z = rng.standard_normal((4, 5)).astype(np.float32)
    with pytest.raises(ValueError, match="y_out must have shape"):
        ops.bias_act_forward(z, None, np.empty((4, 6), np.float32))
    with pytest.raises(TypeError, match="dtype float32"):
        ops.bias_act_forward(z, None, np.empty((4, 5), np.float64))
    with pytest.raises(ValueError, match="C-contiguous"):
        ops.bias_act_forward(np.asfortranarray(rng.standard_normal((4, 5))), None, np.empty((4, 5)))
    with pytest.raises(ValueError, match="unknown activation"):
        ops.bias_act_forward(z, None, z, "swish")
