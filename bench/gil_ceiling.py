"""The ceiling of two Python threads on this machine: calls that release the GIL (ctypes) and take a fixed time,
1 thread against 2, as bench_inference.py --python-threads calls a plan. Two kinds of call:

* ``wait``: spin on the clock for T us (neither compute nor memory: the GIL hand-offs alone);
* ``fma``: a chain of dependent multiply-adds that takes about T us on one core (compute: a lower clock with two
  busy cores would show here).

With ``--plan DATA`` (``fashion`` or ``gaussian``, as bench_inference.py), also the plan's own kernel
(``infer_forward_f32`` of fastnn's extension, the 784-512-256-10 relu plan at batch 1) called in a loop by 1 and by 2
C threads (pthreads, no Python): the ceiling of two Python threads on that plan. Where the C threads reach ~2x and
Python threads do not, the difference is the hand-over of the GIL (bench/gil_handoff.py). Needs a C compiler (gcc
or cc on PATH); builds a tiny library in a temporary folder. POSIX only.

    python bench/gil_ceiling.py [--us 3 6 10 20] [--seconds 1] [--plan fashion]
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

/* plan_rate: the calls per second of n_threads C threads, each calling the kernel on rows of X in turn */
#include <pthread.h>
#include <stdlib.h>
typedef int (*forward_t)(const void *, int, const float *, float *, float *, int64_t, int, int);
typedef struct { forward_t f; const void *layers; int n_layers; const float *X; int64_t rows, in, scratch;
                 uint64_t stop; long calls; } job_t;
static void *plan_loop(void *p) {
    job_t *j = p;
    float *y = malloc(4096), *s = malloc(4 * j->scratch + 64);
    long n = 0;
    while (now_ns() < j->stop)
        for (int r = 0; r < 16; r++, n++) j->f(j->layers, j->n_layers, j->X + (n % j->rows) * j->in, y, s, 1, 1, 1);
    j->calls = n; free(y); free(s); return NULL;
}
double plan_rate(void *f, const void *layers, int n_layers, const float *X, int64_t rows, int64_t in, int64_t scratch,
                 int n_threads, double seconds) {
    pthread_t t[8]; job_t j[8];
    uint64_t stop = now_ns() + (uint64_t)(seconds * 1e9);
    long total = 0;
    for (int k = 0; k < n_threads; k++) {
        j[k] = (job_t){(forward_t)f, layers, n_layers, X, rows, in, scratch, stop, 0};
        pthread_create(&t[k], NULL, plan_loop, &j[k]);
    }
    for (int k = 0; k < n_threads; k++) { pthread_join(t[k], NULL); total += j[k].calls; }
    return total / seconds;
}
"""


def _library(folder: str) -> ctypes.CDLL:
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise SystemExit("gil_ceiling needs a C compiler (gcc or cc) on PATH")
    src, lib = os.path.join(folder, "probe.c"), os.path.join(folder, "probe.so")
    with open(src, "w") as f:
        f.write(SOURCE)
    subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-pthread", "-o", lib, src], check=True)
    return ctypes.CDLL(lib)  # a CDLL releases the GIL around every call


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--us", type=float, nargs="+", default=[3, 6, 10, 20])
    p.add_argument("--seconds", type=float, default=1.0)
    p.add_argument("--plan", choices=["fashion", "gaussian"], help="also the plan's kernel on C threads")
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
        if args.plan:
            _plan_on_c_threads(lib, args.plan, args.seconds)


def _plan_on_c_threads(lib: ctypes.CDLL, data: str, seconds: float) -> None:
    """The plan's kernel on 1 and 2 C threads, and the plan's predict on 1 and 2 Python threads, for comparison."""
    import itertools

    import numpy as np
    from suites import inference  # bench/

    import fastnn
    import fastnn.inference
    from fastnn._ext import infer as ext

    fastnn.set_num_threads(1)
    sizes = [784, 512, 256, 10]
    path = inference.data_source(data)
    plan = fastnn.inference.compile(inference.fastnn_model(sizes, "relu", path))
    rows = np.ascontiguousarray(np.concatenate(inference._inputs(sizes, 1, path)), dtype=np.float32)
    program = plan.program
    kernel = ctypes.cast(ctypes.CDLL(ext.__file__).infer_forward_f32, ctypes.c_void_p).value
    layers = ctypes.create_string_buffer(program._program, len(program._program))  # the packed structs, as ext has them
    lib.plan_rate.restype = ctypes.c_double
    lib.plan_rate.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int64,
                              ctypes.c_int64, ctypes.c_int64, ctypes.c_int, ctypes.c_double]
    args = (kernel, ctypes.addressof(layers), len(program.layers), rows.ctypes.data, len(rows), sizes[0],
            program.scratch_size(1))
    lib.plan_rate(*args, 1, 0.2)  # warm-up
    one, two = (lib.plan_rate(*args, n, seconds) for n in (1, 2))
    print(f"| plan kernel, C threads ({data}) | - | {one:,.0f} | {two:,.0f} | x{two / one:.2f} |")
    batches = itertools.cycle([rows[i:i + 1] for i in range(len(rows))])
    one, two = (calls_per_second(lambda: plan.predict(next(batches)), n, seconds) for n in (1, 2))
    print(f"| plan.predict, Python threads ({data}) | - | {one:,.0f} | {two:,.0f} | x{two / one:.2f} |")


if __name__ == "__main__":
    main()
