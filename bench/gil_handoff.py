"""Python threads calling one batch-1 plan, by the GIL spin's bound (csrc/infer.c, "The GIL hand-off"): calls per
second of 1 thread and of N threads, and the 99th percentile of a call, with W us of Python between a thread's calls
(0: a bare loop; more: a request handler's own work). The bound is set through ``FASTNN_GIL_SPIN_US`` (``default``:
unset); each (tree, bound) runs in its own fresh process, alternated over the rounds.

``--pattern`` measures where the spin can only cost, callers that release the GIL otherwise than by a plan call
(their stamp stays, csrc/infer.c): ``queue``, two threads passing one request back and forth through queues (hand-offs
per second); ``sleeper``, one thread predicting in a loop beside one that predicts and then sleeps W us (the first
one's calls per second). 784-512-256-10 (relu),
1-thread plan, float32; ``--data fashion`` the MLP trained on Fashion-MNIST and its test images (bench/.cache,
trained by bench/fashion_mlp.py when missing), ``gaussian`` random weights and one standard-normal row.

    python bench/gil_handoff.py --bounds 0 5 20 50 --work 0 3 --rounds 3
    python bench/gil_handoff.py --trees /path/before /path/after --bounds default
    python bench/gil_handoff.py --pattern queue sleeper --bounds 0 20 100 --work 50 --data fashion
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
    from python_threads import calls_per_second  # bench/

    took: list[int] = []
    per_second = calls_per_second(call, n_threads, seconds, work_s=work_s, latencies_ns=took)
    return per_second, float(np.percentile(took, 99)) / 1000


def queue_rate(call, seconds: float) -> tuple[float, float]:
    """(hand-offs per second, 99th percentile of a call in us): two threads take turns, each predicting once per turn
    and passing the turn on through a queue (a request handed between threads: they never want the GIL at once)."""
    import queue

    import numpy as np

    turns = [queue.SimpleQueue(), queue.SimpleQueue()]
    took, stop = [], time.perf_counter() + seconds

    def player(k):
        while turns[k].get():  # False: the game is over
            t = time.perf_counter_ns()
            call()
            took.append(time.perf_counter_ns() - t)
            more = time.perf_counter() < stop
            turns[1 - k].put(more)
            if not more:
                return

    threads = [threading.Thread(target=player, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    start = time.perf_counter()
    turns[0].put(True)
    for t in threads:
        t.join()
    return len(took) / (time.perf_counter() - start), float(np.percentile(took, 99)) / 1000


def sleeper_rate(call, sleep_s: float, seconds: float) -> tuple[float, float]:
    """(calls per second, 99th percentile in us) of a thread predicting in a loop while another predicts and then
    sleeps ``sleep_s`` (a thread waiting for its next request)."""
    import numpy as np

    took, stop = [], time.perf_counter() + seconds

    def sleeper():
        while time.perf_counter() < stop:
            call()
            time.sleep(sleep_s)

    def looper():
        while time.perf_counter() < stop:
            t = time.perf_counter_ns()
            call()
            took.append(time.perf_counter_ns() - t)

    threads = [threading.Thread(target=f) for f in (sleeper, looper)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(took) / seconds, float(np.percentile(took, 99)) / 1000


def child(data: str, work_us: float, n_threads: int, seconds: float, pattern: str = "loop") -> dict:
    sys.path.insert(0, HERE)
    from suites import inference

    import fastnn
    import fastnn.inference
    from fastnn.ops import infer

    fastnn.set_num_threads(1)
    path = inference.data_source(data)
    plan = fastnn.inference.compile(inference.fastnn_model(SIZES, "relu", path), threads=1)
    inputs = itertools.cycle(inference._inputs(SIZES, 1, path))
    call = lambda: plan.predict(next(inputs))  # noqa: E731
    rate(call, 1, work_us * 1e-6, 0.3)  # warm-up
    bound_us = infer.gil_spin() if hasattr(infer, "gil_spin") else None  # None: a tree from before the hand-off
    if pattern == "queue":
        per_second, p99 = queue_rate(call, seconds)
        return {"per_second": per_second, "p99": p99, "bound_us": bound_us}
    if pattern == "sleeper":
        per_second, p99 = sleeper_rate(call, work_us * 1e-6, seconds)
        return {"per_second": per_second, "p99": p99, "bound_us": bound_us}
    one, p99_one = rate(call, 1, work_us * 1e-6, seconds)
    many, p99_many = rate(call, n_threads, work_us * 1e-6, seconds)
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
    p.add_argument("--pattern", nargs="+", choices=["loop", "queue", "sleeper"], default=["loop"])
    p.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        data, work, n, seconds, pattern = args.child
        print(json.dumps(child(data, float(work), int(n), float(seconds), pattern)))
        return
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()}, {os.cpu_count()} CPUs")
    figures: dict = {}
    for _ in range(args.rounds):
        for pattern, data, work in itertools.product(args.pattern, args.data, args.work):
            for tree, bound in itertools.product(args.trees, args.bounds):
                env = {k: v for k, v in os.environ.items() if k != "FASTNN_GIL_SPIN_US"}
                env["PYTHONPATH"] = tree
                if bound != "default":
                    env["FASTNN_GIL_SPIN_US"] = bound
                out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", data, str(work),
                                      str(args.python_threads), str(args.seconds), pattern],
                                     env=env, capture_output=True, text=True, check=True, cwd="/")
                result = json.loads(out.stdout.splitlines()[-1])
                figures.setdefault((pattern, data, work, tree, bound), []).append(result)
    if "loop" in args.pattern:
        _loop_table({k[1:]: v for k, v in figures.items() if k[0] == "loop"}, args.python_threads)
    for pattern in (p for p in args.pattern if p != "loop"):
        what = "hand-offs/s" if pattern == "queue" else "the looping thread's calls/s"
        print(f"\n{pattern}: {what}, median over the rounds [range]")
        print("| data | W | tree | spin bound | per second | p99 of a call |")
        print("| --- | --- | --- | --- | --- | --- |")
        for (pat, data, work, tree, bound), runs in figures.items():
            if pat != pattern:
                continue
            rates = [r["per_second"] for r in runs]
            print(f"| {data} | {work:g} us | {os.path.basename(tree.rstrip('/'))} | {_shown(runs[0], bound)} | "
                  f"{statistics.median(rates):,.0f} [{min(rates):,.0f}, {max(rates):,.0f}] | "
                  f"{statistics.median(r['p99'] for r in runs):.1f} us |")


def _shown(run: dict, bound: str) -> str:
    if run["bound_us"] is None:
        return "none (no hand-off in this tree)"
    return f"{run['bound_us']:g} us" + (" (default)" if bound == "default" else "")


def _loop_table(figures: dict, n: int) -> None:
    print(f"| data | Python between calls | tree | spin bound | 1 thread calls/s | {n} threads calls/s | "
          f"ratio: median [range] | p99 of a call, 1 / {n} threads |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for (data, work, tree, bound), runs in figures.items():
        ratios = [r["many"] / r["one"] for r in runs]
        med = {key: statistics.median(r[key] for r in runs) for key in ("one", "many", "p99_one", "p99_many")}
        shown = _shown(runs[0], bound)
        print(f"| {data} | {work:g} us | {os.path.basename(tree.rstrip('/'))} | {shown} | {med['one']:,.0f} | "
              f"{med['many']:,.0f} | x{statistics.median(ratios):.2f} [{min(ratios):.2f}, {max(ratios):.2f}] | "
              f"{med['p99_one']:.1f} / {med['p99_many']:.1f} us |")


if __name__ == "__main__":
    main()
