"""The ceiling of two Python threads on this machine: calls that release the GIL (ctypes) and take a fixed time,
1 thread against 2, as bench_inference.py --python-threads calls a plan. Two kinds of call:

* ``wait``: spin on the clock for T us (neither compute nor memory: the GIL hand-offs alone);
* ``fma``: a chain of dependent multiply-adds that takes about T us on one core (compute: a lower clock with two
  busy cores would show here).

If both reach ~2x, what keeps a plan's batch-1 calls below 2x is the kernel's own traffic, not Python or the
clock. Needs a C compiler (gcc or cc on PATH); builds a tiny library in a temporary folder.

    python bench/gil_ceiling.py [--us 3 6 10 20] [--seconds 1]
"""
from __future__ import annotations

import argparse
import ctypes
import functools
import os
import shutil
import subprocess
import tempfile
import time

from python_threads import calls_per_second  # bench/, on the path when run as a script

SOURCE = r"""
#include <time.h>
#include <stdint.h>
static uint64_t now_ns(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
                               return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec; }
void wait_ns(long ns) { uint64_t end = now_ns() + (uint64_t)ns; while (now_ns() < end) {} }
double fma_chain(long n) { double a = 1.0; for (long i = 0; i < n; i++) a = a * 1.0000001 + 1e-9; return a; }
"""


def _library(folder: str) -> ctypes.CDLL:
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise SystemExit("gil_ceiling needs a C compiler (gcc or cc) on PATH")
    src, lib = os.path.join(folder, "probe.c"), os.path.join(folder, "probe.so")
    with open(src, "w") as f:
        f.write(SOURCE)
    subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-o", lib, src], check=True)
    return ctypes.CDLL(lib)  # a CDLL releases the GIL around every call


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--us", type=float, nargs="+", default=[3, 6, 10, 20])
    p.add_argument("--seconds", type=float, default=1.0)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        lib = _library(folder)
        lib.wait_ns.argtypes, lib.wait_ns.restype = [ctypes.c_long], None
        lib.fma_chain.argtypes, lib.fma_chain.restype = [ctypes.c_long], ctypes.c_double
        start = time.perf_counter()
        lib.fma_chain(20_000_000)
        fma_per_us = 20_000_000 / ((time.perf_counter() - start) * 1e6)
        print(f"machine load {os.getloadavg()}, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs")
        print("| call | us | 1 thread calls/s | 2 threads calls/s | ratio |")
        print("| --- | --- | --- | --- | --- |")
        for us in args.us:
            for kind, call in (("wait", functools.partial(lib.wait_ns, int(us * 1000))),
                               ("fma", functools.partial(lib.fma_chain, int(us * fma_per_us)))):
                one, two = (calls_per_second(call, n, args.seconds) for n in (1, 2))
                print(f"| {kind} | {us:g} | {one:,.0f} | {two:,.0f} | x{two / one:.2f} |")


if __name__ == "__main__":
    main()
