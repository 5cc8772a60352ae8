"""Several OpenMP runtimes in one process: fastnn's, PyTorch's, scikit-learn's, beside numpy's OpenBLAS pool.

Each case is a fresh process (a runtime reads its settings once, when it loads) that imports the libraries in
one order, wakes every pool (torch ops, OpenBLAS matmuls), trains a small model with every fastnn kernel on its
OpenMP path and predicts, under a timeout (a deadlock between pools fails instead of hanging the suite). The
weights and predictions must equal, bit for bit, those of fastnn alone. The cases run against whichever fastnn
is importable: a plain build shares a ``libgomp.so.1`` loaded before it, a repaired wheel loads its own bundled
copy (tools/build_wheel.sh runs this file against the repaired wheel).
"""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastnn

CHILD = textwrap.dedent("""
    import ctypes, json, sys
    import numpy as np

    def wake_numpy():
        a = np.random.default_rng(0).standard_normal((256, 256))
        for _ in range(20):
            a = np.tanh(a @ a / 256)

    def wake_torch():
        import torch
        torch.set_num_threads(2)
        t = torch.randn(1 << 20)
        for _ in range(5):
            t = torch.tanh(t) * 1.5  # elementwise ops on 2**20 elements run in torch's OpenMP pool
        (torch.randn(256, 256) @ torch.randn(256, 256)).sum()

    def wake_sklearn():
        from sklearn.cluster import KMeans  # an OpenMP (prange) fit in scikit-learn's own libgomp
        KMeans(3, n_init=1, random_state=0).fit(np.random.default_rng(0).standard_normal((2000, 8)))

    for name in sys.argv[1].split(","):
        if name == "fastnn":
            import fastnn
        else:
            {"numpy": wake_numpy, "torch": wake_torch, "sklearn": wake_sklearn}[name]()

    from fastnn import _config, _openmp_runtime
    from fastnn._ext import openmp
    from fastnn.layers import Dense

    rng = np.random.default_rng(0)
    X = rng.standard_normal((256, 24)).astype(np.float32)
    y = rng.integers(0, 4, 256)
    model = fastnn.Sequential([Dense(48, activation="relu"), Dense(4)], input_dim=24, seed=0)
    threshold = _config._state.parallel_threshold
    with fastnn.threads(2, parallel_threshold=1):  # every kernel takes its OpenMP path
        model.fit(X, y, optimizer=fastnn.optim.SGD(lr=0.05, momentum=0.9), epochs=2, batch_size=32, verbose=0)
        for name in sys.argv[1].split(","):  # the other pools again, between training and inference
            if name in ("numpy", "torch"):
                {"numpy": wake_numpy, "torch": wake_torch}[name]()
        pred = model.predict(X)
    np.savez(sys.argv[2], params=model.params, pred=pred)
    ours = _openmp_runtime.runtime_of(openmp.__file__)
    if ours and hasattr(ctypes.CDLL(ours), "omp_display_env"):  # OpenMP 5.0: the settings the runtime read
        sys.stderr.flush()
        ctypes.CDLL(ours).omp_display_env(1)  # verbose (GOMP_SPINCOUNT too), to fd 2
    print(json.dumps({"ours": ours,
                      "loaded": sorted(_openmp_runtime.loaded_runtimes()),
                      "threshold": threshold, "policy": _config._state.wait_policy}))
""")

TIMEOUT = 180  # seconds per process: a hang between pools fails the test instead of the suite


def run_order(order: str, tmp_path) -> tuple[dict, dict]:
    """(runtime info, {"params", "pred"}) of the child run with the imports in ``order`` (comma-separated)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT",
                                                            "FASTNN_PARALLEL_THRESHOLD")}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (os.path.dirname(os.path.dirname(fastnn.__file__)), env.get("PYTHONPATH")) if p)
    out = tmp_path / f"{order.replace(',', '_')}.npz"
    try:
        # cwd outside the source tree, so the fastnn this test imported is the one the child imports
        result = subprocess.run([sys.executable, "-c", CHILD, order, str(out)], env=env, cwd=tmp_path,
                                capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"import order {order}: no result within {TIMEOUT} s (a hang between thread pools?)")
    assert result.returncode == 0, f"import order {order}:\n{result.stderr[-3000:]}"
    info = json.loads(result.stdout.strip().splitlines()[-1])
    spins = [line.split("=")[1].strip(" '") for line in result.stderr.splitlines() if "GOMP_SPINCOUNT =" in line]
    info["runtime_spin_count"] = spins[-1] if spins else None  # as our runtime itself reports it
    with np.load(out) as arrays:
        return info, {k: arrays[k] for k in arrays.files}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """run(order): the child's results, each order run once per module (the tests share them)."""
    done: dict[str, tuple[dict, dict]] = {}

    def run_once(order: str) -> tuple[dict, dict]:
        if order not in done:
            done[order] = run_order(order, tmp_path_factory.mktemp("order"))
        return done[order]

    return run_once


def needs(*modules: str) -> None:
    for module in modules:
        pytest.importorskip(module)


def needs_openmp_build():
    if not fastnn._ext.openmp.openmp_enabled():
        pytest.skip("a serial build has no OpenMP runtime")


@pytest.mark.parametrize("order", ["torch,fastnn", "fastnn,torch", "sklearn,fastnn"])
def test_import_order_and_other_pools_change_nothing(order, run):
    needs(*({"torch": "torch", "sklearn": "sklearn"}[n] for n in order.split(",") if n != "fastnn"))
    needs_openmp_build()
    info, arrays = run(order)
    for key, expected in run("numpy,fastnn")[1].items():
        assert np.array_equal(arrays[key], expected), f"{order}: {key} differs from fastnn alone"
    assert info["ours"] in info["loaded"]


def test_the_policy_names_a_runtime_shared_with_a_library_loaded_before_fastnn(run):
    """A spinning runtime loaded before fastnn matters only if our kernels are bound to it: a plain build shares
    torch's libgomp.so.1 (soname), a repaired wheel has its own bundled copy, and scikit-learn's mangled copy is
    never ours. The parallel threshold stays the same in every case (it used to rise when shared, which cost
    0.77x at batch 128 once the matmuls were fastnn's own)."""
    needs("sklearn")
    needs_openmp_build()
    if not os.path.exists("/proc/self/maps"):
        pytest.skip("the runtimes are looked up in /proc/self/maps")
    alone = run("numpy,fastnn")[0]
    assert alone["policy"].startswith(f"spins briefly (GOMP_SPINCOUNT={fastnn._config.SPIN_COUNT} set for "
                                      "fastnn's libgomp at import)"), alone
    assert alone["runtime_spin_count"] in (str(fastnn._config.SPIN_COUNT), None), alone  # what libgomp read

    info = run("sklearn,fastnn")[0]
    assert [p for p in info["loaded"] if p != info["ours"]], "scikit-learn's libgomp should be loaded too"
    assert "spins briefly" in info["policy"] and "separate from" in info["policy"], info
    assert info["threshold"] == alone["threshold"], info

    pytest.importorskip("torch")
    info = run("torch,fastnn")[0]
    shared = info["ours"] in [p for p in info["loaded"] if "torch" in p]
    if fastnn._openmp_runtime.is_bundled(info["ours"]):  # the wheel's own copy: fresh, fastnn's setting
        assert not shared and "spins briefly" in info["policy"], info
    assert ("loaded before fastnn" in info["policy"]) == shared, info
    assert info["threshold"] == alone["threshold"], info
