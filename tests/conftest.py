import numpy as np
import pytest

import fastnn


@pytest.fixture(autouse=True)
def _restore_threads():
    """Tests may change the thread count; put both pools and the parallel threshold back so test order does not
    matter."""
    with fastnn.threads():
        yield


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
