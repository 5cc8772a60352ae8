"""The optimizer step applied inside the weight-gradient products (issue 11 item 3, fastnn.optim.fused).

The fused step must leave the same bits as the plain one (the products, then ``Optimizer.step``): every update
is elementwise, so where the gemm's blocks fall cannot matter. Checked at kernel level against the step kernels
and the numpy twins, and at training level against ``FUSE_WEIGHT_UPDATES = False`` for every optimizer, both
dtypes, parameter groups, value clipping, the proximal L1 step, BatchNorm and Dropout, and 1-3 threads."""
from unittest import mock

import numpy as np
import pytest
from conftest import assert_trained_alike, counted

import fastnn
from fastnn._reference import gemm as ref_gemm
from fastnn._reference import optim as ref_optim
from fastnn.layers import BatchNorm, Dense, Dropout
from fastnn.ops import gemm as G
from fastnn.ops import optim as O
from fastnn.optim import fused as F
from fastnn.training import step as S

KIND_STATES = {"sgd": 1, "adagrad": 1, "rmsprop": 3, "adadelta": 2, "adam": 3}


def _hp(kind):
    """A plausible hp row for ``kind`` (every flag on where it has one, so each variant's loop runs)."""
    hp = np.zeros((2, O.HP_WIDTH[kind]))
    f = O.HP[kind]
    values = {"sgd": dict(lr=0.05, weight_decay=1e-3, momentum=0.9, one_minus_dampening=1.0, nesterov=1.0),
              "adagrad": dict(clr=0.02, weight_decay=1e-3, eps=1e-10),
              "rmsprop": dict(lr=0.01, weight_decay=1e-3, alpha=0.99, eps=1e-8, momentum=0.5, centered=1.0),
              "adadelta": dict(lr=1.0, rho=0.9, eps=1e-6),
              "adam": dict(step_size=0.01, decay_factor=0.999, beta1=0.9, beta2=0.999, eps=1e-8, bc2_sqrt=0.04,
                           amsgrad=1.0)}[kind]
    for name, v in values.items():
        hp[:, getattr(f, name)] = v
    hp[1, 0] *= 1.5  # a second group with another lr (field 0 of every kind)
    return hp


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", sorted(KIND_STATES))
@pytest.mark.parametrize("clip_mode", [O.CLIP_SCALE, O.CLIP_VALUE])
def test_gemm_update_equals_the_product_then_the_step_kernel(kind, dtype, clip_mode):
    rng = np.random.default_rng(3)
    shapes = [(37, 17), (300, 65), (1, 1), (8, 130)]  # odd widths: partial tiles, one band, several bands
    k = 29
    tensors, offset = [], 0
    for rows, cols in shapes:
        tensors.append((offset, rows, cols))
        offset += rows * cols
    n = offset + 5  # 5 values no product writes (a bias): the rest pass
    params = rng.standard_normal(n).astype(dtype)
    states = [rng.random(n).astype(dtype) for _ in range(KIND_STATES[kind])]
    if kind == "rmsprop":  # a centered state has grad_avg^2 <= square_avg
        states[1] = (0.5 * np.sqrt(states[0]) * rng.uniform(-1, 1, n)).astype(dtype)
    hp = _hp(kind)
    hp_row = [0, 1, 0, 1]
    clip = np.array([-0.5, 0.4]) if clip_mode == O.CLIP_VALUE else np.array([1.0])
    operands = [(rng.standard_normal((rows, k)).astype(dtype), rng.standard_normal((k, cols)).astype(dtype))
                for _, rows, cols in tensors]
    tail = rng.standard_normal(5).astype(dtype)

    # plain: every product into the flat gradient, then one step kernel per group's segment
    p0, s0, g0 = params.copy(), [s.copy() for s in states], np.zeros(n, dtype)
    for (off, rows, cols), (a, b) in zip(tensors, operands):
        G.gemm(a, b, g0[off:off + rows * cols].reshape(rows, cols))
    g0[offset:] = tail
    bounds = [0] + [off + rows * cols for off, rows, cols in tensors] + [n]
    seg_hp = np.ascontiguousarray(hp[hp_row + [0]])
    clip_arg = clip if clip_mode == O.CLIP_VALUE else np.ones(len(bounds) - 1)
    plain_count = getattr(O, f"{kind}_step")(g0, np.array(bounds, np.int64), seg_hp, p0, *s0, clip_mode=clip_mode,
                                              clip_arg=clip_arg)

    for n_threads in (1, 2, 3):
        p1, s1, g1 = params.copy(), [s.copy() for s in states], np.zeros(n, dtype)
        g1[offset:] = tail
        fused = O.tensor_updates(kind, p1, g1, tuple(s1), tensors, hp, hp_row, clip_mode, clip)
        rest = O.tensor_updates(kind, p1, g1, tuple(s1), [(offset, 1, 5)], hp, [0], clip_mode, clip)
        count = sum(G.gemm_update(a, b, fused, i, n_threads=n_threads) for i, (a, b) in enumerate(operands))
        count += O.update_tensors(rest, n_threads=n_threads)
        np.testing.assert_array_equal(g1, g0, err_msg=f"{n_threads} threads: gradients")
        np.testing.assert_array_equal(p1, p0, err_msg=f"{n_threads} threads: parameters")
        for i, (a, b) in enumerate(zip(s1, s0)):
            np.testing.assert_array_equal(a, b, err_msg=f"{n_threads} threads: state {i}")
        assert count == plain_count
    if clip_mode == O.CLIP_VALUE:
        assert plain_count > 0  # the clamp was exercised

    # the numpy twins, to rounding
    p2, s2, g2 = params.copy(), [s.copy() for s in states], np.zeros(n, dtype)
    g2[offset:] = tail
    twin = O.tensor_updates(kind, p2, g2, tuple(s2), tensors, hp, hp_row, clip_mode, clip)
    rest = O.tensor_updates(kind, p2, g2, tuple(s2), [(offset, 1, 5)], hp, [0], clip_mode, clip)
    twin_count = sum(ref_gemm.gemm_update(a, b, twin, i) for i, (a, b) in enumerate(operands))
    twin_count += ref_optim.update_tensors(rest)
    tol = dict(rtol=2e-4, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(p2, p0, **tol)
    if clip_mode == O.CLIP_SCALE:
        assert twin_count == 0


def test_tensor_updates_refuse_what_would_write_outside_the_buffers():
    p, g = np.zeros(10, np.float32), np.zeros(10, np.float32)
    hp = np.zeros((1, O.HP_WIDTH["sgd"]))
    with pytest.raises(ValueError, match="outside the buffers"):
        O.tensor_updates("sgd", p, g, (None,), [(4, 2, 4)], hp, [0], O.CLIP_SCALE, np.ones(1))
    with pytest.raises(ValueError, match="outside the buffers"):
        O.tensor_updates("sgd", p, g, (None,), [(0, 2, 4)], hp, [1], O.CLIP_SCALE, np.ones(1))
    with pytest.raises(ValueError, match="kind"):
        O.tensor_updates("lion", p, g, (None,), [(0, 2, 4)], hp, [0], O.CLIP_SCALE, np.ones(1))
    with pytest.raises(ValueError, match="shape"):
        O.tensor_updates("sgd", p, g, (np.zeros(9, np.float32),), [(0, 2, 4)], hp, [0], O.CLIP_SCALE, np.ones(1))
    updates = O.tensor_updates("sgd", p, g, (None,), [(0, 2, 4)], hp, [0], O.CLIP_SCALE, np.ones(1))
    with pytest.raises(ValueError, match="shape"):
        G.gemm_update(np.zeros((3, 5), np.float32), np.zeros((5, 4), np.float32), updates, 0)


# ---- training: the fused step against the plain one ---------------------------------------------------------
OPTIMIZERS = {
    "sgd_nesterov": lambda: fastnn.optim.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4),
    "adam": lambda: fastnn.optim.Adam(lr=3e-3),
    "adamw_amsgrad_groups": lambda: fastnn.optim.AdamW(
        lr=fastnn.schedules.Cosine(3e-3, 40), amsgrad=True,
        param_groups=fastnn.optim.no_decay_on_bias_and_norm()),
    "rmsprop_centered": lambda: fastnn.optim.RMSprop(lr=1e-3, centered=True, momentum=0.5),
    "adagrad_prox": lambda: fastnn.optim.Adagrad(lr=0.05, param_groups=[{"kinds": ["weight"], "prox_l1": 1e-3}]),
    "adadelta": lambda: fastnn.optim.Adadelta(),
}


def _fit(fuse, optimizer, dtype="float32", clip=None, layers=None, threads=2, epochs=2):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((240, 20)).astype(dtype)
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    layers = layers or [Dense(48, "relu"), BatchNorm(), Dropout(0.2), Dense(24, "tanh"), Dense(3)]
    model = fastnn.Sequential(layers, input_dim=20, dtype=dtype, seed=5)
    with mock.patch.object(S, "FUSE_WEIGHT_UPDATES", fuse), fastnn.threads(threads, parallel_threshold=1), \
            counted(F.FusedStep, "finish") as finished, counted(F.FusedStep, "finished_elsewhere") as chained:
        history = model.fit(X, y, optimizer=optimizer, epochs=epochs, batch_size=32, clip=clip, verbose=0, seed=1)
    return model, optimizer, history, len(finished) + len(chained)  # fused steps: ended by finish or the chain


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_a_fused_fit_trains_bitwise_like_the_plain_step(name, dtype):
    fused = _fit(True, OPTIMIZERS[name](), dtype)
    plain = _fit(False, OPTIMIZERS[name](), dtype)
    assert fused[3] == fused[1].step_count > 0  # every step was fused ...
    assert plain[3] == 0                        # ... and none of the plain ones
    assert_trained_alike(fused, plain)


@pytest.mark.parametrize("threads", [1, 3])
def test_a_fused_fit_with_value_clipping_is_the_plain_one_for_any_thread_count(threads):
    clip = fastnn.clip.ByValue(0.02)
    fused = _fit(True, fastnn.optim.SGD(lr=0.1, momentum=0.9), clip=clip, threads=threads)
    plain = _fit(False, fastnn.optim.SGD(lr=0.1, momentum=0.9), clip=clip, threads=2)
    assert fused[3] > 0
    assert_trained_alike(fused, plain)


def test_large_batches_take_the_plain_step():
    model = fastnn.Sequential([Dense(8, "relu"), Dense(2)], input_dim=4, seed=0)
    X = np.random.default_rng(0).standard_normal((S.FUSE_MAX_BATCH + 1, 4)).astype(np.float32)
    with counted(F.FusedStep, "finish") as finished, counted(F.FusedStep, "finished_elsewhere") as chained:
        model.fit(X, np.zeros(len(X), int), optimizer=fastnn.optim.SGD(0.1), epochs=1, batch_size=len(X),
                  verbose=0)
        assert finished == chained == []
        model.fit(X, np.zeros(len(X), int), epochs=1, batch_size=S.FUSE_MAX_BATCH, verbose=0)
        assert len(finished + chained) == 2  # the batch of FUSE_MAX_BATCH rows and the one row left over


def test_a_custom_layer_with_a_penalty_takes_the_plain_step():
    class Shrink(fastnn.layers.Layer):  # an identity layer whose penalty a user wrote, without has_penalty
        def forward(self, x, ws, ctx):
            return x

        def backward(self, dy, ws, ctx, need_dx):
            return dy

        def penalty(self, with_grad=True):
            return 0.5

    assert Shrink().has_penalty() and not Dense(3).has_penalty() and Dense(3, l1=0.1).has_penalty()
    model = fastnn.Sequential([Dense(8, "relu"), Shrink(), Dense(2)], input_dim=4, seed=0)
    assert S.fusable_weights(model) == {}  # unbuilt: no layout
    model.build(4)
    assert S.fusable_weights(model) == {}
    X = np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32)
    info = model.train_step(X, np.zeros(8, int), optimizer=fastnn.optim.SGD(0.1))
    assert info["loss"] > 0.5  # the penalty is in the loss


def test_norm_clipping_and_penalties_take_the_plain_step():
    _, _, history, fused_steps = _fit(True, fastnn.optim.Adam(1e-3), clip=fastnn.clip.ByGlobalNorm(0.5))
    assert fused_steps == 0 and history.history["loss"]
    layers = [Dense(48, "relu", l2=1e-3), Dense(3)]
    penalized = _fit(True, fastnn.optim.SGD(0.05), layers=layers)
    assert penalized[3] == 0
    plain = _fit(False, fastnn.optim.SGD(0.05), layers=[Dense(48, "relu", l2=1e-3), Dense(3)])
    assert_trained_alike(penalized, plain)


def test_a_nonfinite_loss_refuses_a_fused_step_before_any_update():
    model = fastnn.Sequential([Dense(8, "relu"), Dense(2)], input_dim=4, seed=0)
    X = np.ones((16, 4), np.float32)
    y = np.zeros(16, int)
    model.fit(X, y, optimizer=fastnn.optim.SGD(0.1, momentum=0.9), epochs=1, batch_size=8, verbose=0)
    optimizer = model.training_state.optimizer
    before = model.params.copy(), {k: v.copy() for k, v in optimizer.state.items()}, optimizer.step_count
    with pytest.raises(fastnn.training.step.NonFiniteLossError):  # finite inputs whose forward pass overflows
        model.train_step(np.full((8, 4), 3e38, np.float32), y[:8])
    np.testing.assert_array_equal(model.params, before[0])
    for k, v in optimizer.state.items():
        np.testing.assert_array_equal(v, before[1][k])
    assert optimizer.step_count == before[2]
