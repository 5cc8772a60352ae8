"""Preprocessing: fastnn.preprocessing vs scikit-learn on (60000, 784) float32 (Fashion-MNIST training images
when installed), the thread count set for both (``fastnn.set_num_threads`` limits numpy's BLAS, which
scikit-learn uses too; in the scikit-learn child the environment's OPENBLAS_NUM_THREADS does).

For StandardScaler, MinMaxScaler and PCA(whiten=True) (fastnn: PCAWhitening, eps=0): ``fit`` time, and
``transform`` time allocating the result (what scikit-learn does) and, for fastnn, into a preallocated ``out``.
Recorded once per contender: max |fastnn - sklearn| on the transformed data, and for PCA the max error of the
float32 whitening against the float64 answer (scikit-learn on the same data in float64; 2000 rows, all
components): scikit-learn forms X^T X in float32, fastnn accumulates it in float64.
"""
from __future__ import annotations

import numpy as np
from harness import Benchmark, Contender, with_extra


def load():
    try:
        from fastnn.datasets import load_fashion_mnist

        X, _, _, _ = load_fashion_mnist()
        return np.ascontiguousarray(X, dtype=np.float32), "Fashion-MNIST train"
    except FileNotFoundError:
        rng = np.random.default_rng(0)
        return rng.random((60000, 784), dtype=np.float32), "random (Fashion-MNIST not installed)"


def fastnn_estimator(name):
    import fastnn.preprocessing as P

    return {"StandardScaler": P.StandardScaler, "MinMaxScaler": P.MinMaxScaler,
            "PCA(whiten=True)": lambda: P.PCAWhitening(eps=0.0)}[name]()


def sklearn_estimator(name):
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    return {"StandardScaler": StandardScaler, "MinMaxScaler": MinMaxScaler,
            "PCA(whiten=True)": lambda: PCA(whiten=True)}[name]()


def _accuracy(library, name, fitted, X, source):
    """Recorded once: the difference to scikit-learn and, for PCA, the error against the float64 answer."""
    def extra():
        out = {"data": source}
        if library == "fastnn":
            ref = sklearn_estimator(name).fit(X)
            out["max_abs_diff_vs_sklearn"] = float(np.abs(fitted.transform(X).astype(np.float64)
                                                          - ref.transform(X)).max())
        if name.startswith("PCA"):
            from sklearn.decomposition import PCA

            exact = PCA(whiten=True).fit(X.astype(np.float64)).transform(X[:2000].astype(np.float64))
            out["max_error_vs_float64"] = float(np.abs(fitted.transform(X[:2000]) - exact).max())
        return out
    return extra


def contender(library, estimator, op, out=False):
    """``library`` "fastnn" or "sklearn"; ``op`` "fit" or "transform" (``out=True``: into a preallocated
    array, fastnn only)."""
    X, source = load()
    make = fastnn_estimator if library == "fastnn" else sklearn_estimator
    if op == "fit":
        return with_extra(lambda: make(estimator).fit(X), lambda: {"data": source})
    fitted = make(estimator).fit(X)
    if out:
        buf = np.empty((X.shape[0], fitted.n_features_out_), np.float32)
        return with_extra(lambda: fitted.transform(X, out=buf), lambda: {"data": source})
    return with_extra(lambda: fitted.transform(X), _accuracy(library, estimator, fitted, X, source))

M = "suites.preprocessing:contender"
BENCHMARKS = [
    Benchmark(
        name="scalers", title="Preprocessing on (60000, 784) float32: fit and transform",
        contenders=[Contender("fastnn", M, params={"library": "fastnn"}, preload=("fastnn",)),
                    Contender("fastnn out=", M, params={"library": "fastnn", "out": True}, preload=("fastnn",),
                              when=lambda p: p["op"] == "transform"),
                    Contender("sklearn", M, params={"library": "sklearn"}, preload=("sklearn",))],
        baseline="sklearn", unit="s",
        grid={"estimator": ["StandardScaler", "MinMaxScaler", "PCA(whiten=True)"], "op": ["fit", "transform"]},
        quick_grid={"estimator": ["StandardScaler", "PCA(whiten=True)"]},
        warmup=1, min_calls=2, min_time=0.5, rounds=5),
]
