"""BatchNorm and LayerNorm: kernels vs the numpy reference, layers vs torch, finite differences, determinism."""
from __future__ import annotations

import numpy as np
import pytest
from gradcheck import check_model

import fastnn
from fastnn._reference import norm as ref
from fastnn.layers import BatchNorm, Dense, LayerNorm, ReLU, StepContext
from fastnn.ops import norm as ops

TRAIN, EVAL = StepContext(training=True), StepContext(training=False)
SHAPES = [(7, 5), (64, 33), (130, 100), (3, 1), (20, 1100)]  # 1100 > the 1024-feature chunk of the kernels


def bound(layer, in_dim, dtype=np.float64, rng=None):
    """Build and bind a layer by hand (what Sequential does), params/grads/buffers as separate arrays."""
    layer.build(in_dim, dtype)
    params = {n: np.zeros(s, dtype) for n, s, _ in layer.param_specs()}
    grads = {n: np.zeros(s, dtype) for n, s, _ in layer.param_specs()}
    buffers = {n: np.full(s, fill, dtype) for n, s, fill in layer.buffer_specs()}
    layer.bind(params, grads, buffers)
    layer.init_params(rng or np.random.default_rng(0))
    return layer


def rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


# -- kernels vs reference ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-6)])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("affine", [True, False])
def test_bn_kernels_match_reference(dtype, tol, shape, affine, rng):
    rows, cols = shape
    if rows < 2:
        rows = 2
    x = (rng.standard_normal((rows, cols)) * 2 + 3).astype(dtype)
    dy = rng.standard_normal((rows, cols)).astype(dtype)
    g = rng.standard_normal(cols).astype(dtype) if affine else None
    b = rng.standard_normal(cols).astype(dtype) if affine else None
    rm, rv = rng.standard_normal(cols).astype(dtype), rng.uniform(0.5, 2, cols).astype(dtype)
    y, mean, invstd = np.empty_like(x), np.empty(cols), np.empty(cols)
    rm_k, rv_k = rm.copy(), rv.copy()
    ops.bn_forward_train(x, g, b, y, mean, invstd, rm_k, rv_k, 1e-5, 0.3)
    Y, M, S, RM, RV = ref.bn_forward_train(x, g, b, rm, rv, 1e-5, 0.3)
    for got, want in ((y, Y), (mean, M), (invstd, S), (rm_k, RM), (rv_k, RV)):
        assert rel_err(got, want) < tol
    dx = np.empty_like(x)
    dg = np.empty(cols, dtype) if affine else None
    db = np.empty(cols, dtype) if affine else None
    ops.bn_backward(x, dy, g, mean, invstd, dx, dg, db, batch_stats=True)
    DX, DG, DB = ref.bn_backward(x, dy, g, M, S, batch_stats=True)
    assert rel_err(dx, DX) < 50 * tol  # dx is a difference of O(1) terms
    if affine:
        assert rel_err(dg, DG) < tol and rel_err(db, DB) < tol
    # in place gives the same bits
    dy2 = dy.copy()
    ops.bn_backward(x, dy2, g, mean, invstd, dy2, None if dg is None else dg.copy(),
                    None if db is None else db.copy())
    assert np.array_equal(dy2, dx)
    # evaluation mode
    ops.bn_forward_eval(x, g, b, rm, rv, y, mean, invstd, 1e-5)
    Y, M, S = ref.bn_forward_eval(x, g, b, rm, rv, 1e-5)
    assert rel_err(y, Y) < tol
    ops.bn_backward(x, dy, g, mean, invstd, dx, dg, db, batch_stats=False)
    DX, DG, DB = ref.bn_backward(x, dy, g, M, S, batch_stats=False)
    assert rel_err(dx, DX) < tol
    if affine:
        assert rel_err(dg, DG) < tol and rel_err(db, DB) < tol


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-6)])
@pytest.mark.parametrize("shape", SHAPES + [(1, 9), (200, 1)])
@pytest.mark.parametrize("affine", [True, False])
def test_ln_kernels_match_reference(dtype, tol, shape, affine, rng):
    x = (rng.standard_normal(shape) * 2 + 3).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    rows, cols = shape
    g = rng.standard_normal(cols).astype(dtype) if affine else None
    b = rng.standard_normal(cols).astype(dtype) if affine else None
    y, mean, invstd = np.empty_like(x), np.empty(rows), np.empty(rows)
    ops.ln_forward(x, g, b, y, mean, invstd, 1e-5)
    Y, M, S = ref.ln_forward(x, g, b, 1e-5)
    assert rel_err(y, Y) < tol and rel_err(mean, M) < tol and rel_err(invstd, S) < tol
    dx = np.empty_like(x)
    dg = np.empty(cols, dtype) if affine else None
    db = np.empty(cols, dtype) if affine else None
    ops.ln_backward(x, dy, g, mean, invstd, dx, dg, db)
    DX, DG, DB = ref.ln_backward(x, dy, g, M, S)
    if cols > 1:  # one feature: dx is exactly 0 up to rounding
        assert rel_err(dx, DX) < 50 * tol
    if affine:
        assert rel_err(dg, DG) < tol and rel_err(db, DB) < tol
    dy2 = dy.copy()
    ops.ln_backward(x, dy2, g, mean, invstd, dy2, None if dg is None else dg.copy(),
                    None if db is None else db.copy())
    assert np.array_equal(dy2, dx)


def test_statistics_are_robust_to_a_large_mean(rng):
    """Shifted sums: a feature with mean 1e4 and std 1e-2 keeps its variance in float32 (naive E[x^2] - mu^2
    in double would still be fine here, in float it would be 0)."""
    x = (1e4 + 1e-2 * rng.standard_normal((256, 8))).astype(np.float32)
    y, mean, invstd = np.empty_like(x), np.empty(8), np.empty(8)
    ops.bn_forward_train(x, None, None, y, mean, invstd)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(1 / invstd ** 2 - 1e-5, x64.var(axis=0), rtol=1e-6)
    lm, ls = np.empty(256), np.empty(256)
    ops.ln_forward(np.ascontiguousarray(x.T[:, :256]), None, None, np.empty((8, 256), np.float32), lm[:8], ls[:8])
    np.testing.assert_allclose(1 / ls[:8] ** 2 - 1e-5, x64.T.var(axis=1), rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_results_identical_for_any_thread_count(dtype, rng):
    x = rng.standard_normal((301, 1100)).astype(dtype)  # 5 row blocks, 2 feature chunks
    dy = rng.standard_normal(x.shape).astype(dtype)
    g, b = rng.standard_normal(1100).astype(dtype), rng.standard_normal(1100).astype(dtype)
    results = []
    for n in (1, 2, 3):
        with fastnn.threads(n, parallel_threshold=1):  # make every call parallel
            out = [np.empty_like(x), np.empty(1100), np.empty(1100), np.zeros(1100, dtype), np.ones(1100, dtype),
                   np.empty_like(x), np.empty(1100, dtype), np.empty(1100, dtype)]
            ops.bn_forward_train(x, g, b, *out[:5])
            ops.bn_backward(x, dy, g, out[1], out[2], *out[5:])
            ln = [np.empty_like(x), np.empty(301), np.empty(301), np.empty_like(x), np.empty(1100, dtype),
                  np.empty(1100, dtype)]
            ops.ln_forward(x, g, b, *ln[:3])
            ops.ln_backward(x, dy, g, ln[1], ln[2], *ln[3:])
        results.append(out + ln)
    for other in results[1:]:
        for a, b_ in zip(results[0], other):
            assert np.array_equal(a, b_)


def test_ops_validate_inputs(rng):
    x = rng.standard_normal((4, 3))
    y, m, s = np.empty_like(x), np.empty(3), np.empty(3)
    with pytest.raises(ValueError, match="more than 1 sample"):
        ops.bn_forward_train(x[:1], None, None, y[:1], m, s)
    with pytest.raises(TypeError, match="float64"):
        ops.bn_forward_train(x, None, None, y, m.astype(np.float32), s)
    with pytest.raises(ValueError, match="both"):
        ops.bn_forward_train(x, np.ones(3), None, y, m, s)
    with pytest.raises(ValueError, match="shape"):
        ops.ln_forward(x, None, None, np.empty((4, 4)), np.empty(4), np.empty(4))
    with pytest.raises(ValueError, match="momentum"):
        ops.bn_forward_train(x, None, None, y, m, s, np.zeros(3), np.ones(3), momentum=1.5)


# -- LayerNorm of rows beyond the range of their squares -----------------------------------------------------

EXTREME_ROWS = [(np.float64, 1e200), (np.float64, 1e160), (np.float64, 1e300), (np.float32, 1e25),
                (np.float32, 1e37)]


def _ln_exact(row_shape):
    """LayerNorm of a row (eps negligible) in float64 via the scale invariance LayerNorm(c x) = LayerNorm(x)."""
    r = np.asarray(row_shape, np.float64)
    return (r - r.mean(axis=1, keepdims=True)) / r.std(axis=1, keepdims=True)


def _ln_model_and_plan(X, eps=1e-5):
    from fastnn.inference import compile as compile_plan
    model = fastnn.Sequential([LayerNorm(eps=eps)], input_dim=X.shape[1], dtype=X.dtype, loss="mse")
    return model.predict(X), compile_plan(model).predict(X)


@pytest.mark.parametrize("dtype, scale", EXTREME_ROWS)
def test_layernorm_of_rows_whose_squares_overflow_is_exact(dtype, scale, rng):
    """float64 rows above ~1e154 (squared deviations beyond the largest double): the kernels' sums overflowed,
    the model gave 0 (1 / sqrt(inf)) and the plan NaN (inf - inf). The rows are rescued by a power of two; model,
    plan and twin give the scale-invariant exact answer. float32 (sums in double) never overflowed: kept as a
    check of the same answer."""
    base = np.vstack([[1.0, 2.0, 4.0, -3.0, 0.5, 1.0, 7.0, -2.0, 3.0], rng.uniform(-1, 1, 9)])
    X = (base * scale).astype(dtype)
    want = _ln_exact(X.astype(np.float64) / scale)
    tol = 1e-12 if dtype == np.float64 else 2e-6
    model_y, plan_y = _ln_model_and_plan(X)
    twin_y = ref.ln_forward(X, None, None, 1e-5)[0]
    for got in (model_y, plan_y, twin_y):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    y, mean, invstd = np.empty_like(X), np.empty(2), np.empty(2)
    ops.ln_forward(X, None, None, y, mean, invstd, 1e-5)
    X64 = X.astype(np.float64)
    np.testing.assert_allclose(mean, (X64 / scale).mean(axis=1) * scale, rtol=tol)
    np.testing.assert_allclose(invstd, 1 / ((X64 / scale).std(axis=1) * scale), rtol=tol)


def test_layernorm_rescue_is_the_plain_arithmetic_scaled_by_a_power_of_two(rng):
    """A rescued row (x 2^660) gives the very bits of the plain row (eps too small to count in either), in the
    layer kernel (y, mean, invstd) and in the plan; many columns and a row near the largest double included."""
    x = rng.uniform(-1, 1, (5, 37))
    x[4] = [0.99] * 36 + [-0.5]
    big = x * 2.0 ** 660
    tiny_eps = 1e-300
    outs = []
    for X in (x, big):
        y, mean, invstd = np.empty_like(X), np.empty(5), np.empty(5)
        ops.ln_forward(X, None, None, y, mean, invstd, tiny_eps)
        outs.append((y, mean, invstd, *_ln_model_and_plan(X, tiny_eps)))
    (y0, m0, s0, model0, plan0), (y1, m1, s1, model1, plan1) = outs
    assert np.array_equal(y1, y0) and np.array_equal(model1, model0) and np.array_equal(plan1, plan0)
    assert np.array_equal(m1, m0 * 2.0 ** 660) and np.array_equal(s1, s0 * 2.0 ** -660)
    near_max = np.array([[1.0, 0.5, -0.25]]) * 2.0 ** 1023
    for got in _ln_model_and_plan(near_max):
        np.testing.assert_allclose(got, _ln_exact([[1.0, 0.5, -0.25]]), rtol=1e-12)


def test_layernorm_plain_rows_keep_the_textbook_bits():
    """A row whose sums are exact ([1, 3]: var 1, mean 2): y = (x - mean) / sqrt(var + eps), to the bit, in the
    kernel and the plan (the rescue leaves the plain path as it was)."""
    X = np.array([[1.0, 3.0]])
    is_ = 1.0 / np.sqrt(1.0 + 1e-5)
    y, mean, invstd = np.empty_like(X), np.empty(1), np.empty(1)
    ops.ln_forward(X, None, None, y, mean, invstd, 1e-5)
    assert mean[0] == 2.0 and invstd[0] == is_
    for got in (y, *_ln_model_and_plan(X)):
        assert np.array_equal(got, [[-is_, is_]])


def test_layernorm_of_rows_whose_squares_underflow_is_eps_dominated():
    """float64 rows near 1e-200: the squared deviations underflow to 0, and rightly so: var (~1e-400) is far
    below any eps the layer is given, so y = (x - mean) / sqrt(eps) (tiny, finite) in model, plan and twin."""
    r = np.array([[1.0, 2.0, 4.0]])
    X = r * 1e-200
    want = (X - X.mean()) / np.sqrt(1e-5)
    for got in (*_ln_model_and_plan(X), ref.ln_forward(X, None, None, 1e-5)[0]):
        np.testing.assert_allclose(got, want, rtol=1e-12)
        assert np.abs(got).max() > 0


def test_layernorm_gradients_of_rescued_rows_are_the_scaled_plain_ones(rng):
    """Backward of a rescued row (the saved mean and invstd are those of the rescue): dx is the plain row's dx
    times 2^-660 and dgamma/dbeta are the plain row's, to the bit (tiny eps); before, invstd was 0 and every
    gradient 0. A training step on 1e200-scaled inputs stays finite and moves the weights as on the plain
    ones (eps too small to count in either)."""
    x = rng.uniform(-1, 1, (6, 11))
    dy, g, b = rng.standard_normal((6, 11)), rng.standard_normal(11), rng.standard_normal(11)
    grads = []
    for X in (x, x * 2.0 ** 660):
        y, mean, invstd = np.empty_like(X), np.empty(6), np.empty(6)
        ops.ln_forward(X, g, b, y, mean, invstd, 1e-300)
        dx, dg, db = np.empty_like(X), np.empty(11), np.empty(11)
        ops.ln_backward(X, dy, g, mean, invstd, dx, dg, db)
        grads.append((dx, dg, db))
    assert np.array_equal(grads[1][0], grads[0][0] * 2.0 ** -660)
    assert np.array_equal(grads[1][1], grads[0][1]) and np.array_equal(grads[1][2], grads[0][2])
    target = rng.standard_normal((6, 2))
    weights = []
    for X in (x, x * 1e200):
        model = fastnn.Sequential([LayerNorm(eps=1e-300), Dense(2)], input_dim=11, dtype="float64", loss="mse",
                                  seed=0)
        out = model.train_step(X, target, optimizer=fastnn.optim.SGD(lr=0.1))
        assert np.isfinite(out["loss"])
        weights.append(model.get_weights())
    for w_plain, w_big in zip(*weights):
        assert np.all(np.isfinite(w_big))
        np.testing.assert_allclose(w_big, w_plain, rtol=1e-9, atol=1e-12)


# -- layers vs torch ---------------------------------------------------------------------------------------

def _torch_bn(torch, features, dtype, momentum, affine, gamma=None, beta=None):
    bn = torch.nn.BatchNorm1d(features, momentum=momentum, eps=1e-5, affine=affine, dtype=dtype)
    if affine:
        with torch.no_grad():
            bn.weight.copy_(torch.from_numpy(gamma))
            bn.bias.copy_(torch.from_numpy(beta))
    return bn


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-10), ("float32", 2e-6)])
@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm_matches_torch(dtype, rtol, momentum, affine, rng):
    torch = pytest.importorskip("torch")
    tdtype = getattr(torch, dtype)
    features = 37
    layer = bound(BatchNorm(momentum=momentum, affine=affine), features, dtype)
    gamma = rng.uniform(0.5, 1.5, features).astype(dtype)
    beta = rng.standard_normal(features).astype(dtype)
    if affine:
        layer.params["gamma"][...] = gamma
        layer.params["beta"][...] = beta
    tbn = _torch_bn(torch, features, tdtype, momentum, affine, gamma, beta)
    atol = 0 if dtype == "float64" else 1e-6
    for _step, batch in enumerate((16, 50, 9, 50)):
        ws = layer.workspace(batch)
        x = (rng.standard_normal((batch, features)) * rng.uniform(0.5, 3, features)
             + rng.standard_normal(features)).astype(dtype)
        dy = rng.standard_normal((batch, features)).astype(dtype)
        y = layer.forward(x, ws, TRAIN).copy()
        dx = layer.backward(dy.copy(), ws, TRAIN, True)
        tx = torch.from_numpy(x.copy()).requires_grad_(True)
        ty = tbn.train()(tx)
        ty.backward(torch.from_numpy(dy))
        np.testing.assert_allclose(y, ty.detach().numpy(), rtol=rtol, atol=atol)
        np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=rtol, atol=10 * atol)
        if affine:
            np.testing.assert_allclose(layer.grads["gamma"], tbn.weight.grad.numpy(), rtol=rtol, atol=10 * atol)
            np.testing.assert_allclose(layer.grads["beta"], tbn.bias.grad.numpy(), rtol=rtol, atol=10 * atol)
            tbn.weight.grad = tbn.bias.grad = None
        np.testing.assert_allclose(layer.buffers["running_mean"], tbn.running_mean.numpy(), rtol=rtol, atol=atol)
        np.testing.assert_allclose(layer.buffers["running_var"], tbn.running_var.numpy(), rtol=rtol, atol=atol)
    if momentum is None:
        assert layer.buffers["num_batches_tracked"][0] == tbn.num_batches_tracked.item() == 4
    # evaluation: running statistics, and the backward treats them as constants
    x = rng.standard_normal((5, features)).astype(dtype)
    dy = rng.standard_normal((5, features)).astype(dtype)
    ws = layer.workspace(5)
    y = layer.forward(x, ws, EVAL).copy()
    dx = layer.backward(dy.copy(), ws, EVAL, True)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    ty = tbn.eval()(tx)
    ty.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=rtol, atol=atol)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=rtol, atol=atol)
    if affine:
        np.testing.assert_allclose(layer.grads["gamma"], tbn.weight.grad.numpy(), rtol=rtol, atol=10 * atol)


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-10), ("float32", 2e-6)])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("features", [1, 10, 129])
def test_layernorm_matches_torch(dtype, rtol, affine, features, rng):
    torch = pytest.importorskip("torch")
    layer = bound(LayerNorm(elementwise_affine=affine), features, dtype)
    tln = torch.nn.LayerNorm(features, eps=1e-5, elementwise_affine=affine, dtype=getattr(torch, dtype))
    if affine:
        gamma = rng.uniform(0.5, 1.5, features).astype(dtype)
        beta = rng.standard_normal(features).astype(dtype)
        layer.params["gamma"][...] = gamma
        layer.params["beta"][...] = beta
        with torch.no_grad():
            tln.weight.copy_(torch.from_numpy(gamma))
            tln.bias.copy_(torch.from_numpy(beta))
    atol = 1e-12 if dtype == "float64" else 1e-6
    for ctx in (TRAIN, EVAL):  # LayerNorm has no mode
        x = (rng.standard_normal((70, features)) * 3 + 1).astype(dtype)
        dy = rng.standard_normal((70, features)).astype(dtype)
        ws = layer.workspace(70)
        y = layer.forward(x, ws, ctx).copy()
        dx = layer.backward(dy.copy(), ws, ctx, True)
        tx = torch.from_numpy(x.copy()).requires_grad_(True)
        ty = tln(tx)
        ty.backward(torch.from_numpy(dy))
        np.testing.assert_allclose(y, ty.detach().numpy(), rtol=rtol, atol=atol)
        if features == 1:  # the exact dx is 0; both sides return rounding noise amplified by 1/sqrt(eps)
            assert np.abs(dx).max() < (1e-9 if dtype == "float64" else 1e-3)
        else:
            np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=rtol, atol=10 * atol)
        if affine:
            if features > 1:  # one feature: xhat is exactly 0 here (dgamma = 0), torch returns rounding noise
                np.testing.assert_allclose(layer.grads["gamma"], tln.weight.grad.numpy(), rtol=rtol, atol=10 * atol)
            np.testing.assert_allclose(layer.grads["beta"], tln.bias.grad.numpy(), rtol=rtol, atol=10 * atol)
            tln.weight.grad = tln.bias.grad = None


# -- finite differences --------------------------------------------------------------------------------------

def _layer_input_grad_check(layer, x, ctx, eps=1e-6):
    """d/dx of L = sum(w * layer(x)) by central differences vs the layer's backward (float64)."""
    w = np.random.default_rng(9).standard_normal(x.shape)
    ws = layer.workspace(x.shape[0])

    def loss(xx):
        return float((w * layer.forward(xx, ws, ctx)).sum())

    loss(x)
    analytic = layer.backward(w.copy(), ws, ctx, True).copy()
    grads = {k: v.copy() for k, v in layer.grads.items()}
    numeric = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + eps
        up = loss(x)
        x[idx] = old - eps
        down = loss(x)
        x[idx] = old
        numeric[idx] = (up - down) / (2 * eps)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)
    assert np.abs(analytic).max() > 1e-3
    for name, p in layer.params.items():
        num = np.empty_like(p)
        for k in range(p.size):
            old = p.flat[k]
            p.flat[k] = old + eps
            up = loss(x)
            p.flat[k] = old - eps
            down = loss(x)
            p.flat[k] = old
            num.flat[k] = (up - down) / (2 * eps)
        np.testing.assert_allclose(grads[name], num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm_gradients_finite_differences(affine, rng):
    layer = bound(BatchNorm(affine=affine), 6)
    if affine:
        layer.params["gamma"][...] = rng.uniform(0.5, 2, 6)
        layer.params["beta"][...] = rng.standard_normal(6)
    x = rng.standard_normal((9, 6)) * 2 + 1
    _layer_input_grad_check(layer, x, TRAIN)   # through the batch statistics
    layer.buffers["running_var"][...] = rng.uniform(0.5, 2, 6)
    _layer_input_grad_check(layer, x, EVAL)    # statistics constant


@pytest.mark.parametrize("affine", [True, False])
def test_layernorm_gradients_finite_differences(affine, rng):
    layer = bound(LayerNorm(elementwise_affine=affine), 7)
    if affine:
        layer.params["gamma"][...] = rng.uniform(0.5, 2, 7)
        layer.params["beta"][...] = rng.standard_normal(7)
    _layer_input_grad_check(layer, rng.standard_normal((5, 7)) * 2 + 1, TRAIN)


def test_model_with_norm_layers_gradients(rng):
    """Whole model in training mode: Dense -> BatchNorm -> ReLU -> Dense -> LayerNorm -> Dense, every parameter."""
    model = fastnn.Sequential([Dense(6), BatchNorm(), ReLU(), Dense(5, activation="tanh"), LayerNorm(), Dense(3)],
                              input_dim=4, dtype="float64", seed=3)
    layers = model.layers
    layers[1].params["gamma"][...] = rng.uniform(0.5, 2, 6)
    layers[1].params["beta"][...] = rng.standard_normal(6)
    layers[4].params["gamma"][...] = rng.uniform(0.5, 2, 5)
    check_model(model, rng.standard_normal((8, 4)), rng.integers(0, 3, 8))


# -- model-level behaviour -----------------------------------------------------------------------------------

def test_weights_order_kinds_and_buffers_outside_the_optimizer(rng):
    model = fastnn.Sequential([Dense(8), BatchNorm(), ReLU(), Dense(4), LayerNorm(), Dense(2)], input_dim=3,
                              dtype="float32")
    shapes = [w.shape for w in model.get_weights()]
    assert shapes == [(3, 8), (8,), (8,), (8,), (8,), (8,), (8, 4), (4,), (4,), (4,), (4, 2), (2,)]
    bn, ln = model.layers[1], model.layers[4]
    assert bn.weight_names() == ["gamma", "beta", "running_mean", "running_var"]
    assert ln.weight_names() == ["gamma", "beta"]
    kinds = {e.name: e.kind for e in model.layout.entries}
    assert kinds["1.gamma"] == kinds["1.beta"] == kinds["4.gamma"] == "norm"
    assert "1.running_mean" not in kinds  # running statistics are not trainable parameters
    assert np.all(bn.params["gamma"] == 1) and np.all(bn.params["beta"] == 0)
    assert np.all(bn.buffers["running_var"] == 1) and np.all(bn.buffers["running_mean"] == 0)
    state = model.state_arrays()
    assert "1.running_mean" in state and "1.running_var" in state
    # the flat parameter vector does not contain the running statistics
    assert model.params.size == 3 * 8 + 8 + 16 + 8 * 4 + 4 + 8 + 4 * 2 + 2


def test_fit_updates_running_stats_and_predict_uses_them(rng):
    X = (rng.standard_normal((256, 5)) * 3 + 2).astype(np.float32)
    y = (X[:, 0] > 2).astype(np.int64)
    model = fastnn.Sequential([Dense(16), BatchNorm(), ReLU(), Dense(2)], input_dim=5, dtype="float32", seed=0)
    model.fit(X, y, epochs=2, batch_size=32, verbose=0)
    bn = model.layers[1]
    assert not np.allclose(bn.buffers["running_mean"], 0)
    # predict is deterministic and independent of the batch composition (running statistics)
    p_all = model.predict(X)
    p_one = np.concatenate([model.predict(X[i:i + 1]) for i in range(5)])
    np.testing.assert_allclose(p_all[:5], p_one, rtol=1e-5, atol=1e-6)


def test_batch_of_one_in_training_raises_clearly(rng):
    layer = bound(BatchNorm(), 4)
    ws = layer.workspace(1)
    with pytest.raises(ValueError, match="more than 1 sample"):
        layer.forward(rng.standard_normal((1, 4)), ws, TRAIN)
    assert np.all(layer.buffers["running_mean"] == 0)  # nothing changed
    layer.forward(rng.standard_normal((1, 4)), ws, EVAL)  # evaluation is fine


def test_constructor_validation():
    with pytest.raises(ValueError, match="momentum"):
        BatchNorm(momentum=2.0)
    with pytest.raises(ValueError, match="eps"):
        BatchNorm(eps=0)
    with pytest.raises(ValueError, match="eps"):
        LayerNorm(eps=-1.0)
    assert BatchNorm(momentum=None).get_config() == {"class": "BatchNorm", "momentum": None, "eps": 1e-5,
                                                      "affine": True}


def test_running_statistics_saved_and_loaded_with_the_model(tmp_path, rng):
    X = (rng.standard_normal((200, 6)) * 2 + 1).astype(np.float32)
    y = (X[:, 0] > 1).astype(np.int64)
    model = fastnn.Sequential([Dense(8), BatchNorm(momentum=None), ReLU(), Dense(8), LayerNorm(), Dense(2)],
                              input_dim=6)
    model.fit(X, y, epochs=2, batch_size=40, verbose=0)
    fastnn.io.save(model, tmp_path / "bn.fnn")
    again = fastnn.io.load(tmp_path / "bn.fnn")
    for a, b in zip(model.get_weights(), again.get_weights()):
        assert np.array_equal(a, b)
    assert again.layers[1].buffers["num_batches_tracked"][0] == 10
    assert np.array_equal(again.predict(X), model.predict(X))


def test_a_frozen_batchnorm_is_a_fixed_affine_map_under_fit(tmp_path, rng):
    """BatchNorm(frozen=True) (what fastnn.onnx.load makes of a constant scale-shift between layers) runs its
    evaluation form in training too and trains nothing: its arrays, in get_weights' order, are buffers; the input
    gradient is the evaluation one; a batch of one trains; a file keeps it frozen, and an ordinary BatchNorm's
    config does not name the option."""
    layer = bound(BatchNorm(frozen=True), 6)
    assert not layer.params and layer.weight_names() == ["gamma", "beta", "running_mean", "running_var"]
    layer.buffers["gamma"][...] = rng.uniform(0.5, 2, 6)
    layer.buffers["running_var"][...] = rng.uniform(0.5, 2, 6)
    x = rng.standard_normal((9, 6)) * 2 + 1
    _layer_input_grad_check(layer, x, TRAIN)
    y_train = layer.forward(x, layer.workspace(9), TRAIN).copy()
    np.testing.assert_array_equal(y_train, layer.forward(x, layer.workspace(9), EVAL))
    model = fastnn.Sequential([Dense(6), BatchNorm(frozen=True), Dense(2)], input_dim=3, dtype="float32", seed=0)
    frozen = [a.copy() for a in model.layers[1].buffers.values()]
    model.fit(rng.standard_normal((33, 3)), rng.integers(0, 2, 33), batch_size=32, epochs=1, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(frozen, model.layers[1].buffers.values(), strict=True))
    fastnn.save(model, tmp_path / "m.safetensors")
    assert fastnn.load(tmp_path / "m.safetensors").layers[1].frozen
    assert "frozen" not in BatchNorm().get_config() and BatchNorm(frozen=True).get_config()["frozen"] is True
