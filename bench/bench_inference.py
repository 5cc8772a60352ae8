"""Per-call latency percentiles of inference: median and p99 over many single calls, each contender in its own
fresh process, contenders alternated round by round (see bench/harness.py for why).

    python bench/bench_inference.py                      # batch 1, 16, 128, 1024; relu and batchnorm; 1 and 2 threads
    python bench/bench_inference.py --batch 1 --threads 1 --calls 5000 --rounds 3
    python bench/bench_inference.py --python-threads     # batch-1 throughput of 1 vs 2 Python threads on one plan

The contenders are bench/suites/inference.py's factories (the same weights and inputs). Output: one markdown row
per (arch, batch, threads, contender): median and p99 of the per-call times (the median over rounds of each
round's percentile), and the plan's ratio to ONNX Runtime.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CONTENDERS = {"fastnn plan": ("plan_predict", {}), "fastnn plan 2t": ("plan_predict", {"plan_threads": 2}),
              "fastnn": ("fastnn_predict", {}),
              "onnxruntime": ("ort_predict", {}), "torch": ("torch_predict", {}), "numpy": ("numpy_predict", {})}


def child(spec: dict) -> dict:
    sys.path.insert(0, HERE)
    import numpy as np

    threads = spec["threads"]
    if spec["contender"].startswith("fastnn"):
        import fastnn

        fastnn.set_num_threads(threads)
    if spec["contender"] == "torch":
        import torch

        torch.set_num_threads(threads)
    from suites import inference

    name, params = CONTENDERS[spec["contender"]]
    kwargs = dict(sizes=spec["sizes"], batch=spec["batch"], arch=spec["arch"], **params)
    if name == "ort_predict":
        kwargs["threads"] = threads
    call = getattr(inference, name)(**kwargs)
    if spec.get("python_threads"):
        return _python_threads(call, spec)
    for _ in range(200):
        call()
    times = np.empty(spec["calls"])
    clock = time.perf_counter_ns
    for i in range(spec["calls"]):
        t = clock()
        call()
        times[i] = clock() - t
    return {"median": float(np.median(times)) * 1e-9, "p99": float(np.percentile(times, 99)) * 1e-9}


def _python_threads(call, spec) -> dict:
    """Calls per second of n Python threads calling one plan (or runtime) at once, for n = 1 and 2."""
    from python_threads import calls_per_second  # bench/, on the path (child)

    return {f"{n} threads calls/s": calls_per_second(call, n) for n in (1, 2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, nargs="+", default=[1, 16, 128, 1024])
    p.add_argument("--arch", nargs="+", default=["relu", "batchnorm"])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--contenders", nargs="+", default=list(CONTENDERS))
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--sizes", default="784-512-256-10")
    p.add_argument("--python-threads", action="store_true")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    print(f"machine load {os.getloadavg()}, {time.strftime('%Y-%m-%d %H:%M')}")
    print("| arch | batch | threads | contender | median | p99 | median / ORT |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for arch in args.arch:
        for batch in ([1] if args.python_threads else args.batch):
            for threads in args.threads:
                results: dict[str, list[dict]] = {c: [] for c in args.contenders}
                for _ in range(args.rounds):
                    for c in args.contenders:
                        spec = {"contender": c, "batch": batch, "arch": arch, "threads": threads, "sizes": args.sizes,
                                "calls": max(50, args.calls // max(1, batch // 16)),
                                "python_threads": args.python_threads}
                        env = dict(os.environ, **{k: str(threads) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                                           "MKL_NUM_THREADS")})
                        res = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], env=env,
                                             capture_output=True, text=True, check=False)
                        if res.returncode:
                            results[c].append({"error": res.stderr.strip().splitlines()[-1][:120]})
                        else:
                            results[c].append(json.loads(res.stdout.strip().splitlines()[-1]))
                _report(arch, batch, threads, results)


def _report(arch, batch, threads, results):
    def med(c, key):
        vals = [r[key] for r in results[c] if key in r]
        return statistics.median(vals) if vals else None

    if any("1 threads calls/s" in r for rs in results.values() for r in rs):
        for c in results:
            one, two = med(c, "1 threads calls/s"), med(c, "2 threads calls/s")
            if one:
                print(f"| {arch} | 1 | python threads | {c} | 1 thread {one:.0f}/s | 2 threads {two:.0f}/s | "
                      f"x{two / one:.2f} |")
        return
    ort = med("onnxruntime", "median") if "onnxruntime" in results else None
    for c in results:
        m, p99 = med(c, "median"), med(c, "p99")
        if m is None:
            print(f"| {arch} | {batch} | {threads} | {c} | n/a | {results[c][0].get('error', '')} | |")
            continue
        ratio = f"{m / ort:.2f}" if ort else ""
        print(f"| {arch} | {batch} | {threads} | {c} | {m * 1e6:.1f} us | {p99 * 1e6:.1f} us | {ratio} |", flush=True)


if __name__ == "__main__":
    main()
