"""Shared machinery of the preprocessors: input checks, row-block streaming, fitted state, configs.

Fitting streams over row blocks (``chunk_size`` rows at a time, converted to float64 one block at a time), so
an ``np.memmap`` larger than RAM can be fitted; each block's statistics are those of the corrected two-pass
algorithm (its deviations from its own mean, less the mean's rounding) and blocks merge with Chan et al.'s
pairwise update, so a chunked fit agrees with a one-shot fit to rounding in absolute terms (the merge adds the
squared difference of rounded block means: a nearly constant feature's tiny variance can be off relative to
itself, as scikit-learn's partial_fit is; its constant-feature test is not affected). Transforms also run block
by block:
they never convert the whole input at once and can write into a caller's ``out`` buffer.
"""
from __future__ import annotations

import copy
import numbers
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

import numpy as np

from ..ops.infer import all_finite
from ..validation import check_scalar

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self from Python 3.11; only the type checker reads it

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
# How far (relative) a restored state array may be off what a fit computes from the others: rounding only (a fit
# computes them the same way, so a file fastnn wrote agrees to the bit).
AGREE_RTOL = 1e-12
# Row blocks of about this many bytes (as float64) when fitting / transforming: big enough that numpy's
# per-call overhead vanishes, small enough to stay in L2 between the passes over a block.
FIT_BLOCK_BYTES = 1 << 20
TRANSFORM_BLOCK_BYTES = 1 << 18


def uncentred(centred: tuple[np.ndarray, np.ndarray, np.ndarray] | None) -> tuple[np.ndarray, np.ndarray] | None:
    """A :meth:`Preprocessor.centered_affine` (m, A, c) as the (A, c - m @ A) of :meth:`Preprocessor.affine`."""
    if centred is None:
        return None
    m, A, c = centred
    return A, c - m @ A


class PreprocessingError(ValueError):
    """Bad input to a preprocessor (non-finite values, wrong feature count, bad parameters, corrupt state)."""


class NotFittedError(PreprocessingError):
    """transform / inverse_transform / affine called before fit."""


class TooFewSamples(PreprocessingError):
    """Fewer rows than a fit needs (a whitening's covariance, its components): partial_fit, which finishes the
    fit at every call, says how its first call must begin."""


Blocks = Iterable[tuple[int, np.ndarray]]  # (index of the block's first row, block of any numeric dtype)
# (rows in the output dtype, output rows to fill): one row block of a transform or its inverse.
BlockFn = Callable[[np.ndarray, np.ndarray], None]


class Accumulator(Protocol):
    """Running statistics of the rows fitted so far: ``n`` rows; ``update`` merges one more block (rows
    numbered from ``start`` in error messages)."""

    n: int

    def update(self, block: np.ndarray, start: int) -> None: ...


def as_matrix(X: Any, name: str = "X") -> np.ndarray:
    """X as a 2-D numeric ndarray without copying (np.memmap stays a memmap)."""
    if not isinstance(X, np.ndarray):
        X = np.asarray(X)
    if X.dtype.kind not in "fiub":
        raise TypeError(f"{name} must hold numbers, got dtype {X.dtype}")
    if X.ndim != 2:
        raise PreprocessingError(f"{name} must be 2-D (n_samples, n_features), got shape {X.shape}")
    return X


def rows_per_block(n_features: int, block_bytes: int, chunk_size: int | None) -> int:
    if chunk_size is not None:
        return check_scalar(chunk_size, "chunk_size", numbers.Integral, min_val=1, error=PreprocessingError)
    return max(1, block_bytes // (8 * max(1, n_features)))


def iter_blocks(X: np.ndarray, chunk_size: int | None,
                block_bytes: int = FIT_BLOCK_BYTES) -> Iterator[tuple[int, np.ndarray]]:
    """(start, block) over the rows of X, in X's dtype: the accumulators widen to float64 as they reduce, so no
    float64 copy of a block is made just to read it."""
    step = rows_per_block(X.shape[1], block_bytes, chunk_size)
    for start in range(0, X.shape[0], step):
        yield start, np.asarray(X[start:start + step])


def raise_non_finite(block: np.ndarray, start: int, name: str = "X") -> NoReturn:
    """Raise naming the first non-finite entry of ``block`` (rows numbered from ``start``), or an overflow."""
    bad_rows = np.flatnonzero(~np.isfinite(block).all(axis=1))
    if bad_rows.size == 0:
        raise PreprocessingError(f"{name}: statistics overflowed float64 in rows {start}..{start + len(block) - 1} "
                                 "(values too large); rescale the data first")
    r = int(bad_rows[0])
    c = int(np.flatnonzero(~np.isfinite(block[r]))[0])
    raise PreprocessingError(f"{name} contains {block[r, c]} at row {start + r}, column {c}; preprocessors need "
                             "finite values (drop or impute missing values first)")


#: the smallest divisor (a scale) whose reciprocal float64 holds: a fit's scales are above it, a file's must be
MIN_DIVISOR = 1.0 / np.finfo(np.float64).max


def _same_view(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether ``a`` and ``b`` are the same elements in the same layout (a transform into ``out=X`` itself: each
    block reads its rows before it writes them, so in place is exact; any other overlap is not)."""
    return (a.dtype == b.dtype and a.shape == b.shape and a.strides == b.strides
            and a.__array_interface__["data"][0] == b.__array_interface__["data"][0])


def _all_finite(block: np.ndarray) -> bool:
    """Whether every value of the float block is finite: the C scan (~6x numpy's float32 sum) on a C-contiguous
    native block, numpy otherwise."""
    if block.flags.c_contiguous and block.flags.aligned and block.dtype.isnative:
        return all_finite(block)
    return bool(np.isfinite(block).all())


def check_finite_stat(stat: np.ndarray, block: np.ndarray, start: int) -> None:
    """Non-finite values propagate into the block's sum (or min/max), so one check of the small statistic
    replaces a pass over the block; only when it fails is the block searched for the culprit."""
    if not np.isfinite(stat).all():
        raise_non_finite(block, start)


def centred_block(block: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray]:
    """(block mean, block minus its mean) in float64, after checking the block is finite (rows from start)."""
    s = block.sum(axis=0, dtype=np.float64)
    check_finite_stat(s, block, start)
    mb = s / block.shape[0]
    return mb, np.subtract(block, mb, dtype=np.float64)  # widen and centre in one pass


def _corrected_sum_of_squares(c: np.ndarray) -> np.ndarray:
    """Per column, the sum of squares of ``c`` (a block minus its rounded mean) less (sum c)^2 / n: the corrected
    two-pass algorithm (scikit-learn's too). The plain sum also counts n times the square of the mean's rounding,
    which on a nearly constant feature (3 + a few ulp) is as large as the variance itself. Written s * (s / n),
    which is <= the sum of squares, so it cannot overflow where that does not."""
    s = c.sum(axis=0)
    return np.maximum(np.einsum("ij,ij->j", c, c) - s * (s / c.shape[0]), 0.0)


_LARGE = 2.0 ** 400  # below this magnitude no square, sum of squares or merge term can overflow float64


class MomentAccumulator:
    """Streaming count, mean and sum of squared deviations per feature, in float64 (Chan's pairwise update).

    Overflow-safe: a feature holding values beyond 2**400 (whose squared deviations may overflow, e.g. +/-1e308)
    is accumulated in units of a power of two ``unit`` > half its largest magnitude: ``mean_u`` and ``m2`` are the
    mean and sum of squared deviations of x / unit. Dividing by a power of two is exact, so a feature that
    never needs it (unit 1, all ordinary data) gets the very bits of the plain computation; the unit is
    raised only when a block overflows (no extra pass over the data otherwise)."""

    def __init__(self, d: int) -> None:
        self.n = 0
        self.mean_u = np.zeros(d)
        self.m2 = np.zeros(d)
        self.unit = np.ones(d)

    def update(self, block: np.ndarray, start: int) -> None:
        if block.shape[0] == 0:
            return
        merged = self._merged(block)
        if merged is None:
            if not np.isfinite(block).all():
                raise_non_finite(block, start)  # names the first NaN or inf
            self._raise_unit(np.abs(block).max(axis=0))
            merged = self._merged(block)
            if merged is None:
                raise_non_finite(block, start)  # an overflow even so
        self.mean_u, self.m2, self.n = merged

    def _merged(self, block: np.ndarray) -> tuple[np.ndarray, np.ndarray, int] | None:
        """(mean_u, m2, n) with the block merged in, or None when something overflowed (or was not finite)."""
        nb = block.shape[0]
        x = block if (self.unit == 1.0).all() else np.divide(block, self.unit, dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            mb = x.sum(axis=0, dtype=np.float64) / nb
            c = np.subtract(x, mb, dtype=np.float64)  # widen and centre in one pass
            m2b = _corrected_sum_of_squares(c)
            n = self.n + nb
            delta = mb - self.mean_u
            mean_u = self.mean_u + delta * (nb / n)
            m2 = self.m2 + m2b + delta * delta * (self.n * nb / n)
        return (mean_u, m2, n) if np.isfinite(m2).all() and np.isfinite(mean_u).all() else None

    def _raise_unit(self, max_abs: np.ndarray) -> None:
        """Raise the unit of every feature beyond 2**400 to a power of two > half its largest magnitude (|x / unit|
        < 2; the power of two above 1e308 would be inf)."""
        unit = np.where(max_abs > _LARGE, np.ldexp(1.0, np.frexp(max_abs)[1] - 1), 1.0)
        unit = np.maximum(self.unit, unit)
        ratio = self.unit / unit  # powers of two: the rescaling is exact
        self.mean_u, self.m2, self.unit = self.mean_u * ratio, self.m2 * ratio * ratio, unit

    @classmethod
    def restore(cls, n: int, mean: np.ndarray, var: np.ndarray, std: np.ndarray) -> MomentAccumulator:
        """The accumulator of a fit with these statistics; ``std`` stands in where ``var * n`` overflows."""
        acc = cls(len(mean))
        acc.n = n
        with np.errstate(over="ignore"):
            m2 = var * n
        overflow = ~np.isfinite(m2)
        acc._raise_unit(np.where(overflow, std, 0.0))
        acc.mean_u = mean / acc.unit
        acc.m2 = np.where(overflow, (std / acc.unit) ** 2 * n, m2)
        return acc

    @property
    def mean(self) -> np.ndarray:
        return self.mean_u * self.unit

    @property
    def scaled_var(self) -> np.ndarray:
        """Population variance (ddof=0) of x / unit: finite even where the variance of x overflows."""
        return self.m2 / self.n

    @property
    def var(self) -> np.ndarray:
        """Population variance (ddof=0); inf where it exceeds float64 (std = sqrt(scaled_var) * unit does not)."""
        with np.errstate(over="ignore"):
            return self.scaled_var * self.unit * self.unit


class CovarianceAccumulator:
    """Streaming count, mean and scatter matrix S = sum (x - mean)(x - mean)^T, in float64.

    Each block is centred on its own mean before its scatter is formed (less s s^T / nb for the centred block's
    column sums s: the mean's rounding, as in ``_corrected_sum_of_squares``), and blocks merge with
    S = Sa + Sb + delta delta^T na nb / n (Chan et al.), so no large uncentred sums are ever subtracted. With
    scipy, all terms are BLAS updates of the upper triangle in place (syrk for the block, syr for the
    corrections): half the flops of a general matmul and no d x d temporaries."""

    def __init__(self, d: int) -> None:
        self.n = 0
        self.mean = np.zeros(d)
        self.scatter = np.zeros((d, d), order="F")  # upper triangle accumulated

    def update(self, block: np.ndarray, start: int) -> None:
        nb = block.shape[0]
        if nb == 0:
            return
        mb, c = centred_block(block, start)
        n = self.n + nb
        delta = mb - self.mean
        _add_gram_upper(self.scatter, c)
        _add_outer_upper(self.scatter, c.sum(axis=0) / np.sqrt(nb), -1.0)  # the rounded mean's term, as for m2
        if self.n:
            _add_outer_upper(self.scatter, delta, self.n * nb / n)
        self.mean = self.mean + delta * (nb / n)
        self.n = n

    def full_scatter(self) -> np.ndarray:
        """The symmetric scatter matrix (only its upper triangle is accumulated)."""
        return np.triu(self.scatter) + np.triu(self.scatter, 1).T


def _add_gram_upper(S: np.ndarray, c: np.ndarray) -> None:
    """S += c^T c on (at least) the upper triangle; S is Fortran-ordered float64, c C-contiguous float64."""
    try:
        from scipy.linalg.blas import dsyrk
    except ImportError:  # scipy is optional
        S += c.T @ c
        return
    # c is C-contiguous (n, d), so c.T is a Fortran-ordered (d, n) matrix: syrk forms c.T @ c without a copy
    r = dsyrk(1.0, c.T, beta=1.0, c=S, trans=0, lower=0, overwrite_c=1)
    if r is not S:  # scipy copied (should not happen for Fortran-ordered S)
        S[...] = r


def _add_outer_upper(S: np.ndarray, v: np.ndarray, alpha: float) -> None:
    """S += alpha v v^T on (at least) the upper triangle."""
    try:
        from scipy.linalg.blas import dsyr
    except ImportError:
        S += alpha * np.outer(v, v)
        return
    r = dsyr(alpha, v, a=S, lower=0, overwrite_a=1)
    if r is not S:
        S[...] = r


class Preprocessor:
    """Base class. Subclasses implement ``_new_accumulator``, ``_finish`` (accumulator -> fitted arrays),
    ``_transform_block`` / ``_inverse_block`` (one row block in the output dtype), ``centered_affine`` and the state
    hooks. Fitted state lives in ``self._state`` (a dict of float64 arrays) plus ``n_features_in_``."""

    #: constructor parameters that ``get_config`` records
    _params: tuple[str, ...] = ()
    #: state arrays that must be > 0 (divisors, scales) / >= 0 (variances), checked when state is restored
    _positive: tuple[str, ...] = ()
    _non_negative: tuple[str, ...] = ()
    #: state arrays that may hold +inf (a variance of data spread beyond float64, which fit handles)
    _unbounded: tuple[str, ...] = ()
    #: the arrays (state or ``_derived``) a transform computes with, checked in the model's dtype by check_dtype
    _transform_arrays: tuple[str, ...] = ()
    #: those of them that multiply each feature: one that rounds to 0 (or a subnormal) in the dtype is refused there
    _multipliers: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.n_features_in_: int | None = None
        self._state: dict[str, np.ndarray] | None = None
        self._acc: Accumulator | None = None
        self._cache: dict[tuple[str, np.dtype], np.ndarray] = {}

    # ---- the hooks a subclass implements -------------------------------------------------------------------

    def _new_accumulator(self, d: int) -> Accumulator:
        raise NotImplementedError

    def _finish(self, acc: Any, d: int) -> dict[str, np.ndarray]:
        """The fitted arrays from a subclass's own accumulator (typed Any: each subclass knows which)."""
        raise NotImplementedError

    def _transform_block(self, xb: np.ndarray, ob: np.ndarray) -> None:
        raise NotImplementedError

    def _inverse_block(self, xb: np.ndarray, ob: np.ndarray) -> None:
        raise NotImplementedError

    # ---- fitting -------------------------------------------------------------------------------------------

    def fit(self, X: Any, chunk_size: int | None = None) -> Self:
        """Fit on X (n_samples, n_features), streaming ``chunk_size`` rows at a time (default: about 1 MB
        blocks). Works on np.memmap inputs larger than RAM. On error the preprocessor is left unchanged."""
        X = as_matrix(X)
        return self._fit_blocks(X.shape[1], iter_blocks(X, chunk_size, self._fit_block_bytes()), fresh=True)

    def partial_fit(self, X: Any, chunk_size: int | None = None) -> Self:
        """Update the fitted statistics with more rows (incremental fit; same result as one fit on all rows,
        to float rounding). Every call finishes the fit, so the rows seen so far must allow one: a whitening
        needs at least 2 rows, a PCAWhitening with an int n_components at least that many (like scikit-learn's
        IncrementalPCA). A call with fewer is refused and changes nothing, so begin with a block that large;
        ``fit(X, chunk_size=1)`` has no such limit (it finishes once, after the last block)."""
        X = as_matrix(X)
        if self._acc is None and self._state is not None:
            raise PreprocessingError(f"{type(self).__name__} was restored from saved state, which does not keep the "
                                     "running statistics partial_fit needs; fit it again")
        if self.n_features_in_ is not None and X.shape[1] != self.n_features_in_:
            raise PreprocessingError(f"X has {X.shape[1]} features, but {type(self).__name__} was fitted with "
                                     f"{self.n_features_in_}")
        first = self._acc is None
        try:
            return self._fit_blocks(X.shape[1], iter_blocks(X, chunk_size, self._fit_block_bytes()), fresh=first)
        except TooFewSamples as exc:
            if not first:
                raise
            raise TooFewSamples(f"{exc}; partial_fit cannot start with fewer: give its first call at least that "
                                "many rows") from None

    def _fit_blocks(self, d: int, blocks: Blocks, fresh: bool = True) -> Self:
        self._check_features(d)
        acc = self._new_accumulator(d) if fresh or self._acc is None else copy.deepcopy(self._acc)
        for start, block in blocks:
            if block.shape[1] != d:
                raise PreprocessingError(f"block at row {start} has {block.shape[1]} features, expected {d}")
            acc.update(block, start)
        if acc.n == 0:
            raise PreprocessingError(f"{type(self).__name__}.fit needs at least one sample, got 0")
        state = self._finish(acc, d)  # may raise: nothing is committed before this returns
        self._acc, self._state, self.n_features_in_ = acc, state, d
        self._cache = {}
        return self

    def fit_transform(self, X: Any, chunk_size: int | None = None, out: np.ndarray | None = None) -> np.ndarray:
        return self.fit(X, chunk_size=chunk_size).transform(X, out=out)

    def _check_features(self, d: int) -> None:
        if d < 1:
            raise PreprocessingError(f"X must have at least one feature, got {d}")

    def _fit_block_bytes(self) -> int:
        return FIT_BLOCK_BYTES

    # ---- transforms ----------------------------------------------------------------------------------------

    @property
    def fitted(self) -> bool:
        return self._state is not None

    def _fitted_state(self) -> dict[str, np.ndarray]:
        """The fitted arrays; raises NotFittedError before fit."""
        if self._state is None:
            raise NotFittedError(f"{type(self).__name__} is not fitted yet: call fit(X) first")
        return self._state

    def _fitted_n_in(self) -> int:
        """``n_features_in_`` of a fitted preprocessor (set together with the fitted arrays)."""
        self._fitted_state()
        assert self.n_features_in_ is not None
        return self.n_features_in_

    @property
    def n_features_out_(self) -> int:
        self._fitted_state()
        return self._n_out()

    def _n_out(self) -> int:
        return self._fitted_n_in()

    def transform(self, X: Any, out: np.ndarray | None = None, chunk_size: int | None = None) -> np.ndarray:
        """Transformed X. The result has X's dtype for float32/float64 input (float64 for integer input), or
        ``out``'s dtype when ``out`` (n_samples, n_features_out_) is given; then it is filled and returned.
        ``out`` may be X itself for the elementwise preprocessors."""
        return self._run(X, out, chunk_size, self._fitted_n_in(), self._n_out(), self._transform_block, "X")

    def inverse_transform(self, X: Any, out: np.ndarray | None = None, chunk_size: int | None = None) -> np.ndarray:
        """Map transformed data back to the input space (see each class for what is recoverable)."""
        return self._run(X, out, chunk_size, self._n_out(), self._fitted_n_in(), self._inverse_block, "X")

    def _run(self, X: Any, out: np.ndarray | None, chunk_size: int | None, d_in: int, d_out: int,
             block_fn: BlockFn, name: str) -> np.ndarray:
        X = as_matrix(X, name)
        if X.shape[1] != d_in:
            raise PreprocessingError(f"{name} has {X.shape[1]} features, but {type(self).__name__} expects {d_in}")
        if out is None:
            dt = X.dtype if X.dtype in FLOATS else np.dtype(np.float64)
            out = np.empty((X.shape[0], d_out), dtype=dt)
        else:
            if not isinstance(out, np.ndarray) or out.dtype not in FLOATS:
                raise TypeError("out must be a float32 or float64 numpy array")
            if out.shape != (X.shape[0], d_out):
                raise PreprocessingError(f"out must have shape {(X.shape[0], d_out)}, got {out.shape}")
            if not out.flags.writeable:
                raise PreprocessingError("out must be writeable")
            if np.may_share_memory(out, X) and not _same_view(out, X):
                X = X.copy()  # a block's outputs would land on rows of X a later block has still to read
        dt = out.dtype
        self._check_dtype_once(dt)
        step = rows_per_block(max(d_in, d_out), self._transform_block_bytes(), chunk_size)
        for start in range(0, X.shape[0], step):
            xb = X[start:start + step]
            if xb.dtype != dt:
                with np.errstate(over="ignore"):  # a value beyond float32 becomes inf: refused below
                    xb = xb.astype(dt)
            ob = out[start:start + step]
            block_fn(xb, ob)
            # A non-finite value in a row poisons its output (a scaler's entry, a whitening's whole row): one scan
            # of the block's output, in cache, finds both it and an overflow of finite input.
            if not _all_finite(ob):
                self._refuse_block(X[start:start + step], xb, ob, start, name)
        return out

    def _refuse_block(self, raw: np.ndarray, xb: np.ndarray, ob: np.ndarray, start: int, name: str) -> NoReturn:
        """Name why the block's output holds a non-finite value: one in the input (raw), one the cast to the
        output's dtype made (xb), or finite rows the transform takes beyond that dtype's range."""
        if raw.dtype.kind == "f" and not np.isfinite(raw).all():
            raise_non_finite(raw, start, name)
        for block, why in ((xb, f"beyond {xb.dtype.name}'s range, the dtype of the output"),
                           (ob, f"that {type(self).__name__} maps beyond {ob.dtype.name}'s range")):
            bad = np.flatnonzero(~np.isfinite(block).all(axis=1))
            if bad.size:
                r = int(bad[0])
                raise PreprocessingError(f"{name} row {start + r} holds values {why}; rescale the data first")
        raise AssertionError("a non-finite output without a cause")  # the caller saw one

    def _check_dtype_once(self, dtype: np.dtype) -> None:
        """:meth:`check_dtype` for a transform in ``dtype``, once per fitted state (the coefficients are cached
        with it)."""
        key = ("check_dtype", dtype)
        if key not in self._cache:
            self.check_dtype(dtype)
            self._cache[key] = np.empty(0)

    def _transform_block_bytes(self) -> int:
        return TRANSFORM_BLOCK_BYTES

    def _cast(self, name: str, dtype: np.dtype) -> np.ndarray:
        """A state array (or derived array from ``_derived``) in ``dtype``, cached."""
        key = (name, np.dtype(dtype))
        a = self._cache.get(key)
        if a is None:
            state = self._fitted_state()
            src = state[name] if name in state else self._derived(name)
            a = self._cache[key] = np.ascontiguousarray(src, dtype=dtype)
        return a

    def _derived(self, name: str) -> np.ndarray:
        raise KeyError(name)

    # ---- folding and persistence ---------------------------------------------------------------------------

    def affine(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(A, c) with transform(X) == X @ A + c (A: (n_features_in_, n_features_out_), float64), or None when
        the transform is not affine."""
        return uncentred(self.centered_affine())

    @property
    def row_centering(self) -> bool:
        """Whether the transform subtracts each row's own mean and nothing else (SampleCenter): affine, but with
        an offset per row, so folding it cancels digits on rows whose mean dwarfs their spread, which nothing
        fitted can foresee; fastnn.fold keeps it and a plan runs it as its own step."""
        return False

    @property
    def row_standardizing(self) -> bool:
        """Whether the transform subtracts each row's own mean and divides by the row's own population standard
        deviation (SampleCenter(with_std=True)): not affine; a plan runs it as its own step."""
        return False

    def centered_affine(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(m, A, c) with transform(X) == (X - m) @ A + c, float64: ``m`` is the offset the transform subtracts
        before anything else (zeros when it subtracts none), or None when the transform is not affine. Kept
        apart because c - m @ A cancels digits on data far from the origin (fastnn.fold keeps m then)."""
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        """JSON-able description: class, constructor parameters, and fitted metadata."""
        params = {k: _jsonable(getattr(self, k)) for k in self._params}
        cfg: dict[str, Any] = {"class": type(self).__name__, "params": params,
               "fitted": self.fitted, "n_features_in": self.n_features_in_}
        cfg.update(self._extra_config())
        return cfg

    def _extra_config(self) -> dict[str, Any]:
        return {}

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The fitted arrays (float64 copies); with get_config, everything from_config needs."""
        return {} if self._state is None else {k: v.copy() for k, v in self._state.items()}

    def _expected_shapes(self, config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        raise NotImplementedError

    def _load_state(self, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        fitted = config.get("fitted", False)
        if not isinstance(fitted, bool):  # "yes" or 1 from a tampered file: not a fit's record
            raise PreprocessingError(f"{type(self).__name__} config 'fitted' must be true or false, got {fitted!r:.40}")
        if not fitted:
            return
        d = check_scalar(config.get("n_features_in"), f"{type(self).__name__} config n_features_in", numbers.Integral,
                         min_val=1, error=PreprocessingError)
        shapes = self._expected_shapes(config)
        state = {}
        for key, shape in shapes.items():
            if key not in arrays:
                raise PreprocessingError(f"{type(self).__name__} state is missing array {key!r}")
            a = np.asarray(arrays[key])
            if a.shape != shape:
                raise PreprocessingError(f"{type(self).__name__} state array {key!r} has shape {a.shape}, expected "
                                         f"{shape}")
            if a.dtype.kind != "f":
                raise PreprocessingError(f"{type(self).__name__} state array {key!r} has dtype {a.dtype}")
            state[key] = np.array(a, dtype=np.float64)  # exact for float64 input
        self._check_state(state)
        self.n_features_in_ = d  # nothing changes before every check has passed
        self._state = state
        self._acc = self._restore_accumulator(config, state)
        self._cache = {}

    def _restore_accumulator(self, config: dict[str, Any], state: dict[str, np.ndarray]) -> Accumulator | None:
        return None

    def _check_state(self, state: dict[str, np.ndarray]) -> None:
        """Refuse restored state no fit produces: NaN, infinite values (but a variance of data spread beyond
        float64, +inf), a scale <= 0 or below 1 / float64's largest value (the divisors: its reciprocal is
        infinite; a fit of a range near float64's largest value gives subnormal scales with finite reciprocals,
        and means and variances may be subnormal, as a fit on tiny values gives), a variance < 0, a sample count
        that is not a whole number >= 1. Each error names the array."""
        name = type(self).__name__
        for key, a in state.items():
            problem = None
            finite = np.isfinite(a) | ((a == np.inf) if key in self._unbounded else False)
            if not np.all(finite):
                problem = "contains NaN or infinite values"
            elif key in self._positive and np.any(a < MIN_DIVISOR):
                problem = f"must be > 0 with a finite reciprocal (min {np.min(a):.3g})"
            elif key in self._non_negative and np.any(a < 0):
                problem = f"must be >= 0 (min {np.min(a):.3g})"
            elif key == "n_samples_seen" and np.any((a < 1) | (a != np.floor(a))):
                problem = f"must be a whole number >= 1, got {a.tolist()!r:.50}"
            if problem:
                raise PreprocessingError(f"{name} state array {key!r} {problem}")

    def _check_agrees(self, key: str, state: dict[str, np.ndarray], expected: np.ndarray, bound: Any,
                      source: str) -> None:
        """Refuse state array ``key`` where it is off ``expected`` (what a fit computes from ``source``) by more than
        ``bound`` (rounding): a restored transform must not silently contradict the statistics stored with it."""
        got = state[key]
        off = np.flatnonzero(np.abs(got - expected) > bound)
        if off.size:
            i = int(off[0])
            raise PreprocessingError(f"{type(self).__name__} state array {key!r} disagrees with {source}: it holds "
                                     f"{got[i]:.17g} at index {i}, where a fit computes {expected[i]:.17g}")

    def check_dtype(self, dtype: Any) -> None:
        """Raise PreprocessingError if a transform in ``dtype`` (a model's float32) would compute with a
        non-finite coefficient (a float64 state value beyond float32's range, or its reciprocal), or with a
        per-feature multiplier rounded to 0 or a subnormal (every value of that feature would map to about the
        same one)."""
        dt = np.dtype(dtype)
        for key in self._transform_arrays:
            with np.errstate(over="ignore", divide="ignore", under="ignore"):
                a = self._cast(key, dt)
            if not np.all(np.isfinite(a)):
                raise PreprocessingError(f"{type(self).__name__} {key} has values that are not finite in "
                                         f"{dt.name} (beyond its range)")
            if key in self._multipliers and dt.itemsize < 8 and np.any(np.abs(a) < np.finfo(dt).tiny):
                raise PreprocessingError(f"{type(self).__name__} {key} has values below {dt.name}'s normal range "
                                         f"(min {np.min(np.abs(a)):.3g}): the data's scale is beyond what "
                                         f"{dt.name} holds")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._params)
        return f"{type(self).__name__}({args})"


def _jsonable(v: object) -> object:
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v
