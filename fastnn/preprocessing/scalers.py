"""Per-feature scaling and centring: MinMaxScaler, StandardScaler, MeanCenter, and per-sample SampleCenter."""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ..validation import check_scalar
from ._base import AGREE_RTOL, MIN_DIVISOR, MomentAccumulator, PreprocessingError, Preprocessor, check_finite_stat

_EPS64 = np.finfo(np.float64).eps
#: SampleCenter(with_std=True) divides a row by 1 where its std is below this: the smallest normal float64, so
#: only a std of 0 (a constant row, whose deviations from its first value are 0; deviations whose squares
#: underflow). Its compiled step and ONNX export too.
ROW_STD_FLOOR = float(np.finfo(np.float64).tiny)


def centered_rows(x: np.ndarray) -> np.ndarray:
    """Each float64 row less its mean, as (x - x0) - mean(x - x0) with x0 the row's first value: SampleCenter's
    arithmetic in float64 (and the first half of ``standardized_rows``). The deviations from x0 are exact for
    values within a factor 2 of it (Sterbenz), so the mean below sees only the spread, not the magnitude whose
    rounding (about 1e-16 times the mean) a subtracted row mean would leave in every centred value: nearly
    constant rows come out within rounding of the spread whatever the summation order, a constant row is 0
    exactly. A new array."""
    c = x - x[:, :1]
    c -= np.mean(c, axis=1, keepdims=True)
    return c


def standardized_rows(x: np.ndarray) -> np.ndarray:
    """Each float64 row standardized, (x - mean) / std: ``centered_rows`` (deviations from the row's first value,
    less their mean) over their population std, SampleCenter(with_std)'s arithmetic. The std so sees only the
    spread, never the magnitude, and a constant row is 0 exactly."""
    c = centered_rows(x)
    std = np.sqrt(np.mean(c * c, axis=1, keepdims=True))
    std[std < ROW_STD_FLOOR] = 1.0  # a std of 0: a constant row (0 stays 0), or squares that underflowed
    return np.divide(c, std, out=c)


def _is_constant_feature(var: np.ndarray, mean: np.ndarray, n: int) -> np.ndarray:
    """scikit-learn's test for a zero-variance feature: the variance is below its own rounding-error bound."""
    upper = n * _EPS64 * var + (n * mean * _EPS64) ** 2
    return var <= upper


def _nonzero_scale(scale: np.ndarray) -> np.ndarray:
    """Scales too small to divide by (< 10 eps) become 1, as scikit-learn's _handle_zeros_in_scale does."""
    scale = scale.copy()
    scale[scale < 10 * _EPS64] = 1.0
    return scale


def _range_high_for(scale: np.ndarray) -> float:
    """The feature_range high of MinMaxScaler.of(scale): 1, unless a range 1 / scale_j falls below the 10 eps a fit
    takes for a constant feature; then the power of two that lifts the smallest range to it."""
    with np.errstate(all="ignore"):
        need = 10 * _EPS64 * np.max(scale, initial=0.0)
    if not (np.isfinite(need) and need > 1):  # a non-finite scale is refused by the state checks, by name
        return 1.0
    return float(np.ldexp(1.0, np.frexp(need)[1]))  # 2**e > need = m * 2**e, 0.5 <= m < 1


class _MinMaxAccumulator:
    def __init__(self, d: int):
        self.n = 0
        self.min = np.full(d, np.inf)
        self.max = np.full(d, -np.inf)

    def update(self, block: np.ndarray, start: int) -> None:
        if block.shape[0] == 0:
            return
        lo, hi = block.min(axis=0).astype(np.float64), block.max(axis=0).astype(np.float64)
        for extreme in (lo, hi):  # NaN propagates through min/max, inf shows up as an extreme (lo + hi overflowed)
            check_finite_stat(extreme, block, start)
        np.minimum(self.min, lo, out=self.min)
        np.maximum(self.max, hi, out=self.max)
        self.n += block.shape[0]


def _check_feature_range(feature_range: Any) -> tuple[float, float]:
    """MinMaxScaler's feature_range as floats (lo, hi): a pair (tuple, list or array) of finite real numbers, not
    strings, with lo < hi and hi - lo finite (an overflowing width would make every scale_ infinite)."""
    if not isinstance(feature_range, (tuple, list, np.ndarray)) or np.ndim(feature_range) != 1 \
            or len(feature_range) != 2:
        raise PreprocessingError(f"feature_range must be a (min, max) pair of real numbers, got {feature_range!r:.60}")
    lo, hi = (check_scalar(v, f"feature_range {end}", numbers.Real, error=PreprocessingError)
              for v, end in zip(feature_range, ("min", "max")))
    if not lo < hi:
        raise PreprocessingError(f"feature_range must have min < max, got {feature_range!r}")
    if not np.isfinite(hi - lo):
        raise PreprocessingError(f"feature_range {feature_range!r}: its width max - min overflows float64")
    return lo, hi


class MinMaxScaler(Preprocessor):
    """Scale each feature to ``feature_range`` (lo, hi), default [0, 1]: x' = (x - data_min_) * scale_ + lo, with
    scale_ = (hi - lo) / (data_max_ - data_min_) (scikit-learn's). That is scikit-learn's x * scale_ + min_
    (min_ = lo - data_min_ * scale_, stored too) with the offset subtracted first, as StandardScaler subtracts its
    mean: on data far from the origin (1e6 +- 1) x * scale_ and min_ would cancel digits, and a compiled or folded
    model keeps the offset apart as the transform does (``centered_affine``). A constant feature (range below 10
    machine epsilons) gets scale_ = hi - lo, i.e. it maps to lo on the training data."""

    _params = ("feature_range",)
    _positive = ("scale",)
    _transform_arrays = ("data_min", "scale")
    _multipliers = ("scale",)

    def __init__(self, feature_range: tuple[float, float] = (0.0, 1.0)) -> None:
        super().__init__()
        self.feature_range = _check_feature_range(feature_range)

    def _new_accumulator(self, d):
        return _MinMaxAccumulator(d)

    def _finish(self, acc, d):
        with np.errstate(over="ignore"):  # an overflowing range is refused below
            data_range = acc.max - acc.min
        if not np.all(np.isfinite(data_range)):
            k = int(np.flatnonzero(~np.isfinite(data_range))[0])
            raise PreprocessingError(f"the range of feature {k} ({acc.min[k]:.3g} .. {acc.max[k]:.3g}) overflows "
                                     "float64, so every value would scale to the same one; rescale the data first")
        scale, offset = self._scaling(acc.min, data_range)
        tiny = np.flatnonzero(~(scale >= MIN_DIVISOR))
        if tiny.size:  # its reciprocal (inverse_transform's divisor) overflows; a file could not hold it either
            k = int(tiny[0])
            raise PreprocessingError(f"feature {k}: the scale (hi - lo) / range = {scale[k]:.3g} has no finite "
                                     f"reciprocal (range {data_range[k]:.3g}, feature_range {self.feature_range}); "
                                     "rescale the data or widen feature_range")
        return {"data_min": acc.min.copy(), "data_max": acc.max.copy(), "scale": scale,
                "min": offset, "n_samples_seen": np.array([float(acc.n)])}

    def _scaling(self, data_min: np.ndarray, data_range: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(scale_, min_) mapping [data_min, data_min + data_range] (a finite range >= 0) onto feature_range."""
        lo, hi = self.feature_range
        scale = (hi - lo) / _nonzero_scale(data_range)
        return scale, lo - data_min * scale

    def _check_state(self, state):
        """The base checks, and the arrays a fit stores together: data_min <= data_max with a range finite in
        float64, and scale and min as a fit computes them from those and feature_range (to rounding). A tampered
        or inconsistent file is refused, naming the array, instead of transforming with contradicting values."""
        super()._check_state(state)
        data_min, data_max = state["data_min"], state["data_max"]
        with np.errstate(over="ignore"):
            data_range = data_max - data_min
        bad = np.flatnonzero(~((data_range >= 0) & np.isfinite(data_range)))
        if bad.size:
            k = int(bad[0])
            raise PreprocessingError(f"MinMaxScaler state arrays 'data_min' and 'data_max' are not a range finite in "
                                     f"float64 at index {k}: {data_min[k]:.6g} .. {data_max[k]:.6g}")
        scale, offset = self._scaling(data_min, data_range)
        source = f"data_min, data_max and feature_range {self.feature_range}"
        self._check_agrees("scale", state, scale, AGREE_RTOL * scale, source)
        self._check_agrees("min", state, offset, AGREE_RTOL * (abs(self.feature_range[0]) + np.abs(data_min * scale)),
                           source)

    def _transform_block(self, xb, ob):
        np.subtract(xb, self._cast("data_min", ob.dtype), out=ob)
        np.multiply(ob, self._cast("scale", ob.dtype), out=ob)
        np.add(ob, ob.dtype.type(self.feature_range[0]), out=ob)

    def _inverse_block(self, xb, ob):
        np.subtract(xb, ob.dtype.type(self.feature_range[0]), out=ob)
        np.divide(ob, self._cast("scale", ob.dtype), out=ob)
        np.add(ob, self._cast("data_min", ob.dtype), out=ob)

    def centered_affine(self):
        state = self._fitted_state()
        return state["data_min"].copy(), np.diag(state["scale"]), np.full_like(state["min"], self.feature_range[0])

    def _expected_shapes(self, config):
        d = config["n_features_in"]
        return {"data_min": (d,), "data_max": (d,), "scale": (d,), "min": (d,), "n_samples_seen": (1,)}

    def _restore_accumulator(self, config, state):
        acc = _MinMaxAccumulator(config["n_features_in"])
        acc.min, acc.max, acc.n = state["data_min"].copy(), state["data_max"].copy(), int(state["n_samples_seen"][0])
        return acc

    @classmethod
    def of(cls, scale: np.ndarray) -> MinMaxScaler:
        """A fitted MinMaxScaler computing exactly x * scale (what fastnn.onnx.load makes of a graph's first Mul;
        a MeanCenter after it adds the shift exactly): the state of a fit on data spanning [0, hi / scale] with
        feature_range (0, hi), which the state checks reproduce to rounding, so it saves and reloads. hi is 1, or
        for scales above 1 / (10 eps) (whose ranges 1 / scale a fit takes for constant) the power of two that
        brings every range to 10 eps. A PreprocessingError names what no fit could store: a scale <= 0 or
        subnormal, or scales too far apart for one hi (a range hi / scale beyond float64)."""
        scale = np.array(scale, dtype=np.float64)
        hi = _range_high_for(scale)
        obj = cls(feature_range=(0.0, hi))
        Preprocessor._check_state(obj, {"scale": scale})  # a bad scale by name, not as the range made of it
        with np.errstate(over="ignore"):
            data_max = hi / scale
        if not np.all(np.isfinite(data_max)):
            raise PreprocessingError(f"MinMaxScaler.of: scales {scale.min():.3g} .. {scale.max():.3g} are too far "
                                     f"apart for one feature_range (0, {hi:.3g}): the range {hi:.3g} / scale of "
                                     "the smallest overflows float64")
        zeros = np.zeros_like(scale)
        obj._load_state({"fitted": True, "n_features_in": scale.shape[0] if scale.ndim else 0},
                        {"data_min": zeros, "data_max": data_max, "scale": scale, "min": zeros,
                         "n_samples_seen": np.ones(1)})
        return obj

    @property
    def data_min_(self):
        return self._fitted_state()["data_min"]

    @property
    def data_max_(self):
        return self._fitted_state()["data_max"]

    @property
    def scale_(self):
        return self._fitted_state()["scale"]

    @property
    def min_(self):
        return self._fitted_state()["min"]


class StandardScaler(Preprocessor):
    """Standardize each feature: x' = (x - mean_) / scale_ with scale_ the population standard deviation
    (ddof=0), as scikit-learn's StandardScaler. A zero-variance feature (by scikit-learn's rounding-error test)
    is left unscaled (scale_ = 1), so it becomes x - mean_ = 0 on the training data instead of NaN.
    ``with_mean=False`` skips the centring, ``with_std=False`` the scaling."""

    _params: tuple[str, ...] = ("with_mean", "with_std")
    _positive = ("scale",)
    _non_negative = ("var",)
    _unbounded = ("var",)
    _transform_arrays = ("mean", "inv_scale")
    _multipliers = ("inv_scale",)

    def __init__(self, with_mean: bool = True, with_std: bool = True) -> None:
        super().__init__()
        self.with_mean = check_scalar(with_mean, "with_mean", bool, error=PreprocessingError)
        self.with_std = check_scalar(with_std, "with_std", bool, error=PreprocessingError)  # "false" is truthy

    def _new_accumulator(self, d):
        return MomentAccumulator(d)

    def _finish(self, acc, d):
        if self.with_std:
            # in the accumulator's units: +/-1e308 data has a finite std though its variance overflows to inf
            scaled_var = acc.scaled_var
            std = np.sqrt(scaled_var) * acc.unit
            # scikit-learn's rule with its constant mask: only constant features stay unscaled (no 10 eps floor:
            # a feature of std 1e-15 is scaled); a std whose reciprocal overflows cannot be divided by
            std[_is_constant_feature(scaled_var, acc.mean_u, acc.n) | (std < np.finfo(np.float64).tiny)] = 1.0
            scale = std
        else:
            scale = np.ones(d)
        mean = acc.mean if self.with_mean else np.zeros(d)
        return {"mean": mean, "var": acc.var, "scale": scale, "data_mean": acc.mean,
                "n_samples_seen": np.array([float(acc.n)])}

    def _derived(self, name):
        if name == "inv_scale":  # the factor transform and centered_affine (the plan, ONNX) both scale by
            scale = self._fitted_state()["scale"]
            return 1.0 / scale if self.with_std else np.ones_like(scale)
        raise KeyError(name)

    def _check_state(self, state):
        """The base checks, and the state a fit with these parameters stores: ``scale`` all 1 without with_std,
        ``mean`` all 0 without with_mean. A file whose config contradicts its arrays is refused, naming the array:
        which of the two it meant cannot be known."""
        super()._check_state(state)
        for key, used, param, fitted_value in (("scale", self.with_std, "with_std", 1.0),
                                               ("mean", self.with_mean, "with_mean", 0.0)):
            wrong = np.flatnonzero(state[key] != fitted_value)
            if not used and wrong.size:
                raise PreprocessingError(f"{type(self).__name__} state array {key!r} must be {fitted_value:g} "
                                         f"everywhere, as fit stores it with {param}=False; got "
                                         f"{state[key][wrong[0]]:.6g} at index {wrong[0]}")

    def _transform_block(self, xb, ob):
        np.subtract(xb, self._cast("mean", ob.dtype), out=ob)
        if self.with_std:  # else inv_scale is all 1
            np.multiply(ob, self._cast("inv_scale", ob.dtype), out=ob)

    def _inverse_block(self, xb, ob):
        np.multiply(xb, self._cast("scale", ob.dtype), out=ob)
        np.add(ob, self._cast("mean", ob.dtype), out=ob)

    def centered_affine(self):
        state = self._fitted_state()
        return state["mean"].copy(), np.diag(self._derived("inv_scale")), np.zeros_like(state["mean"])

    def _expected_shapes(self, config):
        d = config["n_features_in"]
        return {"mean": (d,), "var": (d,), "scale": (d,), "data_mean": (d,), "n_samples_seen": (1,)}

    def _restore_accumulator(self, config, state):
        std = state["scale"] if self.with_std else np.sqrt(state["var"])
        return MomentAccumulator.restore(int(state["n_samples_seen"][0]), state["data_mean"], state["var"], std)

    @property
    def mean_(self):
        return self._fitted_state()["mean"]

    @property
    def var_(self):
        return self._fitted_state()["var"]

    @property
    def scale_(self):
        return self._fitted_state()["scale"]


class MeanCenter(StandardScaler):
    """Subtract each feature's mean (the chapter's "mean subtraction" across the data set): x' = x - mean_.
    Equivalent to StandardScaler(with_std=False)."""

    _params = ()

    def __init__(self) -> None:
        super().__init__(with_mean=True, with_std=False)

    @classmethod
    def of(cls, mean: np.ndarray) -> MeanCenter:
        """A fitted MeanCenter subtracting ``mean`` (the offset fastnn.fold keeps of a preprocessor it folds)."""
        mean = np.array(mean, dtype=np.float64)
        d = mean.shape[0]
        obj = cls()
        obj._load_state({"fitted": True, "n_features_in": d},
                        {"mean": mean, "var": np.zeros(d), "scale": np.ones(d), "data_mean": mean,
                         "n_samples_seen": np.ones(1)})
        return obj


class _CountAccumulator:
    """SampleCenter learns nothing but the feature count; fitting still rejects non-finite input."""

    def __init__(self, d: int):
        self.n = 0

    def update(self, block: np.ndarray, start: int) -> None:
        check_finite_stat(block.sum(axis=0, dtype=np.float64), block, start)
        self.n += block.shape[0]


class SampleCenter(Preprocessor):
    """Per-sample centring: subtract each row's own mean over its features, x'_i = x_i - mean(x_i) (and, with
    ``with_std=True``, divide by the row's population standard deviation). The chapter's per-sample mean
    subtraction for natural images and MNIST-like data: it removes each image's brightness. Row statistics are
    accumulated in float64.

    In float64, and with ``with_std`` in both dtypes, all in float64 and rounded to the dtype once, each row's
    deviations are taken from its first value (exact for values within a factor 2 of it), then their mean is
    subtracted (``centered_rows``) and, with ``with_std``, they are divided by their population std
    (``standardized_rows``). The sums so see only the row's spread, never its magnitude: a constant row becomes
    exactly 0 at any magnitude and width, and any other row, however small its spread (one ulp, or 1e-12 of its
    values), comes out within a few float64 epsilons (times max|output|) of the exact answer, whatever order the
    compiled plan (sequential sums), numpy (pairwise) or ONNX Runtime sum in, so the three agree within the
    README's plan bound. Less the rounded row mean instead, its rounding (about 1e-16 times the mean) stayed in
    every centred value: ~1e-9 of the output on rows 1e5 + 1e-2 randn, different in each, and O(1) errors once
    divided by the row's own std. A float32 row without std has the row mean summed in float64, rounded to
    float32 and subtracted in float32, as before float64 had its own form (each path alike; its bits unchanged).
    Limits: a std of 0 that is not a constant row's (deviations below ~1e-162, whose squares underflow) divides by
    1, deviations beyond ~1e154 (whose squares overflow) give 0, and a float64 row whose values differ from its
    first by more than the float64 range (1e308 beside -1e308) gives NaN. The compiled plan's step, the numpy
    reference and the ONNX export compute the same. scikit-learn's ``scale(X, axis=1)`` instead
    sets stds below the absolute 10 float64 epsilons to 1 and subtracts the mean again when the result is not
    centred; its StandardScaler's per-feature test (``_is_constant_feature``, which StandardScaler here uses
    too) is relative to the rounding bound of the variance.

    Nothing is learned from the data. inverse_transform cannot restore the discarded means (and stds): it
    returns its input, which is the minimum-norm preimage (Moore-Penrose) of the centring."""

    _params = ("with_std",)

    def __init__(self, with_std: bool = False) -> None:
        super().__init__()
        if not isinstance(with_std, (bool, np.bool_, numbers.Integral)):
            raise PreprocessingError(f"with_std must be a bool, got {with_std!r}")
        self.with_std = check_scalar(with_std, "with_std", bool, error=PreprocessingError)

    def _new_accumulator(self, d):
        return _CountAccumulator(d)

    def _finish(self, acc, d):
        return {"n_samples_seen": np.array([float(acc.n)])}

    def _transform_block(self, xb, ob):
        if self.with_std:
            ob[...] = standardized_rows(xb.astype(np.float64, copy=False))
            return
        if ob.dtype == np.float64:
            ob[...] = centered_rows(xb.astype(np.float64, copy=False))
            return
        # float32: the row mean summed in float64 (exact to far below float32's rounding), rounded to float32 and
        # subtracted in it, as before float64 had its own form (their bits unchanged)
        mean = np.mean(xb, axis=1, dtype=np.float64, keepdims=True)
        np.subtract(xb, mean.astype(ob.dtype), out=ob)

    def _inverse_block(self, xb, ob):
        ob[...] = xb

    @property
    def row_centering(self) -> bool:
        return not self.with_std

    @property
    def row_standardizing(self) -> bool:
        return self.with_std

    def centered_affine(self):
        d = self._fitted_n_in()
        if self.with_std:
            return None  # dividing by each row's own std is not affine
        return np.zeros(d), np.eye(d) - np.full((d, d), 1.0 / d), np.zeros(d)

    def _expected_shapes(self, config):
        return {"n_samples_seen": (1,)}

    def _restore_accumulator(self, config, state):
        acc = _CountAccumulator(config["n_features_in"])
        acc.n = int(state["n_samples_seen"][0])
        return acc
