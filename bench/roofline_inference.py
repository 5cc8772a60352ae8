"""The batch-1 roofline: the time to stream-read a plan's weight bytes on 1 core and on 2 cores.

A batch-1 forward pass of an MLP does one FMA per weight and reads each weight once: the cores could do the
FMAs many times faster than the bytes arrive, so the floor of its latency is the time to read the weights from
where they sit between calls. This script compiles bench/roofline_stream.c (gcc, AVX-512) and times, per
repetition (median and min over many back-to-back repetitions, so the buffer is as hot as it gets):

* ``1 core``: one thread reads the whole buffer;
* ``2 cores``: two pinned threads each read their half, joined by a spinning fork-join (hand-off included);
  ``hand-off`` is that fork-join with nothing to read;
* ``+ NTA tail``: the same with the last ``--nt`` KiB of each thread's share read behind a PREFETCHNTA, so the
  rest may stay in the core's L2 from one repetition to the next (cyclic reads of more than the L2 evict all of
  it under LRU);
* ``zigzag``: every other repetition reads back to front, starting with what the last one read last;
* ``FMA peak``: one core's rate of independent AVX-512 FMAs, the roof of batches that reuse each weight from
  registers (the plan's 8-row tiles): multiply-adds per second and what a batch of 1024 rows would take at it;
* reference sizes: a buffer that fits in L2 (512 KiB) and one that lives in L3 (8 MiB), in GB/s.

    python bench/roofline_inference.py                     # the 784-512-256-10 plan's packed float32 weights
    python bench/roofline_inference.py --sizes 784-512-256-10 --nt 128 256 512 --reps 4000

The buffer size is the packed plan's (``fastnn.ops.infer`` panels, padded columns included), computed from the
sizes without importing fastnn.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import subprocess
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
PANEL_FLOATS = 32  # csrc/infer.h FNN_INFER_PANEL_BYTES / sizeof(float)


def packed_floats(sizes: list[int]) -> int:
    """Floats of a plan's packed dense weights: each layer's columns padded to whole panels."""
    return sum(n_in * -(-n_out // PANEL_FLOATS) * PANEL_FLOATS for n_in, n_out in zip(sizes, sizes[1:]))


def build(tmp: str) -> ctypes.CDLL:
    lib = os.path.join(tmp, "roofline_stream.so")
    subprocess.run(["gcc", "-O2", "-mavx512f", "-pthread", "-shared", "-fPIC", "-o", lib,
                    os.path.join(HERE, "roofline_stream.c")], check=True)
    dll = ctypes.CDLL(lib)
    for fn in (dll.stream_1core, dll.stream_2cores):
        fn.restype = ctypes.c_float
        fn.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
    dll.fma_peak.restype = ctypes.c_float
    dll.fma_peak.argtypes = [ctypes.c_int64, ctypes.c_int, ctypes.c_void_p]
    return dll


def aligned(n_floats: int) -> np.ndarray:
    raw = np.empty(n_floats * 4 + 64, np.uint8)
    start = -raw.ctypes.data % 64
    buf = raw[start:start + n_floats * 4].view(np.float32)
    buf[:] = 1.0
    return buf


def measure(fn, buf: np.ndarray, nt_bytes: int, zigzag: int, reps: int, rounds: int) -> tuple[float, float]:
    """(median, min) seconds per repetition: the median over rounds of each round's median, the overall min."""
    meds, mins = [], []
    times = np.empty(reps)
    for _ in range(rounds):
        fn(buf.ctypes.data, buf.size, nt_bytes, zigzag, reps, times.ctypes.data)
        steady = times[reps // 10:]  # the first repetitions warm the caches
        meds.append(np.median(steady))
        mins.append(steady.min())
    return float(np.median(meds)) * 1e-9, float(min(mins)) * 1e-9


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="784-512-256-10")
    p.add_argument("--nt", type=int, nargs="*", default=[64, 128, 256, 512], help="KiB read non-temporally")
    p.add_argument("--reps", type=int, default=3000)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split("-")]
    n = packed_floats(sizes) // 128 * 128 + 128
    with tempfile.TemporaryDirectory() as tmp:
        dll = build(tmp)
        print(f"machine load {os.getloadavg()}, {time.strftime('%Y-%m-%d %H:%M')}; plan {args.sizes} float32: "
              f"{n * 4 / 1e6:.2f} MB of packed weights")
        print("| buffer | how | median | min | GB/s (median) |")
        print("| --- | --- | --- | --- | --- |")
        one, two, w = dll.stream_1core, dll.stream_2cores, "plan weights"
        rows = [(w, n, "1 core", one, 0, 0), (w, n, "2 cores", two, 0, 0),
                (w, n, "1 core, zigzag", one, 0, 1), (w, n, "2 cores, zigzag", two, 0, 1)]
        rows += [(w, n, f"1 core + NTA tail {k} KiB", one, k * 1024, 0) for k in args.nt]
        rows += [(w, n, f"2 cores + NTA tail {k} KiB", two, k * 1024, 0) for k in args.nt]
        rows += [("none", 128, "2 cores: hand-off only", two, 0, 0),
                 ("512 KiB (in L2)", 128 * 1024, "1 core", one, 0, 0),
                 ("8 MiB (in L3)", 2 * 1024 * 1024, "1 core", one, 0, 0),
                 ("8 MiB (in L3)", 2 * 1024 * 1024, "2 cores", two, 0, 0)]
        for label, size, how, fn, nt, zigzag in rows:
            buf = aligned(size)
            med, best = measure(fn, buf, nt, zigzag, args.reps if size < 1 << 20 else args.reps // 4, args.rounds)
            gbs = size * 4 / med / 1e9 if size > 128 else 0
            print(f"| {label} ({size * 4 / 1e6:.2f} MB) | {how} | {med * 1e6:.2f} us | {best * 1e6:.2f} us | "
                  f"{gbs:.0f} |", flush=True)
        times, n_iter = np.empty(200), 20000
        dll.fma_peak(n_iter, times.size, times.ctypes.data)
        macs = n_iter * 16 * 16 / (np.median(times[20:]) * 1e-9)
        weights = sum(a * b for a, b in zip(sizes, sizes[1:]))
        print(f"\nFMA peak, 1 core: {macs / 1e9:.0f} G multiply-adds/s (float32): {weights * 1024 / macs * 1e3:.2f} ms "
              f"for a batch of 1024 through {args.sizes}, {weights * 16 / macs * 1e6:.1f} us for 16")


if __name__ == "__main__":
    main()
