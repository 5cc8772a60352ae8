"""Per-call latency percentiles of inference: median and p99 over many single calls, each contender in its own
fresh process, contenders alternated round by round (see bench/harness.py for why).

    python bench/bench_inference.py                      # batch 1, 16, 128, 1024; relu and batchnorm; 1 and 2 threads
    python bench/bench_inference.py --batch 1 --threads 1 --calls 5000 --rounds 3
    python bench/bench_inference.py --python-threads     # batch-1 throughput of 1 vs 2 Python threads on one plan
    python bench/bench_inference.py --data fashion       # the MLP trained on Fashion-MNIST, test images as inputs
    python bench/bench_inference.py --compare-trees A B  # each fastnn contender from source trees A and B

The contenders are bench/suites/inference.py's factories (the same weights and inputs). ``--data gaussian`` (the
default) gives them random weights and one standard-normal input; ``--data fashion`` the MLP trained on
Fashion-MNIST by bench/fashion_mlp.py (run first if its .npz files are not in ``--cache``) and its test images,
a different batch each call. Output: one markdown row
per (arch, batch, threads, contender): median and p99 of the per-call times (the median over rounds of each
round's percentile), its ratio to ONNX Runtime's median paired round by round (the median of the per-round
ratios, with their range), and the OpenBLAS kernel its process loaded. Children run as bench/harness.py's do:
threads set, OpenBLAS's kernel variables removed (``--keep-openblas-env`` keeps them), fastnn's thread count
fixed, the contenders' order rotated each round.
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
sys.path.insert(0, HERE)
import harness  # noqa: E402

CONTENDERS = {"fastnn plan": ("plan_predict", {}), "fastnn plan 2t": ("plan_predict", {"plan_threads": 2}),
              "fastnn plan no-skip": ("plan_predict", {"skip_zeros": False}),
              "fastnn plan 2t no-skip": ("plan_predict", {"plan_threads": 2, "skip_zeros": False}),
              "fastnn": ("fastnn_predict", {}), "fastnn kernel": ("kernel_predict", {}),
              "onnxruntime": ("ort_predict", {}), "torch": ("torch_predict", {}), "numpy": ("numpy_predict", {})}


def child(spec: dict) -> dict:
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
    kwargs = dict(sizes=spec["sizes"], batch=spec["batch"], arch=spec["arch"], data=spec["data"], **params)
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
    return {"median": float(np.median(times)) * 1e-9, "p99": float(np.percentile(times, 99)) * 1e-9,
            "blas": harness.blas_info()}


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
    p.add_argument("--data", choices=["gaussian", "fashion"], default="gaussian")
    p.add_argument("--cache", default=os.path.join(HERE, ".cache"), help="where --data fashion keeps its weights")
    p.add_argument("--compare-trees", nargs="+", default=[], metavar="DIR",
                   help="run each fastnn contender once per source tree (as 'NAME@DIR's last part')")
    p.add_argument("--keep-openblas-env", action="store_true",
                   help="pass OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE on to the children (removed by default)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    contenders = [(c, None) for c in args.contenders if not (args.compare_trees and c.startswith("fastnn"))]
    contenders += [(c, tree) for c in args.contenders if c.startswith("fastnn") for tree in args.compare_trees]
    from suites import inference

    data = {arch: inference.data_source(args.data, arch, args.cache) for arch in args.arch}
    print(f"machine load {os.getloadavg()}, {time.strftime('%Y-%m-%d %H:%M')}, data {args.data}; children's "
          f"environment: {harness.environment_note(args.keep_openblas_env)}; each contender alone in a fresh "
          "process, the order rotated each round; median and p99 are the medians over rounds of each round's "
          "percentile")
    print("| arch | batch | threads | contender | median | p99 | median / ORT per round: median [min, max] | "
          "OpenBLAS kernel |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for arch in args.arch:
        for batch in ([1] if args.python_threads else args.batch):
            for threads in args.threads:
                results: dict[str, list[dict]] = {_label(c, tree): [] for c, tree in contenders}
                for r in range(args.rounds):
                    for c, tree in harness.rotated(contenders, r):
                        label = _label(c, tree)
                        spec = {"contender": c, "batch": batch, "arch": arch, "data": data[arch],
                                "threads": threads, "sizes": args.sizes,
                                "calls": max(50, args.calls // max(1, batch // 16)),
                                "python_threads": args.python_threads}
                        env = harness.env_for(threads, c.startswith("fastnn"), args.keep_openblas_env, tree=tree)
                        res = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], env=env,
                                             capture_output=True, text=True, check=False)
                        if res.returncode:
                            last = (res.stderr.strip().splitlines() or [f"exit code {res.returncode}"])[-1]
                            results[label].append({"error": last[:120]})
                        else:
                            results[label].append(json.loads(res.stdout.strip().splitlines()[-1]))
                _report(arch, batch, threads, results)


def _label(contender: str, tree: str | None) -> str:
    return f"{contender}@{os.path.basename(os.path.normpath(tree))}" if tree else contender


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
    for c in results:
        m, p99 = med(c, "median"), med(c, "p99")
        if m is None:
            print(f"| {arch} | {batch} | {threads} | {c} | n/a | {results[c][0].get('error', '')} | | |")
            continue
        print(f"| {arch} | {batch} | {threads} | {c} | {m * 1e6:.1f} us | {p99 * 1e6:.1f} us | "
              f"{_ratio_to_ort(results, c)} | {_kernels(results[c])} |", flush=True)


def _ratio_to_ort(results: dict[str, list[dict]], contender: str) -> str:
    """The contender's median time / ORT's, round by round (paired), as "median [min, max]"."""
    rounds = [(r, o) for r, o in zip(results[contender], results.get("onnxruntime", []))
              if "median" in r and "median" in o]
    if not rounds:
        return ""
    # "higher is better" makes paired_ratio divide the contender's value by ORT's: median / ORT, as the header
    ratio = harness.paired_ratio([r["median"] for r, _ in rounds], [o["median"] for _, o in rounds],
                                 higher_is_better=True)
    return f"{ratio['ratio']:.2f} [{ratio['min']:.2f}, {ratio['max']:.2f}]" if ratio else ""


def _kernels(rounds: list[dict]) -> str:
    """The OpenBLAS kernels a contender's rounds ran, for the table's last column."""
    return ", ".join(harness.openblas_architectures(r.get("blas") for r in rounds)) or "n/a"


if __name__ == "__main__":
    main()
