"""Python threads calling one batch-1 plan, by the GIL spin's bound (csrc/infer.c, "The GIL hand-off"): calls per
second of 1 thread and of N threads, and the 99th percentile of a call, with W us of Python between a thread's calls
(0: a bare loop; more: a request handler's own work). The bound is set through ``FASTNN_GIL_SPIN_US`` (``default``:
unset); each (tree, bound) runs in its own fresh process, alternated over the rounds. 784-512-256-10 (relu),
1-thread plan, float32; ``--data fashion`` the MLP trained on Fashion-MNIST and its test images (bench/.cache, made
by bench_inference.py --data fashion), ``gaussian`` random weights and one standard-normal row.

    python bench/gil_handoff.py --bounds 0 5 20 50 --work 0 3 --rounds 3
    python bench/gil_handoff.py --trees /path/before /path/after --bounds default
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SIZES = [784, 512, 256, 10]


def rate(call, n_threads: int, work_s: float, seconds: float) -> tuple[float, float]:
    """(calls per second, 99th percentile of a call in us) of ``n_threads`` threads calling ``call`` for
    ``seconds``, each spinning ``work_s`` seconds in Python after every call."""
    import numpy as np

    counts, latencies = [0] * n_threads, [[] for _ in range(n_threads)]
    stop = time.perf_counter() + seconds
    clock = time.perf_counter

    def worker(k):
        took, n = latencies[k], 0
        while clock() < stop:
            t = time.perf_counter_ns()
            call()
            took.append(time.perf_counter_ns() - t)
            end = clock() + work_s
            while clock() < end:  # the thread's own Python work, holding the GIL
                pass
            n += 1
        counts[k] = n

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / seconds, float(np.percentile(np.concatenate(latencies), 99)) / 1000


def child(data: str, work_us: float, n_threads: int, seconds: float) -> dict:
    sys.path.insert(0, HERE)
    from suites import inference

    import fastnn
    import fastnn.inference
    from fastnn.ops import infer

    fastnn.set_num_threads(1)
    path = os.path.join(HERE, ".cache", "fashion_relu.npz") if data == "fashion" else "gaussian"
    plan = fastnn.inference.compile(inference.fastnn_model(SIZES, "relu", path), threads=1)
    inputs = itertools.cycle(inference._inputs(SIZES, 1, path))
    call = lambda: plan.predict(next(inputs))  # noqa: E731
    rate(call, 1, work_us * 1e-6, 0.3)  # warm-up
    one, p99_one = rate(call, 1, work_us * 1e-6, seconds)
    many, p99_many = rate(call, n_threads, work_us * 1e-6, seconds)
    bound_us = infer.gil_spin() if hasattr(infer, "gil_spin") else None  # None: a tree from before the hand-off
    return {"one": one, "many": many, "p99_one": p99_one, "p99_many": p99_many, "bound_us": bound_us}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trees", nargs="+", default=[os.path.dirname(HERE)])
    p.add_argument("--bounds", nargs="+", default=["0", "5", "20", "50"], help="FASTNN_GIL_SPIN_US values, or default")
    p.add_argument("--data", nargs="+", choices=["fashion", "gaussian"], default=["fashion", "gaussian"])
    p.add_argument("--work", type=float, nargs="+", default=[0.0, 3.0], help="us of Python between a thread's calls")
    p.add_argument("--python-threads", type=int, default=2)
    p.add_argument("--seconds", type=float, default=1.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        data, work, n, seconds = args.child
        print(json.dumps(child(data, float(work), int(n), float(seconds))))
        return
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()}, {os.cpu_count()} CPUs")
    figures: dict = {}
    for _ in range(args.rounds):
        for data, work in itertools.product(args.data, args.work):
            for tree, bound in itertools.product(args.trees, args.bounds):
                env = {k: v for k, v in os.environ.items() if k != "FASTNN_GIL_SPIN_US"}
                env["PYTHONPATH"] = tree
                if bound != "default":
                    env["FASTNN_GIL_SPIN_US"] = bound
                out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", data, str(work),
                                      str(args.python_threads), str(args.seconds)],
                                     env=env, capture_output=True, text=True, check=True, cwd="/")
                figures.setdefault((data, work, tree, bound), []).append(json.loads(out.stdout.splitlines()[-1]))
    n = args.python_threads
    print(f"| data | Python between calls | tree | spin bound | 1 thread calls/s | {n} threads calls/s | "
          f"ratio: median [range] | p99 of a call, 1 / {n} threads |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for (data, work, tree, bound), runs in figures.items():
        ratios = [r["many"] / r["one"] for r in runs]
        med = {key: statistics.median(r[key] for r in runs) for key in ("one", "many", "p99_one", "p99_many")}
        shown = ("none (no hand-off in this tree)" if runs[0]["bound_us"] is None else
                 f"{runs[0]['bound_us']:g} us" + (" (default)" if bound == "default" else ""))
        print(f"| {data} | {work:g} us | {os.path.basename(tree.rstrip('/'))} | {shown} | {med['one']:,.0f} | "
              f"{med['many']:,.0f} | x{statistics.median(ratios):.2f} [{min(ratios):.2f}, {max(ratios):.2f}] | "
              f"{med['p99_one']:.1f} / {med['p99_many']:.1f} us |")


if __name__ == "__main__":
    main()
