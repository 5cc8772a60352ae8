"""Randomized shapes through the public kernel wrappers, checked against their numpy twins (fastnn/_reference).

Meant to run under the sanitizers (tools/sanitize.sh), where a read or write past a buffer aborts: products of
1..300 x 1..70 x 1..70 (and k beyond one block) with transposed, sliced and reversed operands; the Dense epilogues
on the same shapes; tiny odd models (1-3 Dense layers of 1..70 units, BatchNorm or LayerNorm between) compiled
with fastnn.inference.compile and run on 1..300 rows. Both dtypes, 1-3 threads. Exit status 1 on a mismatch.

    python tools/shape_sweep.py --seed 1 --iters 100
"""
import argparse
import sys

import numpy as np

import fastnn
import fastnn.inference as fi
from fastnn import layers
from fastnn._reference import dense as ref_dense
from fastnn._reference import gemm as ref_gemm
from fastnn._reference import infer as ref_infer
from fastnn.ops import dense, gemm

TOL = {np.float32: 2e-3, np.float64: 1e-10}  # relative to 1 + |value|: sums of up to ~500 products
ACTS = list(dense.ACTIVATIONS)


def operand(rng, shape, dtype):
    """Values of ``shape`` as a contiguous, transposed, sliced (every other column) or row-reversed array."""
    a = rng.standard_normal(shape).astype(dtype)
    kind = rng.integers(4)
    if kind == 1:
        return np.ascontiguousarray(a.T).T
    if kind == 2:
        wide = np.zeros((shape[0], 2 * shape[1]), dtype)
        wide[:, 1::2] = a
        return wide[:, 1::2]
    if kind == 3:
        return np.ascontiguousarray(a[::-1])[::-1]
    return a


def tiny_model(rng, dtype):
    widths = [int(rng.integers(1, 71)) for _ in range(int(rng.integers(1, 4)))]
    stack = []
    for i, width in enumerate(widths):
        hidden = i + 1 < len(widths)
        stack.append(layers.Dense(width, activation=ACTS[rng.integers(len(ACTS))] if hidden else None))
        r = rng.random()
        if hidden and r < 0.2:
            stack.append(layers.BatchNorm())
        elif hidden and r < 0.4:
            stack.append(layers.LayerNorm(elementwise_affine=bool(rng.integers(2))))
    loss = ("cross_entropy", "binary_cross_entropy", "mse")[rng.integers(3)]
    return fastnn.Sequential(stack, input_dim=int(rng.integers(1, 71)), dtype=dtype,
                             seed=int(rng.integers(1 << 30)), loss=loss)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--iters", type=int, default=100)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    failures = []

    def check(what, got, want, dtype):
        want = np.asarray(want, np.float64)
        err = float(np.max(np.abs(got - want) / (1 + np.abs(want)))) if want.size else 0.0
        if not err <= TOL[dtype]:
            failures.append(f"{what}: relative error {err:.3g}")

    for it in range(args.iters):
        dtype = (np.float32, np.float64)[rng.integers(2)]
        nt = int(rng.integers(1, 4))
        with fastnn.threads(nt, parallel_threshold=1 if nt > 1 else None):
            m = int(rng.integers(1, 301)) if rng.random() < 0.3 else int(rng.integers(1, 71))
            n = int(rng.integers(1, 71))
            k = int(rng.integers(250, 530)) if rng.random() < 0.1 else int(rng.integers(1, 71))
            tag = f"{m}x{k}x{n} {dtype.__name__} {nt} threads"
            a, b = operand(rng, (m, k), dtype), operand(rng, (k, n), dtype)
            out = np.full((m, n), np.nan, dtype)
            check(f"gemm {tag}", gemm.gemm(a, b, out, n_threads=nt), ref_gemm.gemm(a, b), dtype)

            act = ACTS[rng.integers(len(ACTS))]
            z = rng.standard_normal((m, n)).astype(dtype)
            bias = rng.standard_normal(n).astype(dtype) if rng.random() < 0.8 else None
            want_y = ref_dense.bias_act_forward(z, bias, act)
            y = dense.bias_act_forward(z, bias, np.full_like(z, np.nan), act, n_threads=nt)  # z becomes z + b
            check(f"bias_act_forward {act} {tag}", y, want_y, dtype)
            dy = rng.standard_normal((m, n)).astype(dtype)
            dz, db = np.full_like(dy, np.nan), np.full(n, np.nan, dtype)
            dense.act_backward(dy, y, z, dz, db, act, n_threads=nt)
            want_dz, want_db = ref_dense.act_backward(dy, y, z, act)
            check(f"act_backward {act} {tag}", dz, want_dz, dtype)
            check(f"bias gradient {act} {tag}", db, want_db, dtype)

            if it % 3 == 0:
                model = tiny_model(rng, dtype)
                plan = fi.compile(model, threads=nt, small_batch_max=(None, 0, 8, 64)[rng.integers(4)],
                                  block_rows=int(rng.integers(1, 400)))
                x = rng.standard_normal((int(rng.integers(1, 301)), plan.n_features_in)).astype(dtype)
                check(f"inference {[type(s).__name__ for s in model.layers]} rows={len(x)} {nt} threads",
                      plan.predict(x), ref_infer.forward(plan.program, x, plan.output_map), dtype)
    print(f"shape sweep, seed {args.seed}: {args.iters} rounds, {len(failures)} mismatches")
    for failure in failures:
        print("  " + failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
