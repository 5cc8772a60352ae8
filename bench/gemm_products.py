"""The matrix products of one training step, timed one by one: the 784-512-256-10 MLP's forward (x W), weight
gradient (x^T dz) and input gradient (dz W^T, not for the first layer) at a few batch sizes, through
``fastnn.ops.gemm`` as the Dense layers call it, and the weight gradient with the optimizer's update applied
inside the product (``gemm_update``, issue 11 item 3) against the product followed by the separate update pass.

Each figure is the minimum over repetitions of the mean time of many back-to-back calls (the operands stay in
cache as they do in a step). Run it with each tree on the path to compare trees, alternating:

    python bench/gemm_products.py --threads 2 --batch 32 128 1024
    PYTHONPATH=/path/to/other/tree python bench/gemm_products.py --threads 2     # another build, same machine
    env -u OPENBLAS_CORETYPE python bench/gemm_products.py --numpy --no-update   # numpy's BLAS, the same products

One library in the process (no BLAS, no other runtime): fastnn's own pool only.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

SIZES = (784, 512, 256, 10)


def best_mean_us(call, calls: int, repeats: int = 7) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            call()
        best = min(best, (time.perf_counter() - t0) / calls)
    return best * 1e6


def products(batch: int, rng: np.random.Generator, numpy: bool = False) -> list[tuple[str, int, object]]:
    """(name, multiply-adds, call) for every product of a step at ``batch``: through fastnn's gemm as the Dense
    layers call it, or with ``numpy`` through ``np.matmul`` into the same preallocated outputs (numpy's BLAS: the
    matmul floor of bench/suites/training.py, product by product)."""
    if numpy:
        class gemm:  # noqa: N801 - np.matmul under gemm's call shape
            @staticmethod
            def gemm(a, b, out, check=True):
                return np.matmul(a, b, out=out)
    else:
        from fastnn.ops import gemm

    out = []
    for layer, (n_in, n_out) in enumerate(zip(SIZES, SIZES[1:])):
        x = rng.standard_normal((batch, n_in)).astype(np.float32)
        w = rng.standard_normal((n_in, n_out)).astype(np.float32)
        z = np.empty((batch, n_out), np.float32)
        dw, dx = np.empty_like(w), np.empty_like(x)
        macs = batch * n_in * n_out
        out.append((f"{n_in}x{n_out} forward", macs, lambda x=x, w=w, z=z: gemm.gemm(x, w, z, check=False)))
        out.append((f"{n_in}x{n_out} dW", macs, lambda x=x, z=z, dw=dw: gemm.gemm(x.T, z, dw, check=False)))
        if layer:
            out.append((f"{n_in}x{n_out} dX", macs, lambda z=z, w=w, dx=dx: gemm.gemm(z, w.T, dx, check=False)))
    return out


def fused_update(batch: int, kind: str, rng: np.random.Generator) -> tuple[float, float]:
    """(product + separate update pass, product with the update inside) for the three weight gradients, us."""
    from fastnn.ops import gemm
    from fastnn.ops import optim as ops

    shapes = list(zip(SIZES, SIZES[1:]))
    tensors, offset = [], 0
    for n_in, n_out in shapes:
        tensors.append((offset, n_in, n_out))
        offset += n_in * n_out
    params = (rng.standard_normal(offset) * 0.01).astype(np.float32)
    grads = np.zeros(offset, np.float32)
    def zeros():
        return np.zeros(offset, np.float32)

    states = (zeros(),) if kind == "sgd" else (zeros(), zeros(), None)  # momentum; exp_avg, exp_avg_sq, no AMSGrad
    hp = np.zeros((1, ops.HP_WIDTH[kind]))
    fields = ops.HP[kind]
    values = (dict(lr=0.01, momentum=0.9, one_minus_dampening=1.0) if kind == "sgd" else
              dict(step_size=1e-3, decay_factor=1.0, beta1=0.9, beta2=0.999, eps=1e-8, bc2_sqrt=0.03))
    for name, v in values.items():
        hp[0, getattr(fields, name)] = v
    updates = ops.tensor_updates(kind, params, grads, states, tensors, hp, [0] * len(tensors), ops.CLIP_SCALE,
                                 np.ones(1))
    xs = [rng.standard_normal((batch, n_in)).astype(np.float32) for n_in, _ in shapes]
    dzs = [rng.standard_normal((batch, n_out)).astype(np.float32) for _, n_out in shapes]
    bounds = np.array([0, offset], np.int64)
    step = getattr(ops, f"{kind}_step")

    def separate():
        for i in range(len(shapes)):
            gemm.gemm(xs[i].T, dzs[i], updates.grads[i], check=False)
        step(grads, bounds, hp, params, *states, check=False)

    def fused():
        for i in range(len(shapes)):
            gemm.gemm_update(xs[i].T, dzs[i], updates, i, check=False)

    calls = max(20, 20000 // batch)
    times = {separate: [], fused: []}
    for _ in range(3):  # alternated, best of each
        for f in (separate, fused):
            times[f].append(best_mean_us(f, calls))
    return min(times[separate]), min(times[fused])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, nargs="+", default=[32, 128, 1024])
    p.add_argument("--simd", type=int, choices=(0, 1, 2), help="cap the SIMD rung (0 SSE2, 1 AVX2, 2 AVX-512)")
    p.add_argument("--no-update", action="store_true", help="time the products only")
    p.add_argument("--numpy", action="store_true",
                   help="time the same products through numpy's BLAS instead (fastnn is not imported; run it from "
                        "a shell without OPENBLAS_CORETYPE to get OpenBLAS's own kernel choice)")
    args = p.parse_args(argv)
    if args.numpy:
        return numpy_products(args)
    import fastnn
    from fastnn.ops import gemm

    fastnn.set_num_threads(args.threads)
    if args.simd is not None:
        gemm.set_simd(args.simd)
    rng = np.random.default_rng(0)
    print(f"fastnn from {os.path.dirname(fastnn.__file__)}, {args.threads} threads, SIMD rung "
          f"{min(gemm.simd_available(), 2 if args.simd is None else args.simd)}, load average "
          f"{os.getloadavg()[0]:.2f}\n")
    print_products(args.batch, rng)
    if args.no_update:
        return
    if not hasattr(gemm, "gemm_update"):
        print("\n(this tree has no gemm_update: the update inside the products is not measured)")
        return
    print("\n| batch | optimizer | dW products + update pass, us | update inside the products, us |\n"
          "| --- | --- | --- | --- |")
    for batch in args.batch:
        for kind in ("sgd", "adam"):
            separate, fused = fused_update(batch, kind, rng)
            print(f"| {batch} | {kind} | {separate:.1f} | {fused:.1f} |")


def numpy_products(args) -> None:
    """The step's products through numpy's BLAS, limited to ``args.threads`` (one library in the process)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    threadpool_limits(args.threads)
    blas = ", ".join(f"{i['internal_api']} {i.get('version')} {i.get('architecture')}" for i in threadpool_info())
    print(f"numpy {np.__version__} ({blas}), {args.threads} threads, load average {os.getloadavg()[0]:.2f}\n")
    print_products(args.batch, np.random.default_rng(0), numpy=True)


def print_products(batches: list[int], rng: np.random.Generator, numpy: bool = False) -> None:
    """The table of every product's best mean time at each batch size, and their sum."""
    print("| batch | product | us | G multiply-adds/s |\n| --- | --- | --- | --- |")
    for batch in batches:
        total = 0.0
        for name, macs, call in products(batch, rng, numpy=numpy):
            us = best_mean_us(call, max(20, 20000 // batch))
            total += us
            print(f"| {batch} | {name} | {us:.1f} | {macs / us / 1e3:.0f} |")
        print(f"| {batch} | all | {total:.1f} | |")


if __name__ == "__main__":
    main()
