"""Dropout: counter-based masks (reference, threads, seeds), statistics, identity at eval, gradients."""
from __future__ import annotations

import numpy as np
import pytest

import fastnn
from fastnn._reference import dropout as ref
from fastnn.layers import BatchNorm, Dense, Dropout, ReLU, StepContext
from fastnn.losses import get as get_loss
from fastnn.ops import dropout as ops


def bound(layer, in_dim, dtype=np.float64):
    layer.build(in_dim, dtype)
    layer.bind({}, {}, {})
    layer.init_params(np.random.default_rng(0))
    return layer


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 2, 7, 4096, 4097, 12345])
@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_kernel_matches_reference(dtype, n, p, rng):
    x = rng.standard_normal(n).astype(dtype)
    key = ops.dropout_key(7, 3, 2)
    y, mask = np.empty_like(x), np.empty(n, np.uint8)
    ops.dropout_forward(x, y, mask, p, key)
    Y, M = ref.dropout_forward(x, p, key)
    assert np.array_equal(mask, M) and np.array_equal(y, Y)
    dy = rng.standard_normal(n).astype(dtype)
    dx = np.empty_like(dy)
    ops.dropout_backward(dy, mask, dx, p)
    assert np.array_equal(dx, ref.dropout_backward(dy, mask, p))
    ops.dropout_backward(dy, mask, dy, p)  # in place
    assert np.array_equal(dy, dx)
    only = np.empty(n, np.uint8)
    assert np.array_equal(ops.dropout_mask(only, p, key), M)


def test_key_mixes_every_input():
    keys = {ops.dropout_key(s, t, k) for s in range(4) for t in range(4) for k in range(4)}
    assert len(keys) == 64
    assert ops.dropout_key(0, 0, 0) == ops.dropout_key(0, 0, 0)
    with pytest.raises(TypeError):
        ops.dropout_key(0.5, 0)


def test_same_masks_for_one_and_two_threads(rng):
    x = rng.standard_normal((333, 517)).astype(np.float32)
    key = ops.dropout_key(11, 5)
    outs = []
    for n in (1, 2):
        with fastnn.threads(n, parallel_threshold=1):  # every call goes parallel
            y, mask = np.empty_like(x), np.empty(x.shape, np.uint8)
            ops.dropout_forward(x, y, mask, 0.3, key)
            dx = np.empty_like(x)
            ops.dropout_backward(x, mask, dx, 0.3)
        outs.append((y, mask, dx))
    for a, b in zip(*outs):
        assert np.array_equal(a, b)


def test_masks_differ_between_seeds_steps_and_streams(rng):
    x = np.ones((64, 128))
    layer = bound(Dropout(0.5), 128)
    ws = layer.workspace(64)

    def mask(seed, step, stream=0):
        layer.stream = stream
        layer.forward(x, ws, StepContext(training=True, seed=seed, step=step))
        return ws.mask.copy()

    base = mask(0, 0)
    assert np.array_equal(base, mask(0, 0))
    for other in (mask(1, 0), mask(0, 1), mask(0, 0, stream=3)):
        agree = (other == base).mean()
        assert 0.4 < agree < 0.6  # independent masks agree on about half the units


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_keep_rate_and_mean_preserved(p, rng):
    """Over 10^6 units the kept fraction is 1 - p and the mean of the output equals the mean of the input,
    both within 5 standard errors."""
    n = 1000 * 1000
    x = (rng.standard_normal(n) + 2.0).astype(np.float64)
    y, mask = np.empty_like(x), np.empty(n, np.uint8)
    ops.dropout_forward(x, y, mask, p, ops.dropout_key(123, 0))
    keep = mask.mean()
    assert abs(keep - (1 - p)) < 5 * np.sqrt(p * (1 - p) / n)
    se = y.std() / np.sqrt(n)
    assert abs(y.mean() - x.mean()) < 5 * se
    kept = mask.astype(bool)
    np.testing.assert_allclose(y[kept], x[kept] / (1 - p), rtol=1e-15)
    assert np.all(y[~kept] == 0)
    # no visible structure: the kept fraction is the same in even and odd positions (the two halves of a hash)
    assert abs(mask[0::2].mean() - mask[1::2].mean()) < 10 * np.sqrt(p * (1 - p) / n)


def test_identity_at_eval_and_for_p_zero(rng):
    x = rng.standard_normal((10, 6))
    layer = bound(Dropout(0.5), 6)
    ws = layer.workspace(10)
    assert layer.forward(x, ws, StepContext(training=False)) is x
    dy = rng.standard_normal((10, 6))
    assert np.array_equal(layer.backward(dy.copy(), ws, StepContext(training=False), True), dy)
    zero = bound(Dropout(0.0), 6)
    assert zero.forward(x, zero.workspace(10), StepContext(training=True)) is x


def test_p_one_drops_everything(rng):
    layer = bound(Dropout(1.0), 5)
    ws = layer.workspace(4)
    y = layer.forward(rng.standard_normal((4, 5)), ws, StepContext(training=True))
    assert np.all(y == 0) and np.isfinite(y).all()


def test_gradient_with_fixed_mask_finite_differences(rng):
    """The mask depends only on (seed, step, stream, index), so with a fixed context the layer is a fixed linear
    map and central differences must match its backward pass exactly."""
    layer = bound(Dropout(0.4), 7)
    x = rng.standard_normal((6, 7))
    w = rng.standard_normal((6, 7))
    ctx = StepContext(training=True, seed=5, step=2)
    ws = layer.workspace(6)

    def loss(xx):
        return float((w * layer.forward(xx, ws, ctx)).sum())

    loss(x)
    analytic = layer.backward(w.copy(), ws, ctx, True).copy()
    numeric = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + 1e-6
        up = loss(x)
        x[idx] = old - 1e-6
        down = loss(x)
        x[idx] = old
        numeric[idx] = (up - down) / 2e-6
    np.testing.assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-9)
    assert (analytic == 0).any() and (analytic != 0).any()


def test_model_gradient_with_dropout(rng):
    model = fastnn.Sequential([Dense(8, activation="tanh"), Dropout(0.5), Dense(3)], input_dim=4, dtype="float64")
    loss = get_loss("cross_entropy")
    x, y = rng.standard_normal((10, 4)), rng.integers(0, 3, 10)
    targets = loss.prepare_targets(y, 10, 3, model.dtype)
    ctx = StepContext(training=True, seed=1, step=4)
    model.loss_and_grad(x, targets, loss, ctx)
    analytic = model.grads.copy()
    numeric = np.empty_like(analytic)
    for k in range(model.params.size):
        old = model.params[k]
        model.params[k] = old + 1e-6
        up, _ = model.loss_and_grad(x, targets, loss, ctx)
        model.params[k] = old - 1e-6
        down, _ = model.loss_and_grad(x, targets, loss, ctx)
        model.params[k] = old
        numeric[k] = (up - down) / 2e-6
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_predict_is_deterministic_with_dropout(rng):
    X = rng.standard_normal((50, 4)).astype(np.float32)
    model = fastnn.Sequential([Dense(16, activation="relu"), Dropout(0.5), Dense(2)], input_dim=4)
    p1, p2 = model.predict(X), model.predict(X)
    assert np.array_equal(p1, p2)
    # equal to the same network without the dropout layer
    plain = fastnn.Sequential([Dense(16, activation="relu"), Dense(2)], input_dim=4)
    plain.set_weights(model.get_weights())
    np.testing.assert_allclose(plain.predict(X), p1, rtol=1e-6)


def test_constructor_validation():
    for bad in (-0.1, 1.5, "0.5", True):
        with pytest.raises(ValueError, match="Dropout p must be"):
            Dropout(bad)
    assert Dropout(0.25).get_config() == {"class": "Dropout", "p": 0.25}


def test_dropout_layers_of_one_model_use_different_streams(rng):
    """Two Dropout layers of the same width in one model never share a mask; adding Dropout layers does not
    change the other layers' initial weights, and a rebuilt model gets the same streams."""
    layers = lambda: [Dense(64, activation="relu"), Dropout(0.5), Dense(64, activation="relu"),  # noqa: E731
                      Dropout(0.5), Dense(2)]
    model = fastnn.Sequential(layers(), input_dim=5, seed=3)
    d1, d2 = model.layers[1], model.layers[3]
    ctx = StepContext(training=True, seed=0, step=7)
    ones = np.ones((32, 64), np.float32)
    w1, w2 = d1.workspace(32), d2.workspace(32)
    d1.forward(ones, w1, ctx)
    d2.forward(ones, w2, ctx)
    assert 0.4 < (w1.mask == w2.mask).mean() < 0.6
    again = fastnn.Sequential(layers(), input_dim=5, seed=3)
    assert again.layers[1].key(ctx) == d1.key(ctx) and again.layers[3].key(ctx) == d2.key(ctx)
    plain = fastnn.Sequential([Dense(64, activation="relu"), Dense(64, activation="relu"), Dense(2)], input_dim=5,
                              seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(plain.get_weights(), model.get_weights()))
    d1.stream = 5  # an explicit stream wins
    assert d1.key(ctx) == ops.dropout_key(0, 7, 5)


@pytest.mark.parametrize("between", [[], [ReLU()], [BatchNorm(affine=False)], [Dense(32, init="zeros")]])
def test_dropouts_that_nothing_random_separates_draw_independent_masks(between):
    """The derived stream hashes the generator's state; with no random draw between two Dropouts (adjacent, or
    only activations, norms, constant-initialized layers) it was the same stream: one mask, keeping half the
    units where two independent masks keep a quarter (E[y] = 2x)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a zeros-initialized Dense warns of symmetry
        model = fastnn.Sequential([Dropout(0.5), *between, Dropout(0.5), Dropout(0.5)], input_dim=32,
                                  dtype="float64", loss="mse", seed=0)
    drops = [layer for layer in model.layers if isinstance(layer, Dropout)]
    ctx = StepContext(training=True, seed=0, step=0)
    assert len({d.key(ctx) for d in drops}) == 3
    ones = np.ones((4000, 32))
    masks = []
    for d in drops:
        ws = d.workspace(4000)
        d.forward(ones, ws, ctx)
        masks.append(ws.mask.astype(bool))
    kept_by_all = np.logical_and.reduce(masks).mean()
    assert abs(kept_by_all - 0.125) < 0.01  # three independent masks keep 1/8; shared ones kept 1/2


def test_an_explicit_stream_is_part_of_the_config_and_survives_a_model_file(tmp_path, rng):
    """Dropout(p, stream=k) keeps k through get_config and a saved and reloaded model, so the reloaded model
    draws the same masks (a lost stream would silently fall back to the derived one)."""
    from fastnn import io

    layers = [Dense(16, activation="relu"), Dropout(0.5, stream=2**64 - 1), Dense(2)]
    model = fastnn.Sequential(layers, input_dim=3, seed=0, loss="mse")
    assert model.layers[1].get_config() == {"class": "Dropout", "p": 0.5, "stream": 2**64 - 1}
    io.save(model, tmp_path / "m.fnn")
    again = io.load(tmp_path / "m.fnn")
    ctx = StepContext(training=True, seed=1, step=3)
    assert again.layers[1].stream == 2**64 - 1
    assert again.layers[1].key(ctx) == model.layers[1].key(ctx) == ops.dropout_key(1, 3, 2**64 - 1)
    x, y = rng.standard_normal((8, 3)), rng.standard_normal((8, 2))
    for m in (model, again):
        m.train_step(x, y, optimizer="sgd")
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), again.get_weights()))


@pytest.mark.parametrize("stream,error", [(-1, ValueError), (2**64, ValueError), (1.5, TypeError),
                                          (True, TypeError), ("3", TypeError)])
def test_a_bad_stream_is_refused(stream, error):
    with pytest.raises(error, match="Dropout stream"):
        Dropout(0.5, stream=stream)
