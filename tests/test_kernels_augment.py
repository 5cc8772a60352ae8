"""Augmentation kernels (fastnn.ops.augment) against the numpy oracle (fastnn._reference.augment), scipy and
each other: the generator, the matrices, the warp and the noise, bit for bit at every SIMD build."""
from __future__ import annotations

import numpy as np
import pytest
from test_augment import MODES, PROGRAM, _images  # the shared images and program of the augmentation tests

from fastnn._reference import augment as R
from fastnn.ops import augment as W

SCIPY_MODE = {"constant": "grid-constant", "nearest": "nearest", "reflect": "reflect"}


def test_random_generator_matches_reference():
    for seed, step, index, slot in [(0, 0, 0, 0), (1, 2, 3, 4), (2**64 - 1, 7, 10**12, 3)]:
        key = W.stream_key(seed, step, index, slot)
        assert key == R.stream_key(seed, step, index, slot)
        for j in (0, 1, 5, 2**40):
            assert W.uniform(key, j) == R.uniform(key, j)
            assert W.normal(key, j) == R.normal(key, j)[0]
    assert W.stream_key(1, 0, 0, 0) != W.stream_key(1, 1, 0, 0) != W.stream_key(1, 0, 1, 0)


def test_normal_deviates_are_the_inverse_normal_cdf_within_2e_6():
    """Every 31-bit magnitude maps to Phi^-1 of its quantile: all of the 2^14 smallest v (the far tail, where
    few values share an octave), then 2^20 spread over the rest, both signs."""
    special = pytest.importorskip("scipy.special")
    rng = np.random.default_rng(0)
    b = np.concatenate([0x7FFFFFFF - np.arange(1 << 14), rng.integers(0, 1 << 31, 1 << 20), [0, 1, 2]])
    h = b.astype(np.uint32)
    v = (np.uint32(0x80000000) - h).astype(np.float32).astype(np.float64)  # the kernel's u = v 2^-32
    exact = -special.ndtri(v * 2.0 ** -32)
    z = R.normal_from_hash(h)
    assert np.abs(z.astype(np.float64) - exact).max() < 2e-6
    assert np.array_equal(R.normal_from_hash(h | np.uint32(0x80000000)), -z)  # bit 31 is the sign
    assert np.abs(z).max() < 6.24 and z[-3] == 0.0


def test_matrices_match_reference():
    stage = PROGRAM._stages[0]
    for h, w in [(28, 28), (17, 23)]:
        mats = np.empty((50, 6))
        W.augment_matrices(stage.codes, stage.params, stage.slots, 11, 3, 7, h, w, mats)
        ref = R.augment_matrices(stage.codes, stage.params, stage.slots, 11, 3, 7, h, w, 50)
        assert np.array_equal(mats, ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fill", [0.25, 0.0])  # fill 0 skips the outside test in the constant fast path
def test_warp_matches_reference_bitwise(dtype, c, mode, fill):
    x = _images(c=c, dtype=dtype).reshape(12, 17, 23, c)
    mats = PROGRAM.warp_matrices(12, (17, 23), seed=5).reshape(12, 6)
    # add positions far outside and NaN maps to exercise every branch of the border path
    mats[0] = [1, 0, -40.5, 0, 1, 1e20]
    mats[1] = [np.nan, 0, 0, 0, 1, 0]
    mats[2] = [1, 0, -30.25, 0, 1, 7.5]  # far left: clamped taps of the padded fast path
    mats[3] = [0.5, 0.2, 30, -0.3, 2.0, -5]  # partly beyond two edges
    mats[4] = [2, 0, -11.3, 0, 2, -8.6]  # zoomed out: reflect needs one mirror on every side
    mats[5] = [3, 0, -25, 0, 3, -20]  # beyond one mirror: the general path
    out = np.empty_like(x)
    W.warp_affine(x, mats, out, mode, fill)
    ref = R.warp_affine(x, mats, mode, fill)
    assert np.array_equal(out, ref)
    assert np.array_equal(np.signbit(out), np.signbit(ref))  # not even the sign of a zero differs


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", MODES)
def test_warp_matches_scipy_affine_transform(dtype, mode):
    ndimage = pytest.importorskip("scipy.ndimage")
    x = _images(n=10, dtype=dtype)
    mats = PROGRAM.warp_matrices(10, (17, 23), seed=2).reshape(10, 6)
    out = np.empty_like(x)[..., None]
    W.warp_affine(x[..., None], mats, out, mode, 0.5)
    tol = 1e-12 if dtype == np.float64 else 2e-5  # float32 positions carry ~1e-6 pixel of rounding
    for i in range(10):
        m = mats[i]
        # scipy indexes (row, col): input[(row, col)] = matrix @ (row, col) + offset
        ref = ndimage.affine_transform(x[i].astype(np.float64), np.array([[m[4], m[3]], [m[1], m[0]]]),
                                       offset=(m[5], m[2]), order=1, mode=SCIPY_MODE[mode], cval=0.5)
        # whole images agree (the fill modes are defined like scipy's); interior pixels especially
        np.testing.assert_allclose(out[i, ..., 0], ref, atol=tol, rtol=0)
        np.testing.assert_allclose(out[i, 2:-2, 2:-2, 0], ref[2:-2, 2:-2], atol=tol, rtol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["constant", "nearest", "reflect"])
# pixel blocks: one; two; rows split; a row over a block
@pytest.mark.parametrize("shape", [(28, 28), (40, 33), (5, 300), (3, 1100)])
@pytest.mark.parametrize("c", [1, 3])  # 3: the planes of a colour image go through the same fast path
def test_every_simd_build_gives_identical_warps_and_noise(dtype, mode, shape, c):
    levels = W.simd_levels()
    if len(levels) == 1:
        pytest.skip("no AVX2 on this CPU: only the portable loops exist")
    x = _images(n=20, h=shape[0], w=shape[1], c=None if c == 1 else c, dtype=dtype).reshape(20, *shape, c)
    mats = PROGRAM.warp_matrices(20, shape, seed=8).reshape(20, 6)
    results = {}
    try:
        for level in levels:
            W.set_simd(level)
            warped, noisy = np.empty_like(x), np.empty_like(x).reshape(20, -1)
            W.warp_affine(x, mats, warped, mode, 0.25)
            W.gaussian_noise(x.reshape(20, -1), noisy, 0.3, seed=4, step=2)
            results[level] = (warped, noisy)
    finally:
        W.set_simd(levels[-1])
    ref_warp = R.warp_affine(x, mats, mode, 0.25)
    for level, (warped, noisy) in results.items():
        assert np.array_equal(warped, ref_warp), level
        assert np.array_equal(noisy, results["portable"][1]), level


def test_noise_matches_reference():
    for dtype in (np.float32, np.float64):
        x = _images(n=6, dtype=dtype).reshape(6, -1)
        out = np.empty_like(x)
        W.gaussian_noise(x, out, 0.2, seed=9, step=4, index0=3, slot=2, clip=(0.1, 0.9))
        assert np.array_equal(out, R.gaussian_noise(x, 0.2, 9, 4, 3, 2, (0.1, 0.9)))


# ------------------------------------------------------------------------------------------- exact cases


def test_every_simd_build_draws_the_far_tail_like_the_reference():
    """Deviates beyond ~4 sigma (u < 2^-16, 1 in 2^15 values) take a different path in the AVX2 build: draw a
    row long enough to hold hundreds of them and compare every build with the reference there."""
    seed, step, slot = 3, 1, 0
    n = 1 << 23
    key = W.stream_key(seed, step, 0, slot)
    h = R.noise_hash(key, np.arange(n, dtype=np.uint64))
    far = np.flatnonzero((h & np.uint32(0x7FFFFFFF)) > np.uint32(0x7FFFFFFF - (1 << 16)))
    assert len(far) > 100
    x = np.zeros((1, n), np.float32)
    levels = W.simd_levels()
    draws = {}
    try:
        for level in levels:
            W.set_simd(level)
            draws[level] = W.gaussian_noise(x, np.empty_like(x), 1.0, seed=seed, step=step, slot=slot)[0]
    finally:
        W.set_simd(levels[-1])
    expected = R.normal_from_hash(h[far])
    assert np.all(np.abs(expected) > 3.9)
    for level, z in draws.items():
        assert np.array_equal(z[far], expected), level
        assert np.array_equal(z, draws["portable"]), level


def test_stream_keys_mix_every_input_within_and_across_runs():
    """No two (seed, step, image, slot) share a key, swapped seed and step included (the key derivation of
    fastnn 0.1's augmentation was symmetric in seed and step: every seed == step gave one key)."""
    grid = range(5)
    keys = {W.stream_key(seed, t, i, k) for seed in grid for t in grid for i in grid for k in grid}
    assert len(keys) == 5 ** 4
    assert W.stream_key(1, 2, 0, 0) != W.stream_key(2, 1, 0, 0)


def test_dropout_and_augmentation_share_one_generator():
    from fastnn._reference import random as rnd
    from fastnn.ops import dropout as D

    for seed, step, stream in [(0, 0, 0), (7, 3, 2), (2**64 - 1, 5, 1)]:
        assert D.dropout_key(seed, step, stream) == rnd.dropout_key(seed, step, stream)
        key = rnd.dropout_key(seed, step, stream)
        assert W.bits(key, 5) == rnd.bits(key, 5)


@pytest.mark.parametrize("dtype", ["float32", "float64", "uint8", "int16", ">f8", "bool"])
@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_gather_rows_matches_reference(dtype, n_threads):
    """The shuffled batch's gather (with the next rows prefetched): the rows of x in the order of ``rows``, for
    any numeric dtype (bytes copied as they are) and thread count, repeated rows and the last row included."""
    rng = np.random.default_rng(0)
    x = (rng.random((257, 37)) * 100).astype(dtype)
    for rows in (rng.permutation(257)[:64], np.array([256, 0, 0, 5, 256]), np.arange(257)[::-1].copy(),
                 np.array([3]), np.zeros(0, np.int64)):
        rows = rows.astype(np.int64)
        out = np.full((len(rows), 37), 7, dtype)
        assert W.gather_rows(x, rows, out, n_threads=n_threads) is out
        expected = R.gather_rows(x, rows)
        assert out.dtype == expected.dtype and out.tobytes() == expected.tobytes()


def test_gather_rows_reads_a_read_only_memmap(tmp_path):
    x = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float32, shape=(100, 13))
    x[...] = np.arange(1300, dtype=np.float32).reshape(100, 13)
    x.flush()
    ro = np.load(tmp_path / "x.npy", mmap_mode="r")
    rows = np.array([99, 1, 50], np.int64)
    out = np.empty((3, 13), np.float32)
    assert np.array_equal(W.gather_rows(ro, rows, out), np.asarray(ro)[rows])


def test_gather_rows_refuses_what_it_cannot_copy():
    x = np.zeros((10, 4), np.float32)
    out = np.zeros((2, 4), np.float32)
    rows = np.array([0, 1], np.int64)
    for bad_rows, error, says in ((np.array([0, 10], np.int64), IndexError, "must index the 10 rows"),
                                  (np.array([-1, 0], np.int64), IndexError, "must index the 10 rows"),
                                  (np.array([0, 1], np.int32), TypeError, "int64"),
                                  (np.array([[0, 1]], np.int64), TypeError, "1-D")):
        with pytest.raises(error, match=says):
            W.gather_rows(x, bad_rows, out)
    for bad_x, bad_out, error, says in ((x.T, out, TypeError, "x must be a 2-D C-contiguous"),
                                        (x, out[:, :2], TypeError, "out must be a 2-D C-contiguous"),
                                        (x.astype(object), out.astype(object), TypeError, "must hold numbers"),
                                        (x, out.astype(np.float64), ValueError, "out must be float32 of shape"),
                                        (x, np.zeros((3, 4), np.float32), ValueError, r"shape \(2, 4\)"),
                                        (x, x[4:6], ValueError, "must not overlap")):
        with pytest.raises(error, match=says):
            W.gather_rows(bad_x, rows, bad_out)
    frozen = out.copy()
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        W.gather_rows(x, rows, frozen)
