"""Dense epilogue and weight-penalty kernels against the numpy reference, both dtypes, serial and threaded."""
import numpy as np
import pytest

import fastnn
from fastnn._reference import dense as ref
from fastnn.ops import dense as ops

ACTS = ["identity", "relu", "leaky_relu", "sigmoid", "tanh", "gelu"]
TOL = {np.float32: dict(rtol=2e-6, atol=2e-6), np.float64: dict(rtol=1e-13, atol=1e-13)}


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


@pytest.mark.parametrize("act", ACTS)
def test_act_backward_matches_reference(act, dtype, threads, rng):
    z = (rng.standard_normal((53, 700)) * 2).astype(dtype)  # 700 columns: several column blocks
    dy = rng.standard_normal(z.shape).astype(dtype)
    y = ref.act(z, act, 0.05)
    dz_expected, db_expected = ref.act_backward(dy, y, z, act, 0.05)
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


def test_weight_penalty_matches_reference(dtype, threads, rng):
    w = rng.standard_normal((300, 50)).astype(dtype)
    w[0, :3] = 0  # sign(0) = 0
    g = rng.standard_normal(w.shape).astype(dtype)
    g0 = g.copy()
    value = ops.weight_penalty(w, g, 0.01, 0.003)
    g_ref = g0.copy()
    value_ref = ref.weight_penalty(w, g_ref, 0.01, 0.003)
    np.testing.assert_allclose(value, value_ref, rtol=1e-12)
    np.testing.assert_allclose(g, g_ref, **TOL[dtype])
    assert ops.weight_penalty(w, None, 0.01, 0.003) == value  # value only, same fixed-block sum


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


def test_weight_penalty_is_identical_for_one_and_two_threads(dtype, rng):
    w = rng.standard_normal(40_000).astype(dtype)  # ten fixed blocks: the combine order matters
    values = []
    for n in (1, 2):
        g = np.zeros_like(w)
        with fastnn.threads(n, parallel_threshold=1):
            values.append((ops.weight_penalty(w, g, 0.01, 0.003), g))
    assert values[0][0] == values[1][0]
    assert np.array_equal(values[0][1], values[1][1])


def test_dense_kernels_accept_read_only_inputs_and_reject_non_contiguous_ones(dtype, layout, threads, rng):
    dy = rng.standard_normal((6, 40)).astype(dtype)
    z = rng.standard_normal((6, 40)).astype(dtype)
    y = ref.act(z, "tanh")
    if layout.name == "noncontiguous":
        with pytest.raises(ValueError, match="C-contiguous"):
            ops.act_backward(layout(dy), y, None, np.empty_like(dy), None, "tanh")
        return
    dz = ops.act_backward(layout(dy), layout(y), None, np.empty_like(dy), None, "tanh")
    np.testing.assert_allclose(dz, ref.act_backward(dy, y, z, "tanh")[0], **TOL[dtype])
    assert ops.weight_penalty(layout(z), None, 0.1, 0.2) == ops.weight_penalty(z, None, 0.1, 0.2)


# ------------------------------------------------------------------------------ non-finite values (issue 10, 8)
SPECIALS = [np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0]


def _with_specials(shape, dtype, rng, specials=SPECIALS):
    """Normal values with special values scattered in (several of each, in vectorized loop bodies and
    remainders alike); returns (z, mask of the special positions)."""
    z = (rng.standard_normal(shape) * 3).astype(dtype)
    special = rng.random(shape) < 0.3
    z[special] = rng.choice(np.array(specials, dtype), size=int(special.sum()))
    return z, special | ~np.isfinite(z)


def _assert_same_values(got, expected, exact, tol):
    """NaN where expected is NaN; bitwise equal (sign of zero included) at ``exact`` positions; close elsewhere."""
    nan = np.isnan(expected)
    assert np.array_equal(np.isnan(got), nan), "NaN positions differ"
    e, g = expected[exact & ~nan], got[exact & ~nan]
    assert np.array_equal(g, e) and np.array_equal(np.signbit(g), np.signbit(e))
    np.testing.assert_allclose(got[~nan], expected[~nan], **tol)


@pytest.mark.parametrize("act", ACTS)
def test_activations_propagate_nan_and_inf_like_the_reference(act, dtype, threads, rng):
    z, special = _with_specials((19, 300), dtype, rng)
    y = np.empty_like(z)
    ops.bias_act_forward(z.copy(), None, y, act, 0.05)
    _assert_same_values(y, ref.act(z, act, 0.05), special, TOL[dtype])
    # no infinite dy here: times a float32 tanh'(z) that rounds to 0 it is NaN, times the float64 oracle's not
    dy, dy_special = _with_specials(z.shape, dtype, rng, [np.nan, -np.nan, 0.0, -0.0])
    dz, db = np.empty_like(dy), np.empty(z.shape[1], dtype)
    ops.act_backward(dy, y, z, dz, db, act, 0.05)
    dz_ref, db_ref = ref.act_backward(dy, y, z, act, 0.05)
    tol = dict(rtol=5e-5, atol=5e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    _assert_same_values(dz, dz_ref, special & dy_special, tol)
    assert np.array_equal(np.isnan(db), np.isnan(db_ref))


def test_relu_keeps_nan_and_negative_zero():
    z = np.array([[np.nan, -0.0, 0.0, -np.inf, np.inf, -1.0, 2.0] * 3], np.float32)  # 21 columns: SIMD + tail
    y = np.empty_like(z)
    ops.bias_act_forward(z, None, y, "relu")
    expected = np.array([[np.nan, -0.0, 0.0, 0.0, np.inf, 0.0, 2.0] * 3], np.float32)
    assert np.array_equal(y, expected, equal_nan=True) and np.array_equal(np.signbit(y), np.signbit(expected))


TORCH_ACTS = {"relu": "relu", "leaky_relu": "leaky_relu", "sigmoid": "sigmoid", "tanh": "tanh", "gelu": "gelu"}


@pytest.mark.parametrize("act", sorted(TORCH_ACTS))
def test_activations_on_nan_and_inf_equal_torch(act, rng):
    """float64: torch's float32 GELU gives NaN at +inf (its vectorized erf), its float64 GELU gives +inf."""
    torch = pytest.importorskip("torch")
    z, special = _with_specials((7, 40), np.float64, rng)
    dy, dy_special = _with_specials(z.shape, np.float64, rng)
    zt = torch.tensor(z, requires_grad=True)
    fn = getattr(torch.nn.functional, TORCH_ACTS[act])
    yt = fn(zt, 0.05) if act == "leaky_relu" else fn(zt)
    yt.backward(torch.tensor(dy))
    y, dz = np.empty_like(z), np.empty_like(z)
    ops.bias_act_forward(z.copy(), None, y, act, 0.05)
    ops.act_backward(dy, y, z, dz, None, act, 0.05)
    tol = dict(rtol=1e-12, atol=1e-14)
    _assert_same_values(y, yt.detach().numpy(), special, tol)
    _assert_same_values(dz, zt.grad.numpy(), special & dy_special, tol)


def test_the_compiled_epilogues_refuse_what_would_read_or_write_out_of_bounds():
    """ops.dense(check=False) trusts its caller; the shim under it still checks what memory safety needs."""
    from fastnn._ext import dense as shim

    z, b = np.ones((4, 3), np.float32), np.zeros(3, np.float32)
    readonly = np.ones((4, 3), np.float32)
    readonly.flags.writeable = False
    for args, error in [((z, b, np.ones((4, 2), np.float32)), ValueError),
                        ((z, np.zeros(2, np.float32), z), ValueError),
                        ((z, b.astype(np.float64), z), TypeError),
                        ((z.astype(np.int64), None, z), TypeError),
                        ((z, b, readonly), ValueError),
                        ((np.ones((4, 6), np.float32)[:, ::2], b, z), ValueError),
                        (([[1.0]], b, z), TypeError)]:
        with pytest.raises(error):
            shim.bias_act_forward(*args, 1, 0.01, 1)
    dz, db = np.empty_like(z), np.zeros(3, np.float32)
    for args, error in [((z, z[:2], None, dz, db), ValueError),
                        ((z, z, None, dz, np.zeros(4, np.float32)), ValueError),
                        ((z, z, None, readonly, db), ValueError),
                        ((z, z.astype(np.float64), None, dz, db), TypeError)]:
        with pytest.raises(error):
            shim.act_backward(*args, 1, 0.01, 1)
    shim.act_backward(z, z, None, dz, db, 1, 0.01, 1)
    np.testing.assert_array_equal(db, 4)


def test_the_shim_refuses_a_gelu_backward_without_z_and_a_short_penalty_gradient():
    """Found under AddressSanitizer: ops.act_backward(check=False) with GELU and z=None read through a NULL
    pointer (a segfault), and a grad_io shorter than w had the weight penalty write past its end."""
    from fastnn._ext import dense as shim

    dy = np.ones((4, 3), np.float32)
    with pytest.raises(ValueError, match="needs the pre-activation z"):
        ops.act_backward(dy, dy, None, np.empty_like(dy), None, "gelu", check=False)
    buffer = np.zeros(100, np.float32)
    with pytest.raises(ValueError, match="grad_io has 10 elements, w has 100"):
        shim.weight_penalty(np.ones(100, np.float32), buffer[:10], 0.0, 1.0, 1)
    np.testing.assert_array_equal(buffer, 0)  # nothing written, inside the view or past it

