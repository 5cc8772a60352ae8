"""Augmentation benchmarks.

  * ``warp``   the geometric pipeline (RandomRotation(15), RandomShift(2), RandomZoom(0.1), RandomFlip()) on a
               batch of 128 images: 28x28 float32 (Fashion-MNIST test images when installed) or random 32x32x3
               colour images, through ``pipeline.apply(x, out, seed, step)`` (the call the training loop makes),
               at 1 and 2 threads and with the portable (SSE2) loop, vs scipy.ndimage.affine_transform(order=1)
               doing the SAME warps (the matrices fastnn drew) one image (and one colour channel: a 2-d
               bilinear warp each) at a time into a preallocated output.
               The fastnn child records max |fastnn - scipy| and the thread count ``threads_for`` picks.
  * ``noise``  GaussianNoise(0.1) on the same batch vs numpy (``standard_normal`` into a buffer + scale + add).
  * ``epoch``  one training epoch of the 784-512-256-10 ReLU MLP on Fashion-MNIST (60000 rows, batch 128, SGD
               momentum 0.9, lr 0.05) with and without ``augment=`` (the geometric pipeline, and with
               GaussianNoise(0.05) added); the paired ratio to the plain epoch is the overhead. The time spent
               inside ``apply()`` (wall, and CPU of the calling thread) is recorded.
"""
from __future__ import annotations

import time

import numpy as np
from harness import Benchmark, Contender, with_extra

BATCH = 128


def load_images():
    try:
        from fastnn.datasets import load_fashion_mnist

        X_train, y_train, X_test, _ = load_fashion_mnist()
        return X_train, y_train, X_test, "Fashion-MNIST"
    except FileNotFoundError:
        rng = np.random.default_rng(0)
        X = rng.random((60000, 784)).astype(np.float32)
        return X, rng.integers(0, 10, 60000), X[:10000], "random (Fashion-MNIST not installed)"


def batch_images(images):
    """(128, h, w[, c]) float32 images and where they come from."""
    if images == "28x28":
        _, _, X_test, source = load_images()
        return np.ascontiguousarray(X_test[:BATCH]).reshape(BATCH, 28, 28), source
    return np.random.default_rng(0).random((BATCH, 32, 32, 3)).astype(np.float32), "random"


def geometric(image_shape, noise=None):
    import fastnn.augment as A

    steps = [A.RandomRotation(15), A.RandomShift(2), A.RandomZoom(0.1), A.RandomFlip()]
    return A.Compose(steps + ([A.GaussianNoise(noise)] if noise else []), image_shape=image_shape)


def scipy_matrices(mats):
    """fastnn's inverse maps take (x=col, y=row); scipy indexes (row, col): [(2x2 matrix, offset)] per image."""
    return [(np.array([[m[1, 1], m[1, 0]], [m[0, 1], m[0, 0]]]), (m[1, 2], m[0, 2])) for m in mats]


def scipy_warp_batch(imgs, sp, out):
    """scipy.ndimage.affine_transform(order=1) of each image into ``out``, each colour channel as its own 2-d
    warp (bilinear, 4 taps: a 3-d call over (h, w, c) would interpolate across the channel axis too, 8 taps
    of which 4 weigh 0, for the same numbers)."""
    import scipy.ndimage as ndi

    channels = [(...,)] if imgs.ndim == 3 else [(..., c) for c in range(imgs.shape[3])]
    for i, (matrix, offset) in enumerate(sp):
        for c in channels:
            ndi.affine_transform(imgs[i][c], matrix, offset=offset, order=1, mode="grid-constant", cval=0.0,
                                 output=out[i][c])
    return out


SEED, STEP = 0, 3


def fastnn_warp(images, simd="best"):
    from fastnn import _config
    from fastnn.ops import augment as W

    imgs, source = batch_images(images)
    x_rows = np.ascontiguousarray(imgs.reshape(BATCH, -1))
    pipeline = geometric(imgs.shape[1:])
    out = np.empty_like(x_rows)
    W.set_simd(W.SIMD_LEVELS[-1] if simd == "best" else simd)

    def run():
        pipeline.apply(x_rows, out, SEED, STEP)
        return BATCH

    def extra():
        mats = pipeline.warp_matrices(BATCH, imgs.shape[1:3], SEED, STEP)
        ref = scipy_warp_batch(imgs, scipy_matrices(mats), np.empty_like(imgs))
        pipeline.apply(x_rows, out, SEED, STEP)
        return {"data": source, "simd": W.simd_levels()[-1] if simd == "best" else simd,
                "max_abs_diff_vs_scipy": float(np.abs(out.reshape(imgs.shape) - ref).max()),
                "threads_for_picks": _config.threads_for(int(x_rows.size * W.WARP_COST))}

    return with_extra(run, extra)


def scipy_warp(images):
    imgs, _ = batch_images(images)
    mats = geometric(imgs.shape[1:]).warp_matrices(BATCH, imgs.shape[1:3], SEED, STEP)
    sp = scipy_matrices(mats)
    ref = np.empty_like(imgs)

    def run():
        scipy_warp_batch(imgs, sp, ref)
        return BATCH

    return run


def fastnn_noise():
    import fastnn.augment as A

    x, _ = batch_images("28x28")
    x = x.reshape(BATCH, -1)
    noise = A.Compose([A.GaussianNoise(0.1)])
    out = np.empty_like(x)
    return lambda: noise.apply(x, out, 0, 1)


def numpy_noise():
    x, _ = batch_images("28x28")
    x = x.reshape(BATCH, -1)
    out, buf = np.empty_like(x), np.empty(x.shape, np.float32)
    rng = np.random.default_rng(0)

    def run():
        rng.standard_normal(out=buf, dtype=np.float32)
        np.multiply(buf, 0.1, out=buf)
        np.add(x, buf, out=out)

    return run


class _Timed:
    """Wraps a pipeline so the time spent inside apply() is summed, as wall time and as CPU time of the calling
    thread (exact with 1 thread; a lower bound with more)."""

    def __init__(self, pipeline):
        self.pipeline, self.seconds, self.cpu = pipeline, 0.0, 0.0

    def apply(self, x, out, seed, step=0, index0=0, rows=None):
        t0, c0 = time.perf_counter(), time.thread_time()
        r = self.pipeline.apply(x, out, seed, step, index0, rows)
        self.seconds += time.perf_counter() - t0
        self.cpu += time.thread_time() - c0
        return r

    def __getattr__(self, name):
        return getattr(self.pipeline, name)


def fastnn_epoch(augment):
    """One call: one epoch of a fresh model, ``augment`` in {"none", "geometric", "geometric+noise"}."""
    import fastnn
    from fastnn import layers, optim

    X, y, _, source = load_images()
    totals = {"epochs": 0, "wall": 0.0, "cpu": 0.0, "apply_wall": 0.0, "apply_thread_cpu": 0.0}

    def run():
        model = fastnn.Sequential([layers.Dense(512, activation="relu"), layers.Dense(256, activation="relu"),
                                   layers.Dense(10)], input_dim=784, dtype="float32", seed=0)
        aug = None if augment == "none" else _Timed(geometric((28, 28), 0.05 if "noise" in augment else None))
        t0, c0 = time.perf_counter(), time.process_time()
        model.fit(X, y, loss="cross_entropy", optimizer=optim.SGD(lr=0.05, momentum=0.9), epochs=1,
                  batch_size=128, shuffle=True, seed=0, verbose=0, augment=aug)
        totals["epochs"] += 1
        totals["wall"] += time.perf_counter() - t0
        totals["cpu"] += time.process_time() - c0
        if aug is not None:
            totals["apply_wall"] += aug.seconds
            totals["apply_thread_cpu"] += aug.cpu

    def extra():
        n = totals["epochs"]
        return {"data": source, "process_cpu_s": totals["cpu"] / n, "apply_wall_s": totals["apply_wall"] / n,
                "apply_thread_cpu_s": totals["apply_thread_cpu"] / n}

    return with_extra(run, extra)


M = "suites.augment:"
BENCHMARKS = [
    Benchmark(
        name="warp", title="Geometric augmentation of 128 images (rotation, shift, zoom, flip), float32",
        contenders=[Contender("fastnn 1 thread", M + "fastnn_warp", params={"threads": 1}, preload=("fastnn",)),
                    Contender("fastnn 2 threads", M + "fastnn_warp", params={"threads": 2}, preload=("fastnn",)),
                    Contender("fastnn 1 thread, portable loop", M + "fastnn_warp",
                              params={"threads": 1, "simd": "portable"}, preload=("fastnn",)),
                    Contender("scipy.ndimage 1 image at a time", M + "scipy_warp", preload=("scipy.ndimage",))],
        baseline="scipy.ndimage 1 image at a time", unit="s", grid={"images": ["28x28", "32x32x3"]},
        warmup=3, min_calls=5, min_time=0.2, rounds=7),
    Benchmark(
        name="noise", title="GaussianNoise(0.1) on 128 28x28 float32 images",
        contenders=[Contender("fastnn noise 1 thread", M + "fastnn_noise", params={"threads": 1},
                              preload=("fastnn",)),
                    Contender("fastnn noise 2 threads", M + "fastnn_noise", params={"threads": 2},
                              preload=("fastnn",)),
                    Contender("numpy standard_normal + add", M + "numpy_noise")],
        baseline="numpy standard_normal + add", unit="s", warmup=3, min_calls=5, min_time=0.2, rounds=7),
    Benchmark(
        name="epoch", title="One training epoch with and without augmentation, 784-512-256-10 ReLU, batch 128",
        contenders=[Contender("no augmentation", M + "fastnn_epoch", params={"augment": "none"}, fastnn=True),
                    Contender("geometric", M + "fastnn_epoch", params={"augment": "geometric"}, fastnn=True),
                    Contender("geometric + noise", M + "fastnn_epoch", params={"augment": "geometric+noise"},
                              fastnn=True)],
        baseline="no augmentation", unit="s", warmup=0, min_calls=1, min_time=0.0, rounds=9,
        notes="Overhead of augmentation = 1 / (the ratio to the plain epoch) - 1, paired per round; inside "
              "apply() times are listed below the table."),
]
