"""Preprocessing benchmarks: fastnn.preprocessing vs scikit-learn on (60000, 784) float32, in ONE process,
interleaved, with the thread count set explicitly for both (fastnn.set_num_threads limits numpy's BLAS,
which scikit-learn uses too).

    python bench/bench_preprocessing.py              # Fashion-MNIST training images when installed
    python bench/bench_preprocessing.py --rounds 5 --threads 2

For each of StandardScaler, MinMaxScaler and PCA(whiten=True) (fastnn: PCAWhitening, eps=0): fit time, and
transform time allocating the result (what scikit-learn does) and, for fastnn, into a preallocated ``out``.
Also reported: max |fastnn - sklearn| on the transformed data. Notes on what differs:
  * fastnn accumulates statistics in float64 streaming over row blocks (float32 input is widened block by
    block); scikit-learn's PCA on float32 input forms X^T X in float32.
  * fastnn transforms in row blocks in the input dtype; scikit-learn allocates a copy and works on it.
Each round runs every contender; the median round counts. Prints a table and one JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

import fastnn
import fastnn.preprocessing as P
from fastnn import _config
import _timing
from _timing import cpu_name as _cpu_name


def timeit(fn, min_time=0.5, min_iter=2):
    return _timing.timeit(fn, min_time, min_iter)


def load():
    try:
        from fastnn.datasets import load_fashion_mnist

        X, _, _, _ = load_fashion_mnist()
        return np.ascontiguousarray(X, dtype=np.float32), "Fashion-MNIST train"
    except FileNotFoundError:
        rng = np.random.default_rng(0)
        return rng.random((60000, 784), dtype=np.float32), "random (Fashion-MNIST not installed)"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.5)
    args = ap.parse_args(argv)

    from sklearn.decomposition import PCA
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    fastnn.set_num_threads(args.threads)
    X, source = load()
    pairs = {
        "StandardScaler": (P.StandardScaler, StandardScaler),
        "MinMaxScaler": (P.MinMaxScaler, MinMaxScaler),
        "PCA(whiten=True)": (lambda: P.PCAWhitening(eps=0.0), lambda: PCA(whiten=True)),
    }
    fitted = {name: (ours().fit(X), ref().fit(X)) for name, (ours, ref) in pairs.items()}
    outs = {name: np.empty((X.shape[0], o.n_features_out_), np.float32) for name, (o, _) in fitted.items()}
    contenders = {}
    for name, (ours_cls, ref_cls) in pairs.items():
        o, r = fitted[name]
        contenders[(name, "fit", "fastnn")] = lambda c=ours_cls: c().fit(X)
        contenders[(name, "fit", "sklearn")] = lambda c=ref_cls: c().fit(X)
        contenders[(name, "transform", "fastnn")] = lambda o=o: o.transform(X)
        contenders[(name, "transform", "fastnn out=")] = lambda o=o, name=name: o.transform(X, out=outs[name])
        contenders[(name, "transform", "sklearn")] = lambda r=r: r.transform(X)
    times = {k: [] for k in contenders}
    for _ in range(args.rounds):
        for k, fn in contenders.items():
            times[k].append(timeit(fn, args.min_time))
    med = {k: statistics.median(v) for k, v in times.items()}

    result = {"bench": "preprocessing", "data": source, "shape": list(X.shape), "dtype": "float32",
              "date": time.strftime("%Y-%m-%d"), "cpu": _cpu_name(), "threads": args.threads,
              "numpy": np.__version__, "wait_policy": _config._state.wait_policy,
              "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT",
                                                   "OPENBLAS_NUM_THREADS") if k in os.environ},
              "ms": {}, "speedup_vs_sklearn": {}, "max_abs_diff": {}}
    print(f"{source} {X.shape} float32, {args.threads} threads, median of {args.rounds} rounds")
    print(f"{'':18s} {'op':10s} {'fastnn':>10s} {'out=':>10s} {'sklearn':>10s} {'sklearn/fastnn':>15s}")
    for name in pairs:
        o, r = fitted[name]
        result["max_abs_diff"][name] = float(np.abs(o.transform(X).astype(np.float64) - r.transform(X)).max())
        for op in ("fit", "transform"):
            ours_t, ref_t = med[(name, op, "fastnn")], med[(name, op, "sklearn")]
            out_t = med.get((name, op, "fastnn out="))
            ratio = ref_t / ours_t
            print(f"{name:18s} {op:10s} {ours_t * 1e3:8.1f}ms {'' if out_t is None else f'{out_t * 1e3:8.1f}ms':>10s} "
                  f"{ref_t * 1e3:8.1f}ms {ratio:14.2f}x")
            result["ms"][f"{name} {op}"] = {"fastnn": round(ours_t * 1e3, 2), "sklearn": round(ref_t * 1e3, 2),
                                             **({} if out_t is None else {"fastnn_out": round(out_t * 1e3, 2)})}
            result["speedup_vs_sklearn"][f"{name} {op}"] = round(ratio, 2)
    print("max |fastnn - sklearn| on the transformed data:",
          ", ".join(f"{k} {v:.1e}" for k, v in result["max_abs_diff"].items()))
    # Accuracy of the float32 PCA whitening against the exact answer (scikit-learn on the same data in float64):
    # scikit-learn forms X^T X in float32, fastnn accumulates it in float64.
    exact = PCA(whiten=True).fit(X.astype(np.float64))
    Z = exact.transform(X[:2000].astype(np.float64))
    o, r = fitted["PCA(whiten=True)"]
    err = {"fastnn": float(np.abs(o.transform(X[:2000]) - Z).max()),
           "sklearn float32": float(np.abs(r.transform(X[:2000]) - Z).max())}
    result["pca_whiten_max_error_vs_float64"] = err
    print("PCA whitening of float32 data, max error vs the float64 answer (2000 rows, all components):",
          ", ".join(f"{k} {v:.1e}" for k, v in err.items()))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
