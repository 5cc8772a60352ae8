"""Augmentation benchmarks, measured in ONE process with the thread count set explicitly.

    python bench/bench_augment.py                    # all sections, 2 threads
    python bench/bench_augment.py --skip-epoch       # without the training-epoch section
    python bench/bench_augment.py --rounds 9 --threads 2

Sections:
  1. warp: fastnn.augment pipeline (RandomRotation(15), RandomShift(2), RandomZoom(0.1), RandomFlip()) on a
     batch of 128 28x28 float32 images (Fashion-MNIST test images when installed), and on 128 random 32x32x3
     colour images, through
     ``pipeline.apply(x, out, seed, step)`` -- the call the training loop makes -- with 1 and 2 threads,
     vs scipy.ndimage.affine_transform(order=1) doing the SAME warps (the matrices fastnn drew) one image at a
     time into a preallocated output. Also the AVX2 and portable loops of the kernel.
  2. noise: GaussianNoise(0.1) on the same batch vs numpy (default_rng().standard_normal into a buffer + add).
  3. epoch: one training epoch of the 784-512-256-10 ReLU MLP on Fashion-MNIST (60000 rows, batch 128, SGD
     momentum) with and without ``augment=`` (the geometric pipeline, and with noise added); overhead in %.
Each round runs every contender; the median round counts. Prints a table and one JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

import fastnn
import fastnn.augment as A
from fastnn import _config
from fastnn.ops import augment as W
import _timing
from _timing import cpu_name as _cpu_name, timeit


def run_rounds(contenders: dict, rounds: int, min_time: float) -> dict:
    return _timing.run_rounds(contenders, rounds, min_time, reduce=_timing.median)


def load_images():
    try:
        from fastnn.datasets import load_fashion_mnist

        X_train, y_train, X_test, _ = load_fashion_mnist()
        return X_train, y_train, X_test, "Fashion-MNIST"
    except FileNotFoundError:
        rng = np.random.default_rng(0)
        X = rng.random((60000, 784)).astype(np.float32)
        return X, rng.integers(0, 10, 60000), X[:10000], "random (Fashion-MNIST not installed)"


def with_threads(n, fn):
    def run():
        old = _config._state.n_threads
        _config._state.n_threads = n
        try:
            fn()
        finally:
            _config._state.n_threads = old
    return run


def env_info(threads):
    return {"machine": platform.machine(), "cpu": _cpu_name(), "python": platform.python_version(),
            "numpy": np.__version__, "fastnn": fastnn.__version__, "threads": threads,
            "simd_warp": W.simd_levels()[-1], "wait_policy": _config._state.wait_policy,
            "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT",
                                                 "OPENBLAS_NUM_THREADS") if k in os.environ}}


def bench_warp(imgs, rounds, min_time, threads):
    """imgs (n, h, w) or (n, h, w, c), augmented as flattened rows (the form the training loop passes)."""
    import scipy.ndimage as ndi

    n, image_shape = imgs.shape[0], imgs.shape[1:]
    x_rows = np.ascontiguousarray(imgs.reshape(n, -1))
    geo = A.Compose([A.RandomRotation(15), A.RandomShift(2), A.RandomZoom(0.1), A.RandomFlip()],
                    image_shape=image_shape)
    out = np.empty_like(x_rows)
    seed, step = 0, 3
    mats = geo.warp_matrices(n, image_shape[:2], seed, step)
    ref_out = np.empty_like(imgs)
    # scipy indexes (row, col[, channel]); our inverse maps take (x=col, y=row); channels map to themselves
    extra = len(image_shape) - 2
    sp = [(np.pad(np.array([[m[1, 1], m[1, 0]], [m[0, 1], m[0, 0]]]), (0, extra)) + np.diag([0, 0] + [1] * extra),
           (m[1, 2], m[0, 2]) + (0,) * extra) for m in mats]

    def scipy_warps():
        for i in range(n):
            ndi.affine_transform(imgs[i], sp[i][0], offset=sp[i][1], order=1, mode="grid-constant", cval=0.0,
                                 output=ref_out[i])

    geo.apply(x_rows, out, seed, step)
    scipy_warps()
    maxdiff = float(np.abs(out.reshape(imgs.shape) - ref_out).max())

    def portable():
        W.set_simd("portable")
        try:
            geo.apply(x_rows, out, seed, step)
        finally:
            W.set_simd(W.SIMD_LEVELS[-1])

    contenders = {"fastnn 1 thread": with_threads(1, lambda: geo.apply(x_rows, out, seed, step))}
    if threads > 1:
        contenders[f"fastnn {threads} threads"] = with_threads(threads, lambda: geo.apply(x_rows, out, seed, step))
    contenders.update({"fastnn 1 thread, portable loop": with_threads(1, portable),
                       "scipy.ndimage 1 image at a time": scipy_warps})
    times = run_rounds(contenders, rounds, min_time)
    auto_threads = _config.threads_for(int(x_rows.size * W.WARP_COST))
    return times, maxdiff, auto_threads


def bench_noise(x_rows, rounds, min_time, threads):
    noise = A.Compose([A.GaussianNoise(0.1)])
    out = np.empty_like(x_rows)
    rng = np.random.default_rng(0)
    buf = np.empty(x_rows.shape, np.float32)

    def numpy_noise():
        rng.standard_normal(out=buf, dtype=np.float32)
        np.multiply(buf, 0.1, out=buf)
        np.add(x_rows, buf, out=out)

    contenders = {"fastnn noise 1 thread": with_threads(1, lambda: noise.apply(x_rows, out, 0, 1))}
    if threads > 1:
        contenders[f"fastnn noise {threads} threads"] = with_threads(threads, lambda: noise.apply(x_rows, out, 0, 1))
    contenders["numpy standard_normal + add"] = numpy_noise
    return run_rounds(contenders, rounds, min_time)


class _Timed:
    """Wraps a pipeline so the time spent inside apply() (the augmentation's own cost in the loop) is summed, as
    wall time and as CPU time of the calling thread (exact with 1 thread; a lower bound with more)."""

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


def bench_epoch(X, y, rounds):
    """Per configuration, lists of (wall s, process CPU s, apply wall s, apply thread-CPU s). Process CPU time
    counts only this process's work, so it stays meaningful when other jobs share the machine (with 1 thread
    it is the work itself; with more it also counts BLAS threads spinning while they wait)."""
    from fastnn import layers, optim

    def model():
        return fastnn.Sequential([layers.Dense(512, activation="relu"), layers.Dense(256, activation="relu"),
                                  layers.Dense(10)], input_dim=784, dtype="float32", seed=0)

    geo = [A.RandomRotation(15), A.RandomShift(2), A.RandomZoom(0.1), A.RandomFlip()]
    configs = {"no augmentation": None,
               "geometric": lambda: A.Compose(geo, image_shape=(28, 28)),
               "geometric + noise": lambda: A.Compose(geo + [A.GaussianNoise(0.05)], image_shape=(28, 28))}
    runs = {k: [] for k in configs}
    for _ in range(rounds):  # interleaved, so load changes hit every configuration alike
        for name, make in configs.items():
            aug = None if make is None else _Timed(make())
            m = model()
            t0, c0 = time.perf_counter(), time.process_time()
            m.fit(X, y, loss="cross_entropy", optimizer=optim.SGD(lr=0.05, momentum=0.9), epochs=1, batch_size=128,
                  shuffle=True, seed=0, verbose=0, augment=aug)
            runs[name].append((time.perf_counter() - t0, time.process_time() - c0,
                               0.0 if aug is None else aug.seconds, 0.0 if aug is None else aug.cpu))
    return runs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--epoch-rounds", type=int, default=3)
    ap.add_argument("--min-time", type=float, default=0.2)
    ap.add_argument("--skip-epoch", action="store_true")
    args = ap.parse_args(argv)

    fastnn.set_num_threads(args.threads)
    X, y, X_test, source = load_images()
    batch = np.ascontiguousarray(X_test[:128])
    result = {"bench": "augment", "data": source, "date": time.strftime("%Y-%m-%d"), **env_info(args.threads)}

    colour = np.random.default_rng(0).random((128, 32, 32, 3)).astype(np.float32)  # CIFAR-sized, no data needed
    for key, imgs, what in (("warp", batch.reshape(128, 28, 28), f"128 28x28 float32 images ({source})"),
                            ("warp_rgb", colour, "128 32x32x3 float32 images (random)")):
        times, maxdiff, auto_threads = bench_warp(imgs, args.rounds, args.min_time, args.threads)
        ref = times["scipy.ndimage 1 image at a time"]
        print(f"1. warp of {what}; max |fastnn - scipy| = {maxdiff:.2e}; threads_for picks {auto_threads} for "
              "this batch")
        for k, v in times.items():
            print(f"   {k:36s} {v * 1e6:9.1f} us   scipy / this = {ref / v:6.2f}x")
        result[f"{key}_us"] = {k: round(v * 1e6, 2) for k, v in times.items()}
        result[f"{key}_speedup_vs_scipy"] = {k: round(ref / v, 2) for k, v in times.items()}
        result[f"{key}_max_abs_diff_vs_scipy"] = maxdiff

    nt = bench_noise(batch, args.rounds, args.min_time, args.threads)
    ref = nt["numpy standard_normal + add"]
    print("2. Gaussian noise (std 0.1) on the same batch")
    for k, v in nt.items():
        print(f"   {k:36s} {v * 1e6:9.1f} us   numpy / this = {ref / v:6.2f}x")
    result["noise_us"] = {k: round(v * 1e6, 2) for k, v in nt.items()}

    if not args.skip_epoch:
        runs = bench_epoch(X, y, args.epoch_rounds)
        med = {k: [statistics.median(r[i] for r in v) for i in range(4)] for k, v in runs.items()}
        mins = {k: [min(r[i] for r in v) for i in range(4)] for k, v in runs.items()}
        base = med["no augmentation"]
        print(f"3. one epoch, 784-512-256-10 ReLU MLP, {X.shape[0]} rows, batch 128, SGD momentum, {args.threads} "
              f"thread(s), {args.epoch_rounds} interleaved rounds (medians; wall min in brackets). Overhead: the "
              "median over rounds of (this epoch / the plain epoch of the same round) - 1, [range]")
        result["epoch"] = {}
        for k in runs:
            wall, cpu, aw, ac = med[k]
            # paired per round: load that drifts between rounds hits both epochs of a round alike
            paired = [100 * (a[0] / p[0] - 1) for a, p in zip(runs[k], runs["no augmentation"])]
            paired_cpu = [100 * (a[1] / p[1] - 1) for a, p in zip(runs[k], runs["no augmentation"])]
            line = f"   {k:18s} wall {wall:6.3f} s [{mins[k][0]:6.3f}] cpu {cpu:6.3f} s"
            entry = {"wall_s": round(wall, 4), "wall_min_s": round(mins[k][0], 4), "cpu_s": round(cpu, 4)}
            if k != "no augmentation":
                over, over_cpu = statistics.median(paired), statistics.median(paired_cpu)
                line += (f"  overhead wall {over:+5.1f}% [{min(paired):+.1f}, {max(paired):+.1f}] cpu {over_cpu:+5.1f}%"
                         f"; inside apply() {aw:5.3f} s wall = {100 * aw / base[0]:4.1f}% of a plain epoch")
                entry.update({"apply_wall_s": round(aw, 4), "apply_thread_cpu_s": round(ac, 4),
                              "overhead_wall_pct": round(over, 2), "overhead_wall_pct_rounds": [round(v, 2) for v in paired],
                              "overhead_cpu_pct": round(over_cpu, 2),
                              "apply_share_pct": round(100 * aw / base[0], 2)})
            result["epoch"][k] = entry
            print(line)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
