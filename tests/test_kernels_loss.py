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


def test_zero_classes_are_refused_by_the_losses_and_give_an_empty_softmax(dtype):
    """Found under AddressSanitizer: rows of 0 classes had the kernels read each row's first logit past the
    buffer, and softmax_xent with checked labels write row i's gradient at [i, label] past it."""
    buffer = np.full((3, 4), 7.0, dtype)
    logits, grad = np.zeros((3, 0), dtype), buffer[:, :0]  # an empty view at the start of a wider buffer
    with pytest.raises(ValueError, match="at least one class"):
        ops.softmax_xent(logits, np.zeros(3, np.int64), grad, 1.0, checked_labels=True)
    with pytest.raises(ValueError, match="at least one class"):
        ops.softmax_xent_soft(logits, logits, grad, 1.0)
    np.testing.assert_array_equal(buffer, 7.0)
    # the softmax of an empty row is empty (as torch.softmax); the read past the buffer shows only under ASan
    assert ops.softmax(logits, grad).shape == (3, 0)
    np.testing.assert_array_equal(buffer, 7.0)


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


def _with_threads(n, fn):
    with fastnn.threads(n, parallel_threshold=1):  # threads even for small arrays
        return fn()


@pytest.mark.parametrize("rows", [1, 63, 64, 65, 5000])  # around and across the row blocks
def test_reported_loss_is_identical_for_one_and_two_threads(dtype, rows, rng):
    logits = (rng.standard_normal((rows, 10)) * 4).astype(dtype)
    labels = rng.integers(0, 10, rows)
    x = (rng.standard_normal(rows * 3) * 4).astype(dtype)
    t = rng.random(rows * 3).astype(dtype)

    def losses():
        return (ops.softmax_xent(logits, labels, np.empty_like(logits), 1 / rows),
                ops.bce_logits(x, t, None, 1.0), ops.mse(x, t, np.empty_like(x), 1.0))

    one, two = _with_threads(1, losses), _with_threads(2, losses)
    assert one == two  # floats compared exactly: the same bits


def test_fit_and_evaluate_loss_are_identical_for_one_and_two_threads(rng):
    from fastnn.layers import Dense

    X = rng.standard_normal((300, 6)).astype(np.float32)
    y = rng.integers(0, 3, 300)

    def train():
        model = fastnn.Sequential([Dense(8, activation="relu", l2=1e-3), Dense(3)], input_dim=6,
                                  dtype="float32", seed=0)
        history = model.fit(X, y, epochs=2, batch_size=300, seed=0, verbose=0)
        return history.history["loss"], model.evaluate(X, y)["loss"]

    assert _with_threads(1, train) == _with_threads(2, train)


def test_losses_accept_read_only_inputs_and_reject_non_contiguous_ones(dtype, layout, rng):
    logits = rng.standard_normal((8, 5)).astype(dtype)
    labels = rng.integers(0, 5, 8)
    expected = ops.softmax_xent(logits, labels, None, 1.0)
    if layout.name == "noncontiguous":
        with pytest.raises(ValueError, match="C-contiguous"):
            ops.softmax_xent(layout(logits), labels, None, 1.0)
    else:
        assert ops.softmax_xent(layout(logits), labels, None, 1.0) == expected
        assert ops.mse(layout(logits), layout(logits), None, 1.0) == 0.0


# ---- weights, label smoothing and soft targets ------------------------------------------------------------------

def test_weighted_smoothed_and_soft_cross_entropy_match_reference(dtype, threads, rng):
    logits = (rng.standard_normal((70, 6)) * 4).astype(dtype)  # 70 rows: across a row block
    labels = rng.integers(0, 6, 70)
    w = rng.random(70) * 3
    soft = rng.random((70, 6)).astype(dtype)
    soft /= soft.sum(axis=1, keepdims=True)
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    for weights in (None, w):
        for eps in (0.0, 0.1, 1.0):
            grad = np.empty_like(logits)
            loss, correct = ops.softmax_xent(logits, labels, grad, 0.5, weights=weights, smoothing=eps)
            loss_ref, grad_ref = ref.softmax_xent(logits, labels, 0.5, weights=weights, smoothing=eps)
            np.testing.assert_allclose(loss, loss_ref, rtol=rtol)
            np.testing.assert_allclose(grad, grad_ref, **TOL[dtype])
            assert correct == int((logits.argmax(axis=1) == labels).sum())
        loss, correct = ops.softmax_xent_soft(logits, soft, grad, 0.5, weights=weights)
        loss_ref, grad_ref = ref.softmax_xent_soft(logits, soft, 0.5, weights=weights)
        np.testing.assert_allclose(loss, loss_ref, rtol=rtol)
        np.testing.assert_allclose(grad, grad_ref, **TOL[dtype])
        assert correct == int((logits.argmax(axis=1) == soft.argmax(axis=1)).sum())


def test_weighted_bce_and_mse_match_reference(dtype, threads, rng):
    x = (rng.standard_normal((41, 3)) * 5).astype(dtype)
    t = rng.random((41, 3)).astype(dtype)
    w = rng.random(41) * 2
    g = np.empty_like(x)
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    loss, _ = ops.bce_logits(x, t, g, 0.25, weights=w)
    loss_ref, g_ref = ref.bce_logits(x, t, 0.25, weights=w)
    np.testing.assert_allclose(loss, loss_ref, rtol=rtol)
    np.testing.assert_allclose(g, g_ref, **TOL[dtype])
    loss = ops.mse(x, t, g, 0.25, weights=w)
    loss_ref, g_ref = ref.mse(x, t, 0.25, weights=w)
    np.testing.assert_allclose(loss, loss_ref, rtol=rtol)
    np.testing.assert_allclose(g, g_ref, **TOL[dtype])


def test_cross_entropy_kernels_match_torch_label_smoothing_weights_and_probability_targets(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    logits = rng.standard_normal((50, 5)) * 3
    labels = rng.integers(0, 5, 50)
    class_weight = rng.random(5) + 0.2
    probs = rng.random((50, 5))
    probs /= probs.sum(axis=1, keepdims=True)

    def torch_loss_and_grad(target, **kw):
        x = torch.tensor(logits, requires_grad=True)
        loss = F.cross_entropy(x, target, **kw)
        loss.backward()
        return loss.item(), x.grad.numpy()

    for eps in (0.0, 0.2):
        grad = np.empty_like(logits)
        total, _ = ops.softmax_xent(logits, labels, grad, 1 / 50, smoothing=eps)
        t_loss, t_grad = torch_loss_and_grad(torch.tensor(labels), label_smoothing=eps)
        assert total / 50 == pytest.approx(t_loss, rel=1e-12)
        np.testing.assert_allclose(grad, t_grad, rtol=1e-10, atol=1e-14)
    # class weights as per-row weights w_i = weight[y_i] with scale 1 / sum(w_i): torch's weighted mean
    w = class_weight[labels]
    total, _ = ops.softmax_xent(logits, labels, grad, 1 / w.sum(), weights=w)
    t_loss, t_grad = torch_loss_and_grad(torch.tensor(labels), weight=torch.tensor(class_weight))
    assert total / w.sum() == pytest.approx(t_loss, rel=1e-12)
    np.testing.assert_allclose(grad, t_grad, rtol=1e-10, atol=1e-14)
    total, _ = ops.softmax_xent_soft(logits, probs, grad, 1 / 50)
    t_loss, t_grad = torch_loss_and_grad(torch.tensor(probs))
    assert total / 50 == pytest.approx(t_loss, rel=1e-12)
    np.testing.assert_allclose(grad, t_grad, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("rows", [1, 65, 5000])
def test_weighted_losses_are_identical_for_one_and_two_threads(dtype, rows, rng):
    logits = (rng.standard_normal((rows, 10)) * 4).astype(dtype)
    labels = rng.integers(0, 10, rows)
    soft = np.eye(10, dtype=dtype)[labels]
    w = rng.random(rows)

    def losses():
        return (ops.softmax_xent(logits, labels, np.empty_like(logits), 1.0, weights=w, smoothing=0.1),
                ops.softmax_xent_soft(logits, soft, None, 1.0, weights=w),
                ops.bce_logits(logits, soft, None, 1.0, weights=w), ops.mse(logits, soft, None, 1.0, weights=w))

    assert _with_threads(1, losses) == _with_threads(2, losses)


def test_exp_bound_kernels_weigh_their_elements_by_their_measured_cost():
    """Two threads from the rows where they paid in bench/loss_threads.py (pool awake, 10 classes): the softmax
    cross entropy and the binary cross entropy from ~410 rows (an element weighs EXP_ELEMENT_WORK), the softmax
    alone (one exp an element) from ~820; a streaming pass's weight (1 an element) kept them on one thread up to
    26,000 rows. Compared with the default threshold itself: whether a second core is free is another question."""
    def parallel(work):
        return work >= fastnn._config._DEFAULT_THRESHOLD

    x_small, x_large = np.zeros((128, 10), np.float32), np.zeros((1024, 10), np.float32)
    assert not parallel(ops.softmax_xent_work(x_small, x_small)) and parallel(ops.softmax_xent_work(x_large, x_large))
    assert not parallel(ops.bce_logits_work(x_small)) and parallel(ops.bce_logits_work(np.zeros((512, 10))))
    assert not parallel(ops.softmax_work(np.zeros((512, 10)))) and parallel(ops.softmax_work(x_large))
