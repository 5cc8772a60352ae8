"""fastnn.ops.gemm against its numpy reference: every SIMD rung, odd shapes, strided / transposed / read-only
operands, and the same bits for any thread count (the point of the kernel: csrc/gemm.h)."""
import numpy as np
import pytest

import fastnn
from fastnn._reference import gemm as ref
from fastnn.ops import gemm as ops

SHAPES = [(1, 1, 1), (1, 17, 3), (3, 1, 17), (17, 3, 1), (3, 17, 1000), (1000, 3, 17), (17, 1000, 3),
          (33, 300, 65), (257, 513, 130)]  # the last ones cross the task (256 x 64) and k-block (256) sizes
RUNGS = list(range(ops.simd_available() + 1))


@pytest.fixture(params=RUNGS, ids=[f"rung{r}" for r in RUNGS])
def rung(request):
    ops.set_simd(request.param)
    yield request.param
    ops.set_simd(2)


def _operands(rng, m, k, n, dtype):
    return rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)


def _assert_close(got, a, b):
    """float64: a few ulps of the sum of |terms|; float32: float32 rounding of the same bound."""
    bound = np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64)
    eps = np.finfo(a.dtype).eps
    tol = (4 * eps * (a.shape[1] + 2)) * bound + np.finfo(a.dtype).tiny
    err = np.abs(got.astype(np.float64) - a.astype(np.float64) @ b.astype(np.float64))
    assert (err <= tol).all(), f"max error {err.max()} vs tolerance {tol[err > tol].min()}"
    np.testing.assert_allclose(got, ref.gemm(a, b), rtol=1e-12 if a.dtype == np.float64 else 2e-4,
                               atol=1e-12 * float(bound.max()) if a.dtype == np.float64 else 1e-5 * float(bound.max()))


@pytest.mark.parametrize("m,k,n", SHAPES)
def test_matches_the_reference_on_every_rung(rung, dtype, m, k, n, rng):
    a, b = _operands(rng, m, k, n, dtype)
    out = np.full((m, n), np.nan, dtype)
    assert ops.gemm(a, b, out) is out
    _assert_close(out, a, b)


@pytest.mark.parametrize("view", ["a.T", "b.T", "both.T", "sliced", "negative", "readonly", "fortran"])
def test_strided_operands_need_no_copy_and_give_the_same_bits(view, dtype, rng):
    m, k, n = 37, 300, 70
    a, b = _operands(rng, m, k, n, dtype)
    if view == "a.T":
        a_in, b_in = np.ascontiguousarray(a.T).T, b
    elif view == "b.T":
        a_in, b_in = a, np.ascontiguousarray(b.T).T
    elif view == "both.T":
        a_in, b_in = np.ascontiguousarray(a.T).T, np.ascontiguousarray(b.T).T
    elif view == "sliced":
        wide_a, wide_b = np.zeros((m, 3 * k), dtype), np.zeros((2 * k, n + 5), dtype)
        wide_a[:, ::3], wide_b[::2, 2:n + 2] = a, b
        a_in, b_in = wide_a[:, ::3], wide_b[::2, 2:n + 2]
    elif view == "negative":
        a_in, b_in = a[::-1].copy()[::-1], b[:, ::-1].copy()[:, ::-1]
    elif view == "readonly":
        a_in, b_in = a.copy(), b.copy()
        a_in.flags.writeable = b_in.flags.writeable = False
    else:
        a_in, b_in = np.asfortranarray(a), np.asfortranarray(b)
    expected = ops.gemm(a, b, np.empty((m, n), dtype))
    got = ops.gemm(a_in, b_in, np.empty((m, n), dtype))
    np.testing.assert_array_equal(got, expected)  # the arithmetic of an element never depends on the layout


@pytest.mark.parametrize("m,k,n", [(784, 40, 512), (131, 300, 45), (257, 513, 300), (70, 3, 600), (1000, 17, 10),
                                   (129, 1, 33)])
def test_a_packed_a_gets_the_bits_of_a_in_place(rung, dtype, m, k, n, rng):
    """Above 64 rows an A with a non-unit column stride (x^T in dW = x^T dz) is packed in micro-panels of 2 tile
    heights per 128 x 256 block, a contiguous A is read in place (csrc/gemm_tile_tmpl.h); the shapes cross a
    micro-panel, the row block, the k block and the packed task width (256 columns), with partial last tiles. Every
    element is the same chain of multiply-adds either way, on every rung and for any thread count."""
    x = rng.standard_normal((k, m)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    in_place = ops.gemm(np.ascontiguousarray(x.T), b, np.empty((m, n), dtype), n_threads=1)
    for threads in (1, 2, 3):
        np.testing.assert_array_equal(ops.gemm(x.T, b, np.full((m, n), np.nan, dtype), n_threads=threads), in_place)
    _assert_close(in_place, np.ascontiguousarray(x.T), b)


def test_odd_byte_strides_are_copied(rng):
    a, b = _operands(rng, 5, 7, 3, np.float64)
    packed = np.zeros(5 * 7, dtype=[("x", np.float64), ("pad", np.int8)])
    packed["x"] = a.ravel()
    odd = packed["x"].reshape(5, 7)  # strides of 9 bytes: not a whole number of elements
    assert odd.strides[1] % odd.itemsize
    np.testing.assert_array_equal(ops.gemm(odd, b, np.empty((5, 3))), ops.gemm(a, b, np.empty((5, 3))))


@pytest.mark.parametrize("m,k,n", [(600, 300, 200), (32, 784, 512), (784, 32, 512), (3, 17, 1000),
                                   (1024, 256, 10), (256, 1024, 10)])
def test_same_bits_for_any_thread_count(dtype, m, k, n, rng):
    a, b = _operands(rng, m, k, n, dtype)
    results = []
    for nt in (1, 2, 3, 4):
        results.append(ops.gemm(a, b, np.empty((m, n), dtype), n_threads=nt))
        with fastnn.threads(nt, parallel_threshold=1):
            results.append(ops.gemm(a, b, np.empty((m, n), dtype)))
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


@pytest.mark.parametrize("k,n", [(784, 512), (300, 1000), (17, 70), (256, 10)])
def test_a_row_alone_gets_the_bits_it_gets_in_a_batch(rung, dtype, k, n, rng):
    """Batches of up to 64 rows read B in place, larger ones pack it (csrc/gemm_tile_tmpl.h): every row of C must
    come out the same bits either way, so predict(x[i:i+1]) equals predict(x)[i] and a batch's size never changes
    its rows."""
    a, b = _operands(rng, 300, k, n, dtype)
    batch = ops.gemm(a, b, np.empty((300, n), dtype), n_threads=1)
    for rows in (slice(0, 1), slice(7, 9), slice(11, 16), slice(40, 57), slice(100, 132), slice(140, 204),
                 slice(290, 300)):
        alone = ops.gemm(a[rows], b, np.empty((rows.stop - rows.start, n), dtype), n_threads=2)
        np.testing.assert_array_equal(alone, batch[rows])
    # B's rows strided (a column slice of a wider matrix): still read in place
    wide = np.concatenate([b, b[:, :5]], axis=1)
    np.testing.assert_array_equal(ops.gemm(a[:1], wide[:, :n], np.empty((1, n), dtype)), batch[:1])


@pytest.mark.parametrize("m,k,n", [(32, 256, 512), (5, 300, 70), (17, 100, 33), (128, 256, 512), (200, 64, 1000),
                                   (1024, 256, 512), (3, 17, 1)])
def test_a_transposed_b_gets_the_bits_of_its_contiguous_copy(rung, dtype, m, k, n, rng):
    """dX = dZ W^T: with m < n the kernel computes C^T = W dZ^T instead of gathering all of W^T (csrc/gemm_tmpl.h);
    each element is the same products in the same order, so the bits equal those of a contiguous W^T."""
    a = rng.standard_normal((m, k)).astype(dtype)
    w = rng.standard_normal((n, k)).astype(dtype)
    got = ops.gemm(a, w.T, np.empty((m, n), dtype), n_threads=2)
    np.testing.assert_array_equal(got, ops.gemm(a, np.ascontiguousarray(w.T), np.empty((m, n), dtype), n_threads=1))
    _assert_close(got, a, np.ascontiguousarray(w.T))


def test_every_rung_is_deterministic_but_rungs_may_differ(rng):
    """Per CPU rung the result is fixed; with FMA (rungs 1, 2) the last bits may differ from rung 0."""
    a, b = _operands(rng, 40, 500, 90, np.float32)
    for r in RUNGS:
        ops.set_simd(r)
        try:
            first = ops.gemm(a, b, np.empty((40, 90), np.float32), n_threads=1)
            np.testing.assert_array_equal(ops.gemm(a, b, np.empty((40, 90), np.float32), n_threads=3), first)
        finally:
            ops.set_simd(2)


def test_empty_products(dtype):
    out = np.full((3, 4), np.nan, dtype)
    ops.gemm(np.empty((3, 0), dtype), np.empty((0, 4), dtype), out)
    np.testing.assert_array_equal(out, 0)
    ops.gemm(np.empty((0, 5), dtype), np.empty((5, 4), dtype), np.empty((0, 4), dtype))


def test_non_finite_values_propagate():
    a = np.array([[1.0, np.nan], [np.inf, 1.0], [2.0, 3.0]])
    out = ops.gemm(a, np.eye(2), np.empty((3, 2)))
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(out, ref.gemm(a, np.eye(2)))  # inf * 0 is NaN: as numpy
    assert np.isnan(out[0, 1]) and out[1, 0] == np.inf and np.isnan(out[1, 1]) and (out[2] == [2, 3]).all()


def test_matches_torch(rng):
    torch = pytest.importorskip("torch")
    a, b = _operands(rng, 50, 130, 70, np.float64)
    np.testing.assert_allclose(ops.gemm(a, b, np.empty((50, 70))), (torch.from_numpy(a) @ torch.from_numpy(b)).numpy(),
                               rtol=1e-13, atol=1e-12)


@pytest.mark.parametrize("call,error,match", [
    (lambda: ops.gemm(np.ones((2, 3)), np.ones((4, 2)), np.empty((2, 2))), ValueError, "do not chain"),
    (lambda: ops.gemm(np.ones((2, 3)), np.ones((3, 2), np.float32), np.empty((2, 2))), TypeError, "dtype"),
    (lambda: ops.gemm(np.ones((2, 3), int), np.ones((3, 2)), np.empty((2, 2))), TypeError, "float32 or float64"),
    (lambda: ops.gemm([[1.0]], np.ones((1, 1)), np.empty((1, 1))), TypeError, "numpy array"),
    (lambda: ops.gemm(np.ones(3), np.ones((3, 2)), np.empty((1, 2))), ValueError, "2-D"),
    (lambda: ops.gemm(np.ones((2, 3)), np.ones((3, 2)), np.empty((2, 3))), ValueError, "shape"),
    (lambda: ops.gemm(np.ones((2, 3)), np.ones((3, 2)), np.empty((2, 4))[:, ::2]), ValueError, "C-contiguous"),
])
def test_bad_arguments_are_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_out_overlapping_an_operand_is_refused():
    a = np.ones((3, 3))
    with pytest.raises(ValueError, match="overlap"):
        ops.gemm(a, np.eye(3), a)


def test_the_compiled_shim_refuses_what_would_read_or_write_out_of_bounds():
    """ops.gemm(check=False) trusts its caller; the shim under it still checks what memory safety needs."""
    from fastnn._ext import gemm as shim

    a, b, out = np.ones((3, 4), np.float32), np.ones((4, 5), np.float32), np.empty((3, 5), np.float32)
    readonly = np.empty((3, 5), np.float32)
    readonly.flags.writeable = False
    bad = [((a, b, np.empty((3, 4), np.float32)), ValueError, "chain"),
           ((a, np.ones((5, 5), np.float32), out), ValueError, "chain"),
           ((a, b.astype(np.float64), out), TypeError, "dtype"),
           ((a.astype(np.int32), b, out), TypeError, "dtype"),
           ((np.ones(3, np.float32), b, out), ValueError, "2-D"),
           ((a, b, np.empty((3, 10), np.float32)[:, ::2]), ValueError, "contiguous rows"),
           ((a, b, readonly), ValueError, "writeable"),
           ((np.zeros((3, 17), np.uint8)[:, 1:].view(np.float32), b, out), ValueError, "itemsize")]
    for args, error, match in bad:
        with pytest.raises(error, match=match):
            shim.gemm(*args, 1)
    assert shim.gemm(a, b, out, 1) == 0
    np.testing.assert_array_equal(out, 4)
