"""fit warns when rounding the raw rows to a float32 model's dtype, before its preprocessor, hides a feature
(fastnn.preprocessing.precision)."""
import warnings

import numpy as np
import pytest

import fastnn
from fastnn.layers import Dense
from fastnn.preprocessing import MinMaxScaler, StandardScaler, ZCAWhitening
from fastnn.preprocessing.precision import rounding_error


def timestamps(rng, n=300):
    """Feature 1 is seconds since 1970 (1.7e9 +- 100 s): float32's spacing there is 128 s."""
    return np.column_stack([rng.standard_normal(n), 1.7e9 + 100 * rng.standard_normal(n)])


def fit_warnings(X, dtype, preprocess):
    y = (X[:, 0] > 0).astype(int)
    model = fastnn.Sequential([Dense(2)], input_dim=X.shape[1], dtype=dtype, preprocess=preprocess,
                              loss="cross_entropy")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y, epochs=1, verbose=0)
    return [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]


@pytest.mark.parametrize("make", [StandardScaler, MinMaxScaler, lambda: ZCAWhitening(eps=1e-6)])
def test_a_float32_model_warns_when_rounding_hides_a_feature(rng, make):
    X = timestamps(rng)
    pre = make().fit(X)
    error, j = rounding_error(pre, X, "float32")
    assert error > 0.1
    if not isinstance(pre, ZCAWhitening):  # whitening mixes the features: any output may show it
        assert j == 1
    messages = fit_warnings(X, "float32", make())
    assert len(messages) == 1 and "float32" in messages[0] and "dtype='float64'" in messages[0]


def test_no_warning_where_nothing_is_lost(rng):
    X = timestamps(rng)
    assert fit_warnings(X, "float64", StandardScaler()) == []  # float64 rounds nothing
    assert fit_warnings(X.astype(np.float32), "float32", StandardScaler()) == []  # rounded by the caller already
    assert fit_warnings(rng.standard_normal((300, 2)), "float32", StandardScaler()) == []  # ordinary data
    assert fit_warnings(X - 1.7e9 * np.array([0, 1]), "float32", StandardScaler()) == []  # offset removed
    assert rounding_error(StandardScaler().fit(X), X, "float64") == (0.0, -1)


def test_the_measure_is_the_error_in_standard_deviations(rng):
    """Rounding to float32 moves each value near 1.7e9, and the mean, by up to 64 (half of float32's spacing of
    128 there): up to 1.28 of a 100 s spread, and about nothing for feature 0, which is near zero."""
    X = timestamps(rng, 1000)
    pre = StandardScaler().fit(X)
    error, j = rounding_error(pre, X, "float32")
    assert j == 1
    exact = pre.transform(X)
    assert error == pytest.approx(np.abs(pre.transform(X.astype(np.float32)) - exact)[:, 1].max() / exact[:, 1].std(),
                                  rel=1e-6)
    assert 0.3 < error < 1.3
