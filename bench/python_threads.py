"""fastnn called from several Python threads: calls per second (or training samples per second) in the scenarios
where libgomp's per-thread pools and spinning decide the speed.

* ``server``: the main thread compiles a ``threads=2`` plan and warms it up, then ONE other Python thread serves
  batch-1 predictions for a second (a web server's request thread after start-up);
* ``two-callers``: two new Python threads call one ``threads=2`` plan at batch 1 for a second;
* ``model-server``: as ``server`` with ``model.predict`` at batch 16 (the model's default threads);
* ``background-fit``: the main thread predicts with the model once (threaded), then another Python thread trains
  it (784-512-256-10, batch 128, SGD momentum): samples per second of that fit; ``main-fit``: the same fit in the
  main thread (the reference).

Each scenario runs in its own fresh process (``--tree`` puts a build of fastnn first on the path), alternated
between the trees over ``--rounds``; the figure is the median over rounds.

    python bench/python_threads.py --tree /path/a /path/b --rounds 3
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

SCENARIOS = ("server", "two-callers", "model-server", "background-fit", "main-fit")


def _mlp():
    import fastnn
    from fastnn.layers import Dense

    return fastnn.Sequential([Dense(512, activation="relu"), Dense(256, activation="relu"), Dense(10)],
                             input_dim=784, seed=0)


def calls_per_second(call, n_threads: int, seconds: float = 1.0, *, work_s: float = 0.0,
                     latencies_ns: list | None = None) -> float:
    """Calls of ``call`` per second, ``n_threads`` Python threads calling it at once for ``seconds``. ``work_s``:
    seconds of the thread's own Python after each call (a spin on the clock, holding the GIL); ``latencies_ns``: a
    list each call's time is appended to."""
    import threading

    counts = [0] * n_threads
    clock = time.perf_counter
    stop = clock() + seconds

    def timed():
        t = time.perf_counter_ns()
        call()
        latencies_ns.append(time.perf_counter_ns() - t)

    one = call if latencies_ns is None else timed

    def worker(k):
        while clock() < stop:
            one()
            if work_s:
                end = clock() + work_s
                while clock() < end:
                    pass
            counts[k] += 1

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / seconds


def run(scenario: str) -> float:
    import threading

    import numpy as np

    import fastnn
    import fastnn.inference

    fastnn.set_num_threads(2)
    rng = np.random.default_rng(0)
    model = _mlp()
    if scenario in ("server", "two-callers"):
        plan = fastnn.inference.compile(model, threads=2)
        x = rng.standard_normal((1, 784)).astype(np.float32)
        if scenario == "server":
            for _ in range(2000):  # start-up in the main thread
                plan.predict(x)
        return calls_per_second(lambda: plan.predict(x), 1 if scenario == "server" else 2)
    if scenario == "model-server":
        x = rng.standard_normal((16, 784)).astype(np.float32)
        for _ in range(200):
            model.predict(x)
        return calls_per_second(lambda: model.predict(x), 1)
    X = rng.standard_normal((8192, 784)).astype(np.float32)
    y = rng.integers(0, 10, 8192)
    model.predict(X[:1024])  # threaded, in the main thread
    result = {}
    if scenario == "main-fit":
        t = time.perf_counter()
        model.fit(X, y, epochs=3, batch_size=128, optimizer=fastnn.optim.SGD(lr=0.01, momentum=0.9), verbose=0)
        return 3 * len(X) / (time.perf_counter() - t)

    def fit():
        t = time.perf_counter()
        model.fit(X, y, epochs=3, batch_size=128, optimizer=fastnn.optim.SGD(lr=0.01, momentum=0.9), verbose=0)
        result["rate"] = 3 * len(X) / (time.perf_counter() - t)

    thread = threading.Thread(target=fit)
    thread.start()
    thread.join()
    return result["rate"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tree", nargs="+", default=[os.getcwd()])
    p.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(run(args.child)))
        return
    print(f"load {os.getloadavg()}, {time.strftime('%Y-%m-%d %H:%M')}")
    figures: dict = {}
    for _ in range(args.rounds):
        for scenario in args.scenarios:
            for tree in args.tree:
                env = dict(os.environ, PYTHONPATH=tree)
                out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", scenario], env=env,
                                     capture_output=True, text=True, check=True, cwd="/")
                figures.setdefault((scenario, tree), []).append(json.loads(out.stdout.splitlines()[-1]))
    print("| scenario | tree | per second (median) | rounds |")
    print("| --- | --- | --- | --- |")
    for (scenario, tree), values in figures.items():
        print(f"| {scenario} | {tree} | {statistics.median(values):.0f} | {', '.join(f'{v:.0f}' for v in values)} |")


if __name__ == "__main__":
    main()
