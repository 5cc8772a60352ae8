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
