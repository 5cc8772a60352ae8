"""Input checks at the public API boundary: every check runs before any state changes, and each error says
what is wrong, where, and what was expected. ``check_scalar`` is the one checker of scalar arguments."""
from __future__ import annotations

import decimal
import math
import numbers
import reprlib

import numpy as np

_CHECK_CHUNK_VALUES = 1 << 20  # values per finiteness check (4 MB as float32), so a memmap is never loaded whole


def c_array(a, dtype=None) -> np.ndarray:
    """``a`` as a C-contiguous array (of ``dtype`` when given) aligned to its element size: what the kernels
    read through typed pointers. A copy only when ``a`` is not one already (an array viewed at an odd byte
    offset, as np.frombuffer(..., offset=) gives, is not aligned, and ascontiguousarray keeps it so)."""
    a = np.ascontiguousarray(a, dtype=dtype)
    return a if a.flags.aligned else a.copy()


def as_2d_features(X, name: str = "X", n_features: int | None = None) -> np.ndarray:
    """Return X as a 2-D numeric array (memmaps stay memmaps), refusing what cannot be trained on. A masked
    array is its data when nothing is masked; masked entries are missing values, which are refused (the kernels
    would read whatever the data holds under the mask)."""
    if isinstance(X, np.ma.MaskedArray):
        n_masked = int(np.ma.count_masked(X))
        if n_masked:
            raise ValueError(f"{name} is a masked array with {n_masked} masked value(s): fastnn does not impute "
                             f"missing values; fill them ({name}.filled(value)) or drop those rows")
        X = X.data
    given = X
    if not isinstance(X, np.ndarray):
        try:
            X = np.asarray(X)
        except (ValueError, TypeError) as exc:
            raise TypeError(f"{name} must be a numeric array, could not convert: {exc}") from None
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric (bool, int or float), got dtype {X.dtype}"
                        f"{_why_not_numeric(given, name)}")
    if X.ndim == 1 and n_features is not None and n_features > 1 and X.shape[0] == n_features:
        raise ValueError(f"{name} is 1-D with {X.shape[0]} values; pass a 2-D array of shape (n_samples, "
                         f"{n_features}) (use X.reshape(1, -1) for a single sample)")
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty: it has 0 samples")
    if X.shape[1] == 0:
        raise ValueError(f"{name} has 0 features")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features, but the model expects {n_features}")
    return X


def _why_not_numeric(X, name: str) -> str:
    """What made a non-numeric array out of X, and how to convert it, for the two common cases: a scipy sparse
    matrix (numpy wraps it whole in an object array; fastnn trains on dense rows) and a pandas DataFrame whose
    columns share no numeric dtype (a bool column beside float ones, nullable dtypes such as Float64)."""
    module = type(X).__module__
    if module.startswith("scipy.sparse"):
        return f" ({name} is a scipy sparse matrix; fastnn takes dense arrays: pass {name}.toarray())"
    if module.startswith("pandas") and type(X).__name__ == "DataFrame":
        return (f" ({name} is a DataFrame whose columns share no numeric dtype: a bool column beside float ones, "
                f"nullable dtypes such as Float64, or text; convert it, e.g. {name}.to_numpy(dtype=float))")
    return ""


def check_finite(X: np.ndarray, name: str = "X", dtype=None) -> None:
    """Raise naming the first row of the 2-D X (as given: row i is X[i]) whose values are not finite in
    ``dtype``, the dtype the model computes in (default: X's own): a float64 1e300 is finite but becomes inf
    as float32. Reads X in chunks of about ``_CHECK_CHUNK_VALUES`` values (a memmap is never loaded whole)."""
    if X.dtype.kind != "f":
        return  # bool and integer values are finite, also as float32 (|int64| < 1e19)
    dtype = X.dtype if dtype is None else np.dtype(dtype)
    rows = max(1, _CHECK_CHUNK_VALUES // max(1, X.shape[1]))
    for start in range(0, X.shape[0], rows):
        chunk = X[start:start + rows]
        with np.errstate(over="ignore"):  # the overflow is what we look for
            finite = np.isfinite(chunk.astype(dtype, copy=False))
        if not finite.all():
            row, col = np.argwhere(~finite)[0]
            raise ValueError(_not_finite_message(name, float(chunk[row, col]), dtype, start + row, col))


def _not_finite_message(name: str, value: float, dtype: np.dtype, row: int, col: int) -> str:
    where = f"at row {row}, column {col}"
    if math.isfinite(value):
        return (f"{name} holds {value!r} {where}, which overflows the model's dtype {dtype} to inf; rescale "
                f"{name} or use a float64 model")
    return f"{name} contains {value} {where}; remove or impute non-finite values"


def weights_dtype_problem(a: np.ndarray) -> str | None:
    """What is wrong with ``a``'s dtype for weights ("has dtype bool, expected ..."), None for real numbers: floats
    or integers (the model casts them to its dtype). Not booleans, which no weights are: a mask (an array of
    comparisons) would go in as weights of 0 and 1. Used where weights come in: set_weights, load_weights and
    fastnn.load (fastnn.pretrained.checked_values), a checkpoint's EarlyStopping best weights."""
    if a.dtype.kind in "iuf":
        return None
    return f"has dtype {a.dtype}, expected real numbers (floats or integers)"


_TYPE_WORDS = {numbers.Integral: "an integer", numbers.Real: "a real number", bool: "a bool"}
_BOUNDARIES = ("both", "left", "right", "neither")


def check_scalar(x, name: str, target_type, *, min_val=None, max_val=None, include_boundaries: str = "both",
                 finite: bool = True, allow_none: bool = False, error: type[Exception] | None = None):
    """Check a scalar argument and return it as a plain Python ``int``, ``float`` or ``bool``.

    In the spirit of scikit-learn's ``sklearn.utils.check_scalar``:

    * ``target_type`` is ``numbers.Integral`` (ints and numpy integers), ``numbers.Real`` (any real number,
      returned as float) or ``bool`` (also numpy bools). A bool is never accepted as a number.
    * ``min_val`` / ``max_val`` bound the value; ``include_boundaries`` ("both", "left", "right", "neither")
      says which bounds are allowed themselves. A real is also refused when it is NaN, and when it is
      infinite unless ``finite=False``, and when it is beyond the float range (``10**400``). An integer keeps
      its exact value at any size: only the bounds limit it.
    * ``allow_none`` lets ``None`` through unchanged.

    A value of the wrong type raises ``TypeError``, a value out of range ``ValueError``; ``error`` replaces
    both with one class (a module's own error, or ValueError where a constructor always raised that). The
    message names the argument, the value and what was expected, e.g.
    ``"momentum must be a real number >= 0, got -0.5"``.
    """
    if x is None and allow_none:
        return None
    if target_type not in _TYPE_WORDS:
        raise TypeError(f"check_scalar checks numbers.Integral, numbers.Real or bool, not {target_type!r}")
    if include_boundaries not in _BOUNDARIES:
        raise ValueError(f"include_boundaries must be one of {_BOUNDARIES}, got {include_boundaries!r}")
    expected = _expected(target_type, min_val, max_val, include_boundaries, finite, allow_none)
    if target_type is bool:
        if not isinstance(x, (bool, np.bool_)):
            raise (error or TypeError)(f"{name} must be {expected}, got {_show(x)}")
        return bool(x)
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, target_type):
        raise (error or TypeError)(f"{name} must be {expected}, got {_show(x)}")
    if target_type is numbers.Integral:
        x = int(x)
        not_a_value = False  # a Python int is exact at any size: only the bounds limit it
    else:
        try:
            x = float(x)
        except OverflowError:  # an int (or Fraction) beyond the largest float
            raise (error or ValueError)(f"{name} must be {expected}, got {_brief(x)} (beyond the largest "
                                        "float)") from None
        not_a_value = math.isnan(x) or (finite and math.isinf(x))
    left_open = include_boundaries in ("right", "neither")
    right_open = include_boundaries in ("left", "neither")
    if (not_a_value
            or (min_val is not None and (x < min_val or (left_open and x == min_val)))
            or (max_val is not None and (x > max_val or (right_open and x == max_val)))):
        raise (error or ValueError)(f"{name} must be {expected}, got {_brief(x)}")
    return x


def _show(x) -> str:
    return f"{type(x).__name__} {x!r}"


def _brief(x) -> str:
    """A number as an error shows it: repr, but a huge integer shortly (10**400 as 1.000e+400, not 401 digits)."""
    if isinstance(x, int) and abs(x) >= 10**21:
        return f"{decimal.Decimal(x):.3e}"
    return reprlib.repr(x)


def _expected(target_type, min_val, max_val, include_boundaries, finite, allow_none) -> str:
    words = _TYPE_WORDS[target_type]
    if target_type is numbers.Real and finite:
        words = "a finite real number"
    lo = "[" if include_boundaries in ("both", "left") else "("
    hi = "]" if include_boundaries in ("both", "right") else ")"
    if min_val is not None and max_val is not None:
        words += f" in {lo}{min_val}, {max_val}{hi}"
    elif min_val is not None:
        words += f" {'>=' if lo == '[' else '>'} {min_val}"
    elif max_val is not None:
        words += f" {'<=' if hi == ']' else '<'} {max_val}"
    return words + (" or None" if allow_none else "")


def positive_int(name: str, value, allow_none: bool = False):
    """An integer >= 1 (``check_scalar`` shorthand)."""
    return check_scalar(value, name, numbers.Integral, min_val=1, allow_none=allow_none)


def non_negative_int(name: str, value):
    """An integer >= 0 (``check_scalar`` shorthand)."""
    return check_scalar(value, name, numbers.Integral, min_val=0)


SEED_LIMIT = 2**64  # seeds key 64-bit counter-based streams (dropout, augmentation) and numpy's PCG64
MAX_STEP = 2**64 - 1  # the last step a step counter can reach: steps key those streams too


def check_seed(seed, name: str = "seed") -> int:
    """A random seed: an integer in [0, 2**64) (numpy integers too), returned as a Python int. Larger values
    would alias smaller ones in the 64-bit streams, negative ones are refused by numpy only when first used."""
    return check_scalar(seed, name, numbers.Integral, min_val=0, max_val=SEED_LIMIT - 1)


def check_length(name: str, y, n: int) -> None:
    if len(y) != n:
        raise ValueError(f"{name} has {len(y)} rows but X has {n}")
