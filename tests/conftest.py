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
