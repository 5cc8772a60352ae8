"""fastnn.augment and the warp/noise kernels: numpy oracle, scipy, exact cases, statistics, threads, errors."""
from __future__ import annotations

import re

import numpy as np
import pytest

import fastnn
import fastnn.augment as A
from fastnn._reference import augment as R
from fastnn.ops import augment as W

MODES = ["constant", "nearest", "reflect"]
PROGRAM = A.Compose([A.RandomRotation(25), A.RandomFlip(horizontal=True, vertical=True), A.RandomZoom((0.7, 1.3)),
                     A.RandomShift(0.15)])


def _images(n=12, h=17, w=23, c=None, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    shape = (n, h, w) if c is None else (n, h, w, c)
    return rng.random(shape).astype(dtype)


def forced_threads(n):
    """n threads, with the OpenMP path taken even for small inputs; the settings are restored afterwards."""
    return fastnn.threads(n, parallel_threshold=1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("degrees,k", [(90, 1), (180, 2), (270, 3), (-90, 3), (450, 1)])
def test_rotation_by_multiples_of_90_equals_rot90(dtype, degrees, k):
    x = _images(n=5, h=16, w=16, dtype=dtype)
    y = A.Compose([A.RandomRotation((degrees, degrees))])(x, seed=0)
    assert np.array_equal(y, np.rot90(x, k, axes=(1, 2)))  # counter-clockwise, like np.rot90; every pixel
    odd = _images(n=2, h=9, w=9, c=3, dtype=dtype)
    assert np.array_equal(A.Compose([A.RandomRotation((90, 90))])(odd, seed=1), np.rot90(odd, 1, axes=(1, 2)))


def test_small_rotation_direction_is_counter_clockwise():
    x = np.zeros((1, 21, 21), np.float64)
    x[0, 10, 18] = 1.0  # right of centre
    y = A.Compose([A.RandomRotation((30, 30))])(x, seed=0)
    r, c = np.unravel_index(np.argmax(y[0]), y[0].shape)
    assert r < 10 and c > 10  # moved up (counter-clockwise on screen)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flips_equal_np_flip(dtype):
    x = _images(n=4, c=2, dtype=dtype)
    assert np.array_equal(A.Compose([A.RandomFlip(horizontal=True, p=1.0)])(x, seed=3), np.flip(x, axis=2))
    assert np.array_equal(A.Compose([A.RandomFlip(horizontal=False, vertical=True, p=1.0)])(x, seed=3),
                          np.flip(x, axis=1))
    both = A.Compose([A.RandomFlip(horizontal=True, vertical=True, p=1.0)])(x, seed=3)
    assert np.array_equal(both, np.flip(x, axis=(1, 2)))
    assert np.array_equal(A.Compose([A.RandomFlip(p=0.0)])(x, seed=3), x)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint32, np.int32, np.int64, np.uint64])
def test_flips_of_integer_images_move_every_value_exactly(dtype):
    """Integers wider than 16 bits go through float64 (float32 rounded 2**24 + 1 and wrapped the type's max to
    its min when clipping to a bound float32 could not hold); 64-bit values are exact up to 2**53."""
    info = np.iinfo(dtype)
    top = min(int(info.max), 2**53)
    x = np.array([[[top, 2**7 + 1, int(info.min), 3]]], dtype=dtype)
    if np.dtype(dtype).itemsize >= 4:
        x[0, 0, 1] = 2**24 + 1
    flipped = A.Compose([A.RandomFlip(horizontal=True, p=1.0)])(x, seed=0)
    assert flipped.dtype == x.dtype
    np.testing.assert_array_equal(flipped, x[..., ::-1])
    if np.dtype(dtype).itemsize == 8:  # the type's max itself rounds in float64, but never wraps to the min
        y = np.array([[[info.max, info.min]]], dtype=dtype)
        got = A.Compose([A.RandomFlip(horizontal=True, p=1.0)])(y, seed=0)
        assert got[0, 0, 1] > info.max - 2048 and got[0, 0, 0] == info.min


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", MODES)
def test_identity_parameters_return_the_input_exactly(dtype, mode):
    x = _images(n=5, c=3, dtype=dtype)
    x[2, 5, 6, 1] = np.nan  # an integer position returns its own pixel: the NaN must not spread
    x[3, 0, 0, 0] = np.inf
    p = A.Compose([A.RandomRotation(0), A.RandomZoom((1, 1)), A.RandomShift(0), A.RandomFlip(p=0)],
                  fill_mode=mode, fill_value=7.0)
    y = p(x, seed=1)
    assert np.array_equal(y, x, equal_nan=True)
    assert np.array_equal(A.Compose([A.RandomShift(0.0)])(x, seed=0), x, equal_nan=True)


def test_shift_moves_content_by_the_drawn_amount():
    x = np.zeros((40, 31, 31), np.float64)
    x[:, 12:19, 12:19] = 1.0
    p = A.Compose([A.RandomShift((2, 3))])  # vertical up to 2, horizontal up to 3 pixels
    y = p(x, seed=4)
    mats = p.warp_matrices(40, (31, 31), seed=4)
    rows, cols = np.indices((31, 31))
    for i in range(40):
        dx, dy = -mats[i, 0, 2], -mats[i, 1, 2]  # inverse map x_in = x - dx
        assert abs(dx) <= 3 and abs(dy) <= 2
        mass = y[i].sum()
        assert mass == pytest.approx(49.0)  # bilinear interior shifts conserve mass
        assert (y[i] * cols).sum() / mass == pytest.approx(15 + dx, abs=1e-9)  # content moved right by dx
        assert (y[i] * rows).sum() / mass == pytest.approx(15 + dy, abs=1e-9)
    assert np.abs(mats[:, 0, 2]).max() > 2 and np.abs(mats[:, 1, 2]).max() > 1


def test_zoom_magnifies_about_the_centre():
    x = np.zeros((1, 41, 41), np.float64)
    x[0, 20, 26] = 1.0  # 6 pixels right of the centre
    y = A.Compose([A.RandomZoom((2.0, 2.0))])(x, seed=0)
    r, c = np.nonzero(y[0] > 0)
    assert set(r) <= {19, 20, 21} and (y[0] * np.arange(41)).sum() / y[0].sum() == pytest.approx(32.0)


def test_parameter_distributions():
    rot = A.Compose([A.RandomRotation((-20, 40))]).warp_matrices(4000, (28, 28), seed=0)
    ang = np.degrees(np.arctan2(rot[:, 1, 0], rot[:, 0, 0]))  # inverse map holds the angle's sine in [1, 0]
    assert -20 <= ang.min() < -19 and 39 < ang.max() <= 40 and abs(ang.mean() - 10) < 1
    flip = A.Compose([A.RandomFlip(horizontal=True, p=0.3)]).warp_matrices(4000, (28, 28), seed=0)
    assert abs((flip[:, 0, 0] < 0).mean() - 0.3) < 0.03
    zoom = A.Compose([A.RandomZoom(0.2)]).warp_matrices(4000, (28, 28), seed=0)
    s = 1 / zoom[:, 0, 0]
    assert 0.8 <= s.min() < 0.81 and 1.19 < s.max() <= 1.2


def test_noise_has_the_requested_std():
    stats = pytest.importorskip("scipy.stats")
    x = np.full((256, 784), 0.5, np.float64)
    y = A.Compose([A.GaussianNoise(0.3)])(x, seed=123)
    e = (y - 0.5).ravel()
    n = e.size
    assert abs(e.mean()) < 4 * 0.3 / np.sqrt(n)
    assert abs(e.std() / 0.3 - 1) < 4 / np.sqrt(2 * n)  # ~0.4% at 4 standard errors
    assert stats.kstest(e / 0.3, "norm").pvalue > 1e-3
    assert abs(np.corrcoef(e[:-1], e[1:])[0, 1]) < 0.01  # neighbours independent
    rows = y - 0.5
    r = [np.corrcoef(rows[i], rows[i + 1])[0, 1] for i in range(255)]
    assert np.mean(np.abs(r)) < 0.04  # images' noise independent (E|r| = 0.028 for 784 samples)
    per_image = (y - 0.5).std(axis=1)
    assert per_image.std() < 0.02  # every image gets its own noise, all of the same size
    clipped = A.Compose([A.GaussianNoise(0.3, clip=(0.0, 1.0))])(x, seed=123)
    assert clipped.min() >= 0.0 and clipped.max() <= 1.0


# ------------------------------------------------------------------------------------ determinism, threads


FULL = A.Compose([A.RandomRotation(15), A.RandomShift(2), A.RandomZoom(0.1), A.RandomFlip(),
                  A.GaussianNoise(0.05)], image_shape=(28, 28))


def test_same_output_for_one_and_two_threads():
    x = _images(n=64, h=28, w=28).reshape(64, -1)
    with forced_threads(1):
        one = FULL(x, seed=7)
    with forced_threads(2):
        two = FULL(x, seed=7)
    assert np.array_equal(one, two)
    x3 = _images(n=9, h=11, w=13, c=3, dtype=np.float64)
    p = A.Compose([A.RandomRotation(30), A.GaussianNoise(0.1)], fill_mode="reflect")
    with forced_threads(1):
        a = p(x3, seed=1)
    with forced_threads(2):
        assert np.array_equal(a, p(x3, seed=1))


def test_randomness_is_keyed_by_seed_step_and_index():
    x = _images(n=30, h=28, w=28).reshape(30, -1)
    a = FULL(x, seed=1)
    assert np.array_equal(a, FULL(x, seed=1))
    assert not np.array_equal(a, FULL(x, seed=2))
    assert not np.array_equal(a, FULL(x, seed=1, step=1))
    out = np.empty((10, 784), np.float32)
    FULL.apply(x[10:20], out, seed=1, step=0, index0=10)  # a batch cut from the middle gets the same draws
    assert np.array_equal(out, a[10:20])
    FULL.apply(x[10:20], out, seed=1, step=5)
    assert np.array_equal(out, FULL(x[10:20], seed=1, step=5))


def test_apply_writes_into_out_without_reallocating():
    x = _images(n=16, h=28, w=28).reshape(16, -1)
    out = np.empty_like(x)
    res = FULL.apply(x, out, seed=3, step=2)
    assert res is out
    mats_buf = FULL._mats
    FULL.apply(x, out, seed=3, step=3)
    assert FULL._mats is mats_buf  # the matrices buffer is reused


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 2])
def test_noise_fused_into_the_warp_equals_a_separate_pass(dtype, threads):
    with forced_threads(threads):
        _check_noise_fused_into_the_warp(dtype)


def _check_noise_fused_into_the_warp(dtype):
    x = _images(n=9, h=28, w=28, dtype=dtype)[..., None]
    mats = PROGRAM.warp_matrices(9, (28, 28), seed=2).reshape(9, 6)
    spec = W.noise_spec(0.3, seed=6, step=4, index0=100, slot=3, clip=(0.0, 1.0))
    fused, warped = np.empty_like(x), np.empty_like(x)
    W.warp_affine(x, mats, fused, "nearest", 0.0, noise=spec)
    W.warp_affine(x, mats, warped, "nearest", 0.0)
    separate = W.gaussian_noise(warped.reshape(9, -1), np.empty_like(warped).reshape(9, -1), 0.3, seed=6, step=4,
                                index0=100, slot=3, clip=(0.0, 1.0))
    assert np.array_equal(fused.reshape(9, -1), separate)
    assert not np.array_equal(fused, warped)
    # and a pipeline whose noise follows its geometric ops gives the numpy reference's warp-then-noise
    pipeline = A.Compose([A.RandomRotation(20), A.GaussianNoise(0.1, clip=(0, 1))])
    out = pipeline.apply(x[..., 0], np.empty_like(x[..., 0]), seed=7, step=1, index0=5)
    stage = pipeline._stages[0]
    ref_mats = R.augment_matrices(stage.codes, stage.params, stage.slots, 7, 1, 5, 28, 28, 9)
    ref = R.gaussian_noise(R.warp_affine(x, ref_mats, "constant", 0.0).reshape(9, -1), 0.1, 7, 1, 5, 1, (0, 1))
    assert np.array_equal(out.reshape(9, -1), ref)


@pytest.mark.parametrize("transforms", [[A.RandomRotation(20), A.GaussianNoise(0.1)],  # the warp reads the rows
                                        [A.GaussianNoise(0.1), A.RandomShift(2)],  # gathered first
                                        []])
def test_apply_with_rows_equals_apply_on_the_gathered_images(transforms):
    pipeline = A.Compose(transforms, image_shape=(12, 10))
    x = _images(n=30, h=12, w=10).reshape(30, -1)
    rows = np.array([29, 3, 3, 0, 17], dtype=np.int64)
    got = pipeline.apply(x, np.empty((5, 120), np.float32), seed=2, step=7, index0=40, rows=rows)
    want = pipeline.apply(x[rows], np.empty((5, 120), np.float32), seed=2, step=7, index0=40)
    assert np.array_equal(got, want)


def test_apply_rows_errors():
    pipeline = A.Compose([A.RandomRotation(20)], image_shape=(12, 10))
    x = _images(n=30, h=12, w=10).reshape(30, -1)
    out = np.empty((2, 120), np.float32)
    with pytest.raises(A.AugmentError, match="rows must index the 30 images"):
        pipeline.apply(x, out, seed=0, rows=np.array([0, 30]))
    with pytest.raises(A.AugmentError, match="rows must index"):
        pipeline.apply(x, out, seed=0, rows=np.array([-1, 0]))
    with pytest.raises(TypeError, match="int64"):
        pipeline.apply(x, out, seed=0, rows=np.array([0, 1], dtype=np.int32))
    with pytest.raises(A.AugmentError, match=r"out must have the shape \(2, 120\)"):
        pipeline.apply(x, np.empty((3, 120), np.float32), seed=0, rows=np.array([0, 1]))
    with pytest.raises(IndexError, match="rows must index"):
        W.warp_affine(x.reshape(30, 12, 10, 1), np.zeros((1, 6)), np.empty((1, 12, 10, 1), np.float32),
                      rows=np.array([30]))


def test_noise_between_geometric_ops_runs_in_order():
    x = _images(n=6, h=20, w=20, dtype=np.float64)
    p = A.Compose([A.RandomFlip(p=1.0), A.GaussianNoise(0.1), A.RandomRotation((90, 90))])
    y = p(x, seed=5)
    noisy = A.Compose([A.RandomFlip(p=1.0), A.GaussianNoise(0.1)])(x, seed=5)
    assert np.array_equal(y, np.rot90(noisy, 1, axes=(1, 2)))
    assert np.array_equal(A.Compose([])(x, seed=0), x)


# ------------------------------------------------------------------------------------------ shapes, dtypes


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_big_endian_floats_are_augmented_as_their_native_twins(dtype):
    # review 12: '>f4' is not np.float32 to `in`, so it was augmented in float64 (and '>f8' converted)
    x = _images(n=4, h=9, w=9, dtype=dtype)
    swapped = x.astype(np.dtype(dtype).newbyteorder(">" if np.little_endian else "<"))
    p = A.Compose([A.RandomRotation(30), A.GaussianNoise(0.1)])
    y = p(swapped, seed=1)
    assert y.dtype == swapped.dtype and np.array_equal(y, p(x, seed=1))


def test_shapes_and_dtypes():
    x = _images(n=4, h=28, w=28)
    rows = x.reshape(4, 784)
    p = A.Compose([A.RandomRotation(10), A.RandomShift(1)], image_shape=(28, 28))
    a, b = p(x, seed=0), p(rows, seed=0)
    assert a.shape == x.shape and b.shape == rows.shape and a.dtype == np.float32
    assert np.array_equal(a.reshape(4, 784), b)
    assert np.array_equal(p(x[..., None], seed=0)[..., 0], a)
    c3 = _images(n=3, h=8, w=8, c=3)
    pc = A.Compose([A.RandomRotation(10)], image_shape=(8, 8, 3))
    assert np.array_equal(pc(c3.reshape(3, -1), seed=1).reshape(c3.shape), pc(c3, seed=1))
    u8 = (x * 255).astype(np.uint8)
    y8 = p(u8, seed=0)
    assert y8.dtype == np.uint8 and y8.shape == u8.shape
    np.testing.assert_allclose(y8, np.clip(np.rint(p(u8.astype(np.float32), seed=0)), 0, 255), atol=0)
    assert p(x.astype(np.float64), seed=0).dtype == np.float64
    nc = np.asfortranarray(x)
    assert np.array_equal(p(nc, seed=0), a)


def test_shape_errors():
    p = A.Compose([A.RandomRotation(10)], image_shape=(28, 28))
    for bad in [np.zeros((4, 783), np.float32), np.zeros((4, 28, 27), np.float32), np.zeros((4, 28, 28, 3)),
                np.zeros(784)]:
        with pytest.raises(A.AugmentError, match="do not match image_shape"):
            p(bad, seed=0)
    with pytest.raises(A.AugmentError, match="image_shape"):
        A.Compose([A.RandomRotation(10)])(np.zeros((4, 784)), seed=0)
    with pytest.raises(A.AugmentError):
        A.Compose([A.RandomRotation(10)])(np.zeros(5), seed=0)
    x = np.zeros((4, 784), np.float32)
    with pytest.raises(A.AugmentError, match="out must have"):
        p.apply(x, np.zeros((4, 784), np.float64), seed=0)
    with pytest.raises(A.AugmentError, match="overlap"):
        p.apply(x, x, seed=0)
    p.check_rows(784)
    with pytest.raises(A.AugmentError):
        p.check_rows(785)


@pytest.mark.parametrize("make", [
    lambda: A.RandomRotation((10, -10)), lambda: A.RandomRotation(np.nan), lambda: A.RandomRotation("a"),
    lambda: A.RandomFlip(horizontal=False, vertical=False), lambda: A.RandomFlip(p=1.5),
    lambda: A.RandomZoom(1.0), lambda: A.RandomZoom((0, 2)), lambda: A.RandomZoom((1.2, 1.1)),
    lambda: A.RandomShift(-1), lambda: A.RandomShift(1.5), lambda: A.RandomShift((1, 0.5)),
    lambda: A.GaussianNoise(-0.1), lambda: A.GaussianNoise(0.1, clip=(1, 0)),
    lambda: A.Compose([A.RandomRotation(1)], fill_mode="wrap"), lambda: A.Compose(["rotate"]),
    lambda: A.Compose([], image_shape=(0, 5)),
])
def test_bad_parameters(make):
    with pytest.raises((A.AugmentError, ValueError, TypeError)):
        make()


@pytest.mark.parametrize("shape, named", [("28", "(h, w) or (h, w, c)"), ((4.7, 4), "image_shape[0]"),
                                          ((4, True), "image_shape[1]"), ([8, 8, 0], "image_shape[2]"),
                                          ((8,), "(h, w) or (h, w, c)"), (7, "(h, w) or (h, w, c)")])
def test_image_shape_takes_whole_positive_sizes_only(shape, named):
    # review 12: int() made "28" (2, 8), (4.7, 4) (4, 4) and (True, 4) (1, 4), training on the wrong geometry
    with pytest.raises(A.AugmentError, match=re.escape(named)):
        A.Compose([A.RandomRotation(5)], image_shape=shape)
    assert A.Compose([], image_shape=np.array([28, 28, 3])).image_shape == (28, 28, 3)


def test_config_round_trip():
    again = A.Compose.from_config(FULL.get_config())
    x = _images(n=5, h=28, w=28).reshape(5, -1)
    assert np.array_equal(again(x, seed=2), FULL(x, seed=2))
    assert "RandomRotation" in repr(FULL)


def test_fill_value_and_modes_at_the_border():
    x = np.ones((1, 10, 10), np.float64)
    zoom_out = [A.RandomZoom((0.5, 0.5))]
    y = A.Compose(zoom_out, fill_value=-1.0)(x, seed=0)
    assert y[0, 0, 0] == -1.0 and y[0, 5, 5] == 1.0
    assert np.array_equal(A.Compose(zoom_out, fill_mode="nearest")(x, seed=0), x)
    assert np.array_equal(A.Compose(zoom_out, fill_mode="reflect")(x, seed=0), x)


def test_openmp_build_is_used():
    from fastnn._ext import openmp
    assert openmp.openmp_enabled() or fastnn  # the build-checks test owns the hard failure


# ---------------------------------------------------------------------------------------------------- CLI


def _read_png(path):
    import struct
    import zlib

    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        tag, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(tag + body) & 0xFFFFFFFF
        chunks[tag] = chunks.get(tag, b"") + body
        pos += 12 + length
    w, h, depth, color = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    ch = 3 if color == 2 else 1
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(h, 1 + w * ch)
    assert (raw[:, 0] == 0).all() and depth == 8
    return raw[:, 1:].reshape((h, w, 3) if ch == 3 else (h, w))


def test_png_writer_round_trips(tmp_path):
    from fastnn.cli.augment_preview import write_png

    rng = np.random.default_rng(0)
    for shape in [(5, 7), (4, 6, 3)]:
        img = rng.integers(0, 256, shape).astype(np.uint8)
        write_png(tmp_path / "a.png", img)
        assert np.array_equal(_read_png(tmp_path / "a.png"), img)
    with pytest.raises(TypeError):
        write_png(tmp_path / "b.png", img.astype(np.float32))


def test_augment_preview_cli(tmp_path):
    import argparse

    from fastnn.cli.augment_preview import add_parser, run

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "grid.png"
    args = parser.parse_args(["augment-preview", "--data", "embedded", "-n", "3", "--copies", "2", "--scale", "2",
                              "--rotation", "90", "--flip", "both", "--noise", "0.1", "-o", str(out)])
    assert run(args) == 0
    img = _read_png(out)
    # 3 rows and 3 columns of 8x8 tiles at scale 2 with 2-pixel gaps
    assert img.shape == (3 * 16 + 4 * 2, 3 * 16 + 4 * 2)
    np_imgs = tmp_path / "imgs.npy"
    np.save(np_imgs, np.random.default_rng(0).random((4, 48)).astype(np.float32))
    args = parser.parse_args(["augment-preview", "--data", str(np_imgs), "--image-shape", "4,4,3", "-o", str(out)])
    assert run(args) == 0
    assert _read_png(out).ndim == 3
    args = parser.parse_args(["augment-preview", "--data", str(np_imgs), "-o", str(out)])
    with pytest.raises(ValueError, match="image-shape"):
        run(args)


def _augmented_fit_setup(n=70, side=8):
    rng = np.random.default_rng(5)
    X = rng.random((n, side * side)).astype(np.float32)
    y = rng.integers(0, 3, n)
    pipeline = A.Compose([A.RandomShift(1), A.RandomFlip(), A.GaussianNoise(0.05)], image_shape=(side, side))

    def model():
        return fastnn.Sequential([fastnn.layers.Dense(16, activation="relu"), fastnn.layers.Dense(3)],
                                 input_dim=side * side, seed=0)
    return X, y, pipeline, model


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("x_dtype", [np.float32, np.float64])  # read in place by the warp / gathered and cast
def test_fit_augments_each_epoch_with_the_documented_keys(shuffle, x_dtype):
    """fit == a hand-written loop that augments every epoch's ordered rows with (seed, first step, position)."""
    X, y, pipeline, make = _augmented_fit_setup()
    X = X.astype(x_dtype)
    seed, batch, epochs = 3, 16, 3
    fitted = make()
    fitted.fit(X, y, epochs=epochs, batch_size=batch, shuffle=shuffle, seed=seed, augment=pipeline,
               optimizer=fastnn.optim.SGD(lr=0.1, momentum=0.9), verbose=0)

    by_hand, optimizer = make(), fastnn.optim.SGD(lr=0.1, momentum=0.9)
    order, rng = np.arange(len(X)), np.random.default_rng(seed)
    for _ in range(epochs):
        if shuffle:
            rng.shuffle(order)
        rows = X[order].astype(np.float32)
        augmented = pipeline.apply(rows, np.empty_like(rows), seed, by_hand.step_count, 0)
        for start in range(0, len(X), batch):
            by_hand.train_step(augmented[start:start + batch], y[order][start:start + batch], optimizer=optimizer)
    assert np.array_equal(fitted.params, by_hand.params)


def test_fit_augmentation_does_not_depend_on_the_chunk_size(monkeypatch):
    from fastnn.data import loader

    X, y, pipeline, make = _augmented_fit_setup()
    params = []
    for chunk_values in (1, 3 * 16 * 64, loader.CHUNK_VALUES):  # one batch, three, the whole epoch per call
        monkeypatch.setattr(loader, "CHUNK_VALUES", chunk_values)
        model = make()
        model.fit(X, y, epochs=2, batch_size=16, seed=1, augment=pipeline, verbose=0)
        params.append(model.params.copy())
    assert np.array_equal(params[0], params[1]) and np.array_equal(params[0], params[2])
    unaugmented = make()
    unaugmented.fit(X, y, epochs=2, batch_size=16, seed=1, verbose=0)
    assert not np.array_equal(params[0], unaugmented.params)


def test_fit_never_augments_validation_data():
    X, y, pipeline, make = _augmented_fit_setup()
    model = make()
    history = model.fit(X[:50], y[:50], epochs=2, batch_size=16, augment=pipeline,
                        validation_data=(X[50:], y[50:]), verbose=0)
    assert history["val_loss"][-1] == model.evaluate(X[50:], y[50:])["loss"]


def test_fit_augments_rows_of_a_memmap_like_those_of_an_array(tmp_path):
    X, y, pipeline, make = _augmented_fit_setup()
    path = tmp_path / "x.f32"
    X.tofile(path)
    mapped = np.memmap(path, dtype=np.float32, mode="r", shape=X.shape)
    from_array, from_memmap = make(), make()
    from_array.fit(X, y, epochs=2, batch_size=16, seed=4, augment=pipeline, verbose=0)
    from_memmap.fit(mapped, y, epochs=2, batch_size=16, seed=4, augment=pipeline, verbose=0)
    assert np.array_equal(from_array.params, from_memmap.params)


@pytest.mark.parametrize("seed, step, message", [
    (-1, 0, r"seed must be an integer in \[0, "), (2**64, 0, r"seed must be an integer in \[0, "),
    (1.5, 0, "seed must be an integer"), (0, -3, r"step must be an integer in \[0, "),
])
def test_a_pipeline_call_refuses_seeds_the_streams_would_alias(seed, step, message):
    """Review 14: the call took its seed mod 2**64, so seed=-1 gave the images of seed 2**64 - 1 and 2**64 those
    of 0, where fit refuses both."""
    pipe = A.Compose([A.RandomRotation(20.0), A.GaussianNoise(0.1)], image_shape=(17, 23))
    with pytest.raises((TypeError, ValueError), match=message):
        pipe(_images(n=2), seed=seed, step=step)
    np.testing.assert_array_equal(pipe(_images(n=2), seed=5), pipe(_images(n=2), seed=np.uint64(5)))


@pytest.mark.parametrize("transforms", [[A.GaussianNoise(0.1)], [A.RandomRotation(3), A.GaussianNoise(0.1)],
                                        [A.RandomFlip(p=1.0)]])
def test_zero_images_give_zero_images(transforms):
    """A pipeline with noise read the first image's size and failed on an empty batch (IndexError, reshape)."""
    pipeline = A.Compose(transforms)
    for dtype in (np.float32, np.uint8):
        out = pipeline(np.zeros((0, 6, 5), dtype), seed=0)
        assert out.shape == (0, 6, 5) and out.dtype == dtype
    x = np.zeros((0, 6, 5), np.float32)
    assert pipeline.apply(x, np.empty_like(x), seed=0).shape == (0, 6, 5)


def test_complex_images_and_a_fill_beyond_the_working_dtype_are_refused():
    """Both were accepted silently: complex pixels lost their imaginary part (a ComplexWarning), and a float64
    fill of 1e300 became inf pixels in float32 images."""
    with pytest.raises(TypeError, match="real numbers.*complex128"):
        A.Compose([A.RandomFlip(p=1.0)])(np.full((1, 5, 5), 3 + 4j), seed=0)
    zoom_out = A.Compose([A.RandomZoom((0.5, 0.5))], fill_value=1e300)
    with pytest.raises(A.AugmentError, match="fill_value 1e\\+300 is beyond the range of float32"):
        zoom_out(np.ones((1, 9, 9), np.float32), seed=0)
    assert zoom_out(np.ones((1, 9, 9), np.float64), seed=0).max() == 1e300  # finite in float64: used as given
    with pytest.raises(A.AugmentError, match="fill_value"):
        zoom_out(np.ones((1, 9, 9), np.uint8), seed=0)  # uint8 is augmented in float32


@pytest.mark.parametrize("kwargs, message", [
    ({"seed": -1}, "seed must be an integer in"),  # aliased seed 2**64 - 1
    ({"image_size": (4.7, 4)}, "image_size\\[0\\] must be an integer"),  # was read as (4, 4)
    ({"image_size": (4, 4, 1)}, "image_size must be \\(h, w\\)"),
    ({"stage": 1}, "stage must be an integer in \\[0, 0\\]"),  # an IndexError
    ({"n": -1}, "n must be an integer >= 0"),  # numpy's negative dimensions
    ({"step": -1}, "step must be an integer in"),
])
def test_warp_matrices_checks_its_arguments_as_a_call_does(kwargs, message):
    pipeline = A.Compose([A.RandomRotation(10)])
    args = {"n": 2, "image_size": (8, 8), "seed": 0, **kwargs}
    with pytest.raises((A.AugmentError, ValueError), match=message):
        pipeline.warp_matrices(**args)
    assert pipeline.warp_matrices(2, (8, 8), seed=0).shape == (2, 2, 3)


def test_a_quarter_turn_of_an_image_with_odd_h_minus_w_spreads_pixels_as_the_docstring_says():
    """The module docstring promises exact quarter turns only when h - w is even: about the centre of a 6 x 5
    image a pixel centre lands halfway between pixels."""
    x = np.zeros((1, 6, 5))
    x[0, 1, 1] = 1
    out = A.Compose([A.RandomRotation((90, 90))])(x, seed=0)
    assert sorted(out[out > 0].tolist()) == [0.25] * 4
    assert "h - w is even" in A.__doc__
    even = _images(n=3, h=8, w=4, dtype=np.float64)  # h - w even, not square: every pixel moved whole
    turned = A.Compose([A.RandomRotation((90, 90))])(even, seed=0)
    assert set(turned.ravel().tolist()) <= set(even.ravel().tolist()) | {0.0}
