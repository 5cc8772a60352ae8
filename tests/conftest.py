import contextlib
import math
import os
from fractions import Fraction

# The suite asks for exact thread counts (the threaded code paths must run whatever else loads the machine):
# fastnn's load-adaptive thread count is off here and tested on its own (tests/test_adaptive_threads.py).
os.environ.setdefault("FASTNN_ADAPTIVE_THREADS", "0")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import fastnn  # noqa: E402

# (value, width) of constant rows whose float64 mean rounds off the value (a std of a few ulps, which an absolute
# zero-std test took for spread: SampleCenter(with_std=True) gave +-1), at every magnitude, subnormals included.
CONSTANT_ROWS = [(1000.1, 10), (0.1, 4097), (123456.7, 7), (1e300, 33), (-1e300, 5), (1e-310, 100), (5e-324, 3),
                 (1e-42, 17), (3e38, 1000), (-2.5, 1), (7.0, 2), (0.0, 4)]


def constant_rows(dtype):
    """CONSTANT_ROWS as arrays (1, width) of ``dtype``, a value beyond its range left out."""
    with np.errstate(over="ignore"):
        return [np.full((1, d), v, dtype) for v, d in CONSTANT_ROWS if np.isfinite(np.array(v, dtype))]


def nearly_constant_rows(dtype):
    """Rows of ``dtype`` whose spread is tiny against their magnitude, one array per case: constant but for one
    element 1 ulp above the rest (widths 2 to 4097, magnitudes 1e-3 to 1e150, those the dtype holds), and
    v + s * randn with s / |v| from 1e-3 to 1e-12. A row mean rounded (in each summation order its own way) and
    divided by such a row's std gave SampleCenter(with_std=True) outputs off by O(1), different in the model, the
    plan and onnxruntime."""
    rows = []
    for v, d in ((0.1, 10), (1000.1, 257), (3.0, 100), (1e-3, 2), (-7e5, 4097), (1e150, 33), (1.0, 10)):
        if abs(v) > float(np.finfo(dtype).max):
            continue
        x = np.full((1, d), v, dtype)
        x[0, d // 2] = np.nextafter(x[0, 0], np.inf)
        rows.append(x)
    rng = np.random.default_rng(7)
    for v in (1.0, 1e4, -1e6):
        rows += [(v + v * s * rng.standard_normal((4, 50))).astype(dtype) for s in (1e-3, 1e-6, 1e-9, 1e-12)]
    return rows


def exact_sample_centered(x, with_std):
    """Each row less its mean (over its population std ``with_std``) from exact rational arithmetic, rounded to
    float64 once (or twice, the square root): the answer SampleCenter approximates, to compare its roundings
    against."""
    out = np.empty(x.shape)
    for i, row in enumerate(x.astype(np.float64)):
        values = [Fraction(float(v)) for v in row]
        mean = sum(values) / len(values)
        dev = [v - mean for v in values]
        if not with_std:
            out[i] = [float(d) for d in dev]
            continue
        var = sum(d * d for d in dev) / len(dev)
        out[i] = [math.copysign(math.sqrt(d * d / var), d) if d else 0.0 for d in dev]
    return out


def assert_sample_centered_as_exact(got, x, with_std=True, err_msg=""):
    """``got`` is x's rows centred (standardized ``with_std``) within rounding of the exact answer: the README's
    float64 plan bound (1e-12 max|.|) in float64, float32's own rounding (2 eps32 max|.|) in float32."""
    want = exact_sample_centered(x, with_std)
    rel = 1e-12 if x.dtype == np.float64 else 2 * np.finfo(np.float32).eps
    np.testing.assert_allclose(got, want, rtol=0, atol=rel * np.abs(want).max(), err_msg=err_msg)


@pytest.fixture(autouse=True)
def _restore_threads():
    """Tests may change the thread count; put both pools and the parallel threshold back so test order does not
    matter."""
    with fastnn.threads():
        yield


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# ---- the kernel test grid: dtype x threads x input layout ------------------------------------------------------

@pytest.fixture(params=[np.float32, np.float64], ids=["f32", "f64"])
def dtype(request):
    return request.param


# FASTNN_TEST_THREADS="1,2,3" widens the grid (tools/sanitize.sh: a third thread moves every partition boundary)
_THREAD_COUNTS = [int(n) for n in os.environ.get("FASTNN_TEST_THREADS", "1,2").split(",")]
_THREAD_IDS = [{1: "serial", 2: "threaded"}.get(n, f"threads{n}") for n in _THREAD_COUNTS]


@pytest.fixture(params=_THREAD_COUNTS, ids=_THREAD_IDS)
def threads(request):
    """1 thread, or more (2) with the parallel threshold at 1 so even small arrays take the OpenMP path."""
    with fastnn.threads(request.param, parallel_threshold=1 if request.param > 1 else None):
        yield request.param


def _as_layout(a: np.ndarray, layout: str) -> np.ndarray:
    if layout == "readonly":
        a = a.copy()
        a.flags.writeable = False
        return a
    if layout == "noncontiguous":  # same values, every other element of a wider buffer
        wide = np.empty(a.shape[:-1] + (2 * a.shape[-1],), a.dtype) if a.ndim else a.copy()
        wide[..., ::2] = a
        return wide[..., ::2]
    return a


@pytest.fixture(params=["contiguous", "readonly", "noncontiguous"])
def layout(request):
    """How an INPUT array reaches a kernel: ``layout.name`` and ``layout(a)`` (a copy in that layout). Read-only
    inputs must be accepted; non-contiguous ones rejected with an error that says C-contiguous."""
    class Layout:
        name = request.param

        def __call__(self, a):
            return _as_layout(a, request.param)

    return Layout()


def child_env(*extra_paths) -> dict:
    """The environment of a child Python that must import the fastnn these tests import (the installed package
    in CI, a source tree built in place when developing), never the unbuilt sources of a checkout: that
    fastnn's directory comes first on PYTHONPATH, then ``extra_paths``. Run such a child with ``cwd`` outside
    the checkout too: ``python -c`` and ``-m`` put the working directory before PYTHONPATH."""
    home = os.path.dirname(os.path.dirname(os.path.abspath(fastnn.__file__)))
    paths = [home, *map(str, extra_paths), os.environ.get("PYTHONPATH", "")]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in paths if p))


def assert_trained_alike(a, b):
    """Two fits' (model, optimizer, history, ...) left the same bits: weights, optimizer state, step count and
    history (samples_per_s aside; NaN equals NaN)."""
    (ma, oa, ha), (mb, ob, hb) = a[:3], b[:3]
    for i, (wa, wb) in enumerate(zip(ma.get_weights(), mb.get_weights(), strict=True)):
        np.testing.assert_array_equal(wa, wb, err_msg=f"weight array {i}")
    for name, buf in oa.state.items():
        np.testing.assert_array_equal(buf, ob.state[name], err_msg=f"optimizer state {name}")
    assert oa.step_count == ob.step_count
    np.testing.assert_equal({k: v for k, v in ha.history.items() if k != "samples_per_s"},
                            {k: v for k, v in hb.history.items() if k != "samples_per_s"})


@contextlib.contextmanager
def counted(cls, name, count=lambda result: True):
    """Count the calls of the method ``name`` of ``cls`` inside the block whose result ``count`` accepts; yields
    the list that gets one entry per counted call."""
    original = getattr(cls, name)
    calls = []

    def spy(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        if count(result):
            calls.append(name)
        return result

    setattr(cls, name, spy)
    try:
        yield calls
    finally:
        setattr(cls, name, original)
