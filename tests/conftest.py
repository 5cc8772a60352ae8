import numpy as np
import pytest

import fastnn


@pytest.fixture(autouse=True)
def _restore_threads():
    """Tests may change the thread count; put it back so test order does not matter."""
    before = fastnn.get_num_threads()
    threshold = fastnn._config._state.parallel_threshold
    yield
    fastnn.set_num_threads(before)
    fastnn._config._state.parallel_threshold = threshold


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# ---- the kernel test grid: dtype x threads x input layout ------------------------------------------------------

@pytest.fixture(params=[np.float32, np.float64], ids=["f32", "f64"])
def dtype(request):
    return request.param


@pytest.fixture(params=[1, 2], ids=["serial", "threaded"])
def threads(request):
    """1 thread, or 2 with the parallel threshold at 1 so even small arrays take the OpenMP path."""
    fastnn.set_num_threads(request.param)
    if request.param > 1:
        fastnn._config._state.parallel_threshold = 1
    return request.param


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
