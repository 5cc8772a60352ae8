"""PCA and ZCA whitening: decorrelate the features and give each unit variance.

Both fit the sample covariance C = S / (n - 1) (ddof=1, like scikit-learn's PCA) from a scatter matrix
accumulated in float64 over row blocks, and take its eigendecomposition C = U diag(lambda) U^T.

* PCAWhitening: x' = (x - mean) V^T diag(1 / sqrt(lambda_k + eps)) for the top k components V (rows), sorted by
  decreasing variance, each signed so its largest-magnitude entry is positive (scikit-learn's svd_flip with
  u_based_decision=False). With eps=0 this is scikit-learn's PCA(n_components, whiten=True).
* ZCAWhitening: x' = (x - mean) W with W = U diag(1 / sqrt(lambda + eps)) U^T -- the symmetric whitening
  matrix. Among all whitening transforms it changes the data least (it minimises ||X - X W|| over W with
  W^T C W = I), so whitened images still look like images. eps sits on the eigenvalues (the textbook /
  UFLDL convention; Keras' legacy zca_epsilon is added to the singular values instead).

Zero-variance directions (constant features, fewer samples than features) have lambda = 0: with eps > 0 every
direction is scaled by 1/sqrt(lambda + eps) as the formulas say (a zero one by 1/sqrt(eps)); with eps = 0 a
direction whose lambda is numerically zero (lambda <= lambda_max * n_features * 2.2e-16: the eigensolver's
rounding is relative to the largest variance) is left unscaled (factor 1) instead of being divided by ~0, and a
warning says how many. Either way nothing divides by zero. That test is relative to the largest variance, so on
features of very different scales (std 1e5 next to 1e-3) it also takes real small variances for zero:
standardize such features first (a StandardScaler before the whitening), or pass eps > 0.
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np

from ..validation import check_scalar
from ._base import AGREE_RTOL, CovarianceAccumulator, PreprocessingError, Preprocessor, TooFewSamples

_EPS64 = np.finfo(np.float64).eps

# Whitening fits do a syrk per block: bigger blocks run BLAS at full speed.
_WHITEN_FIT_BLOCK_BYTES = 8 << 20
_WHITEN_TRANSFORM_BLOCK_BYTES = 16 << 20
# How far a restored state's matrix identities may miss on a unit test vector (relative): a fit's miss by
# about n_features * 2.2e-16, far below this even for 10^5 features.
_PROBE_RTOL = 1e-8
# A whitening matrix rebuilt from the state PCAWhitening.of makes of it (orthonormal components, increasing
# factors) must be the file's to this many eps(dtype) * sqrt(n_features) of each column's largest entry, in that
# column: its rounding (genuine fits' worst is 1.24 in float64, 0.054 in float32).
_REBUILD_ULPS = 8


def _check_eps(eps: float) -> float:
    return check_scalar(eps, "eps", numbers.Real, min_val=0.0, error=PreprocessingError)


def _eigh_desc(acc: CovarianceAccumulator, name: str):
    """Eigenvalues (descending, clipped at 0) and eigenvectors (columns) of the sample covariance."""
    if acc.n < 2:
        raise TooFewSamples(f"{name} needs at least 2 samples to estimate a covariance (ddof=1), got {acc.n}")
    cov = acc.full_scatter() / (acc.n - 1)
    if not np.all(np.isfinite(cov)):  # data near 1e200: the scatter overflows float64 (eigh would not converge)
        raise PreprocessingError(f"{name}: the covariance of the data overflows float64; rescale the data first")
    lam, U = np.linalg.eigh(cov)
    lam, U = lam[::-1].copy(), U[:, ::-1].copy()
    lam[lam < 0] = 0.0  # eigh of a PSD matrix can return tiny negatives
    return lam, U


def _zero_threshold(lam_max: float, n_features: int) -> float:
    """The eigensolver's rounding of variances up to lam_max: a variance (plus eps) at most this is numerically 0."""
    return lam_max * n_features * _EPS64


def _factor_rule(lam: np.ndarray, eps: float, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """(1/sqrt(lam + eps), where lam + eps is numerically zero) for ``lam`` sorted decreasing; the plain factor
    is 0 where lam + eps is not positive, a value no state holds."""
    total = lam + eps
    plain = 1.0 / np.sqrt(np.where(total > 0, total, np.inf))
    return plain, total <= _zero_threshold(lam[0], n_features)


def _whiten_factors(lam: np.ndarray, eps: float, n_features: int) -> tuple[np.ndarray, int]:
    """1/sqrt(lambda + eps) for ``lam`` sorted decreasing; with eps = 0, numerically-zero directions left at 1
    (eps > 0 floors them: 1/sqrt(eps) is finite); and how many were left."""
    plain, zero = _factor_rule(lam, eps, n_features)
    left = zero & (eps == 0)
    return np.where(left, 1.0, plain), int(left.sum())


def _stored_factors(lam: np.ndarray, eps: float, n_features: int, factors: np.ndarray) -> np.ndarray:
    """The factors a state may hold for variances ``lam`` and ``eps``, as checked when it is restored: where the
    direction is numerically zero, 1 (a fit with eps = 0 leaves it so, and so did a fit with eps > 0 before every
    direction was floored: such states still load, and transform as they did) or 1/sqrt(lam + eps) (a fit with
    eps > 0 now; and PCAWhitening.of / ZCAWhitening.of of such a fit's matrix, whose state says eps 0 and
    lam = 1/f**2); elsewhere 1/sqrt(lam + eps)."""
    plain, zero = _factor_rule(lam, eps, n_features)
    return np.where(zero & (factors == 1.0), 1.0, plain)


def _fitted_factors(lam: np.ndarray, eps: float, n_features: int, name: str) -> np.ndarray:
    """The whitening factors of a fit, with a warning when some directions are left unscaled."""
    f, n_zero = _whiten_factors(lam, eps, n_features)
    if n_zero:
        warnings.warn(f"{name}: {n_zero} of {lam.size} directions have (numerically) zero variance, at most "
                      f"{_zero_threshold(lam[0], n_features):.3g} (relative to the largest, {lam[0]:.3g}), and are "
                      "left unscaled; if some are real (features on very different scales), standardize the features "
                      "first; or pass eps > 0 (e.g. 1e-5) to whiten every direction with a floor",
                      RuntimeWarning, stacklevel=4)
    return f


def _probes(n: int) -> np.ndarray:
    """Two fixed random unit vectors (the columns) of length n. A matrix identity checked on them costs O(n^2)
    instead of the O(n^3) of forming the matrices (0.5 s at n = 3072), and only a change aimed at these very
    vectors leaves them unmoved."""
    v = np.random.default_rng(0).standard_normal((n, 2))
    return v / np.linalg.norm(v, axis=0)


def _svd_flip_rows(V: np.ndarray) -> np.ndarray:
    """Sign each row so that its largest-|.| entry (first one on ties) is positive (sklearn's svd_flip on Vt)."""
    idx = np.argmax(np.abs(V), axis=1)
    signs = np.sign(V[np.arange(V.shape[0]), idx])
    signs[signs == 0] = 1.0
    return V * signs[:, None]


def _scaled_count(norms: np.ndarray, tol: float) -> int:
    """How many leading columns of norms ``norms`` a PCA fit scaled: the trailing ones of norm 1 (to ``tol``,
    relative) after a larger norm are directions it left unscaled (zero variance, factor 1), which break the
    increasing order of the scaled ones' factors."""
    n = norms.size
    while n and abs(norms[n - 1] - 1.0) <= tol:
        n -= 1
    return n if 0 < n < norms.size and norms[n - 1] > 1.0 else norms.size


def _component_rows(unit: np.ndarray) -> np.ndarray:
    """The orthonormal component rows for a whitening matrix's unit columns ``unit`` (d, k): the columns themselves
    when they are orthonormal to float64 rounding, as a float64 file's from a fit always are, so the rebuilt
    matrix is the file's to an ulp of a few entries (the polar factor moved most entries by an ulp, which an
    ill-conditioned whitening turned into 1e-10 on (x - mean) @ A); else their nearest orthonormal rows, the polar
    factor (a float32 file's columns are orthogonal only to its rounding, which the state check refuses)."""
    gram_off = float(np.max(np.abs(unit.T @ unit - np.eye(unit.shape[1]))))
    if gram_off <= _REBUILD_ULPS * _EPS64 * np.sqrt(unit.shape[0]):
        return unit.T.copy()
    u, _, vt = np.linalg.svd(unit, full_matrices=False)
    return (u @ vt).T


def _check_rebuilds(rebuilt: np.ndarray, A: np.ndarray, rtol: float, dtype: np.dtype) -> None:
    """Refuse an A that the whitening ``rebuilt`` from it misses by more than ``rtol`` of a column's largest entry
    in that column: per column, since a column of small norm next to the largest must be rebuilt to its own
    rounding (a whole-matrix scale let a small column be tilted by a degree and silently replaced)."""
    scale = rtol * np.max(np.abs(A), axis=0)
    off = np.max(np.abs(rebuilt - A), axis=0)
    j = int(np.argmax(off / scale))
    if not off[j] <= scale[j]:
        raise PreprocessingError(f"PCAWhitening.of: the matrix is not a PCA whitening's (orthonormal components "
                                 f"scaled by increasing factors) to the rounding of {dtype.name}: the nearest one "
                                 f"is off by {off[j]:.3g} in column {j}, where rounding gives at most {scale[j]:.3g}")


def _variances_of(factors: np.ndarray, name: str) -> np.ndarray:
    """The variances 1 / f**2 whose whitening factors (eps 0) are ``factors``, given increasing (eigh's order, or
    a running maximum): they must be positive, which the smallest tells; a PreprocessingError says when not."""
    if not factors[0] > 0:
        raise PreprocessingError(f"{name}.of: the whitening factors (the matrix's column norms or eigenvalues) "
                                 f"{np.array2string(factors, precision=3, threshold=6)} are not positive, as a "
                                 "fit's are")
    return 1.0 / factors**2


class _Whitening(Preprocessor):
    _positive = ("factors",)
    _transform_arrays = ("mean", "A")
    eps: float
    #: the state arrays of the kept directions' variances (sorted decreasing) and of the directions (orthonormal rows)
    _variances: str
    _directions: str

    def _check_state(self, state):
        """The base checks, and the arrays a fit stores together: factors = 1/sqrt(variances + eps) as a fit
        computes them, orthonormal directions (to rounding). A tampered or inconsistent file is refused, naming
        the array, instead of transforming with values that contradict each other."""
        super()._check_state(state)
        lam = state[self._variances]
        if np.any(np.diff(lam) > 0):
            raise PreprocessingError(f"{type(self).__name__} state array {self._variances!r} must be sorted "
                                     "decreasing, as a fit stores it")
        factors = _stored_factors(lam, self.eps, state["mean"].shape[0], state["factors"])
        self._check_agrees("factors", state, factors, AGREE_RTOL * factors, f"{self._variances} and eps={self.eps:g}")
        V = state[self._directions]
        p = _probes(V.shape[0])
        self._check_identity(self._directions, V @ (V.T @ p), p, 1.0, "is not orthonormal")

    def _check_identity(self, key: str, got: np.ndarray, expected: np.ndarray, size: float, claim: str) -> None:
        """Refuse state array ``key`` when ``got`` (a matrix identity applied to the probes) is off ``expected`` by
        more than rounding on values of ``size``: a fit's arrays agree to about n_features * 2.2e-16."""
        tol = _PROBE_RTOL * size
        off = float(np.max(np.abs(got - expected)))
        if not off <= tol:
            raise PreprocessingError(f"{type(self).__name__} state array {key!r} {claim}: off by {off:.3g} on a test "
                                     f"vector, where rounding gives at most {tol:.3g}")

    def _new_accumulator(self, d):
        return CovarianceAccumulator(d)

    def _fit_block_bytes(self):
        return _WHITEN_FIT_BLOCK_BYTES

    def _transform_block_bytes(self):
        return _WHITEN_TRANSFORM_BLOCK_BYTES

    def _transform_block(self, xb, ob):
        # centre first, then one matmul: better rounding than X @ A - mean @ A when |mean| >> spread
        c = xb - self._cast("mean", ob.dtype)
        np.matmul(c, self._cast("A", ob.dtype), out=ob)

    def _inverse_block(self, xb, ob):
        np.matmul(xb, self._cast("A_inv", ob.dtype), out=ob)
        np.add(ob, self._cast("mean", ob.dtype), out=ob)

    def centered_affine(self):
        mean = self._fitted_state()["mean"]
        A = self._derived("A")
        return mean.copy(), A, np.zeros(A.shape[1])

    @property
    def mean_(self):
        return self._fitted_state()["mean"]


class PCAWhitening(_Whitening):
    """PCA whitening (see the module docstring): project on the top ``n_components`` principal components and
    give each unit variance.

    Parameters
    ----------
    n_components : None, int or float
        None keeps min(n_samples, n_features) components (scikit-learn's rule); an int keeps that many (error
        if it exceeds n_features or n_samples); a float in (0, 1) keeps the fewest components explaining more
        than that fraction of the variance.
    eps : float, default 0
        Added to each component's variance before the square root. 0 matches scikit-learn's
        PCA(whiten=True); a small positive value (1e-5 for data in [0, 1]) regularises tiny components.

    inverse_transform maps back exactly when all components are kept, else to the projection on them.
    """

    _params = ("n_components", "eps")
    _non_negative = ("explained_variance", "explained_variance_ratio")
    _variances, _directions = "explained_variance", "components"

    def __init__(self, n_components: int | float | None = None, eps: float = 0.0) -> None:
        super().__init__()
        if n_components is not None:
            if isinstance(n_components, numbers.Integral) and not isinstance(n_components, (bool, np.bool_)):
                n_components = check_scalar(n_components, "n_components", numbers.Integral, min_val=1,
                                            error=PreprocessingError)
            else:  # a variance fraction
                n_components = check_scalar(n_components, "a float n_components (a variance fraction)", numbers.Real,
                                            min_val=0.0, max_val=1.0, include_boundaries="neither",
                                            error=PreprocessingError)
        self.n_components = n_components
        self.eps = _check_eps(eps)

    def _check_features(self, d):
        super()._check_features(d)
        k = self.n_components
        if isinstance(k, int) and k > d:
            raise PreprocessingError(f"n_components={k} exceeds the number of features ({d})")

    def _finish(self, acc, d):
        lam, U = _eigh_desc(acc, "PCAWhitening")
        k = self.n_components
        if k is None:
            k = min(acc.n, d)
        elif isinstance(k, float):
            ratio = np.cumsum(lam) / max(lam.sum(), np.finfo(np.float64).tiny)
            k = int(np.searchsorted(ratio, k, side="right") + 1)
            k = min(k, d)
        elif k > acc.n:
            raise TooFewSamples(f"n_components={k} exceeds the number of samples ({acc.n})")
        V = _svd_flip_rows(U[:, :k].T.copy())
        factors = _fitted_factors(lam[:k], self.eps, d, "PCAWhitening")
        total = lam.sum()
        return {"mean": acc.mean.copy(), "components": V, "explained_variance": lam[:k].copy(),
                "explained_variance_ratio": lam[:k] / total if total > 0 else np.zeros(k),
                "factors": factors, "n_samples_seen": np.array([float(acc.n)])}

    def _n_out(self):
        return self._fitted_state()["components"].shape[0]

    @classmethod
    def of(cls, mean: np.ndarray, A: np.ndarray) -> PCAWhitening:
        """A fitted PCAWhitening computing (x - mean) @ A to A's rounding (what fastnn.onnx.load makes of the
        offset and Gemm that export writes for one before a SampleCenter), with eps 0, so it saves and reloads.
        The components are A's columns scaled to 1, kept as they are when orthonormal to float64 rounding (a
        float64 fit's), else made orthonormal (the nearest such rows: a float32 A's columns are orthogonal only to
        its rounding); the factors are its column norms, the variances 1 / factors**2; trailing columns of norm 1
        after larger norms are the directions a fit left unscaled (zero variance: a constant feature), stored with
        variance 0 as the fit stores them. The matrix these rebuild must be A to the rounding of A's dtype (a
        float32 or float64 file's), column by column: max|rebuilt[:, j] - A[:, j]| <= 8 eps sqrt(d) max|A[:, j]|.
        A PreprocessingError names an A that no PCA fit gives: a zero column, columns not orthogonal or norms not
        increasing beyond that rounding."""
        dtype = np.asarray(A).dtype if np.asarray(A).dtype == np.float32 else np.dtype(np.float64)
        mean, A = np.array(mean, dtype=np.float64), np.array(A, dtype=np.float64)
        norms = np.linalg.norm(A, axis=0)
        with np.errstate(all="ignore"):
            unit = A / norms
        if not np.all(np.isfinite(unit)):
            raise PreprocessingError("PCAWhitening.of: a column of the matrix is 0 or not finite")
        tol = _REBUILD_ULPS * np.finfo(dtype).eps * np.sqrt(A.shape[0])
        n_scaled = _scaled_count(norms, tol)
        factors = np.ones_like(norms)  # the unscaled directions' factor, variance 0 (_whiten_factors with eps 0)
        factors[:n_scaled] = np.maximum.accumulate(norms[:n_scaled])  # equal variances' norms differ by rounding
        lam = np.zeros_like(norms)
        lam[:n_scaled] = _variances_of(factors[:n_scaled], "PCAWhitening")
        obj = cls()
        obj._load_state({"fitted": True, "n_features_in": A.shape[0], "n_components_": A.shape[1]},
                        {"mean": mean, "components": _component_rows(unit), "explained_variance": lam,
                         "explained_variance_ratio": lam / lam.sum() if lam.any() else lam, "factors": factors,
                         "n_samples_seen": np.ones(1)})
        _check_rebuilds(obj._derived("A"), A, tol, dtype)
        return obj

    def _derived(self, name):
        state = self._fitted_state()
        V, f = state["components"], state["factors"]
        if name == "A":
            return V.T * f  # (d, k)
        if name == "A_inv":
            return V / f[:, None]  # (k, d): undo the scaling, rotate back
        raise KeyError(name)

    def _extra_config(self):
        return {"n_components_": None if self._state is None else self._n_out()}

    def _expected_shapes(self, config):
        d, k = config["n_features_in"], config.get("n_components_")
        check_scalar(k, "PCAWhitening config n_components_", numbers.Integral, min_val=1, max_val=d,
                     error=PreprocessingError)
        if isinstance(self.n_components, numbers.Integral) and self.n_components != k:  # a fit keeps exactly that
            raise PreprocessingError(f"PCAWhitening config: n_components={self.n_components} but its state holds {k}")
        return {"mean": (d,), "components": (k, d), "explained_variance": (k,), "explained_variance_ratio": (k,),
                "factors": (k,), "n_samples_seen": (1,)}

    @property
    def components_(self):
        return self._fitted_state()["components"]

    @property
    def explained_variance_(self):
        return self._fitted_state()["explained_variance"]

    @property
    def explained_variance_ratio_(self):
        return self._fitted_state()["explained_variance_ratio"]

    @property
    def n_components_(self):
        self._fitted_state()
        return self._n_out()


class ZCAWhitening(_Whitening):
    """ZCA whitening (see the module docstring): x' = (x - mean_) W, W = U diag(1/sqrt(lambda + eps)) U^T,
    symmetric. ``eps`` (default 1e-5) regularises small eigenvalues: larger values whiten less and keep more
    of the image's look (UFLDL uses 0.1 for natural image patches in [0, 1]).

    ``whitening_matrix_`` is W (exactly symmetric); inverse_transform multiplies by W^-1 and adds the mean
    back, recovering the input to float rounding."""

    _params = ("eps",)
    _non_negative = ("eigenvalues",)
    _variances, _directions = "eigenvalues", "eigenvectors"

    def __init__(self, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = _check_eps(eps)

    def _finish(self, acc, d):
        lam, U = _eigh_desc(acc, "ZCAWhitening")
        f = _fitted_factors(lam, self.eps, d, "ZCAWhitening")
        W = (U * f) @ U.T
        W = 0.5 * (W + W.T)  # exactly symmetric, not just to rounding
        return {"mean": acc.mean.copy(), "eigenvalues": lam, "eigenvectors": U, "factors": f,
                "whitening_matrix": W, "n_samples_seen": np.array([float(acc.n)])}

    @classmethod
    def of(cls, mean: np.ndarray, W: np.ndarray) -> ZCAWhitening:
        """A fitted ZCAWhitening computing (x - mean) @ W exactly (what fastnn.onnx.load makes of the offset and
        Gemm that export writes for one before a SampleCenter): W is its whitening matrix, W's eigenvalues its
        factors and eigenvectors its eigenvectors, the variances 1 / factors**2 with eps 0, so it saves and
        reloads. A PreprocessingError names a W that no ZCA fit gives: not square and symmetric, or not positive
        definite."""
        mean, W = np.array(mean, dtype=np.float64), np.array(W, dtype=np.float64)
        if W.ndim != 2 or W.shape[0] != W.shape[1] or not np.array_equal(W, W.T):
            raise PreprocessingError(f"ZCAWhitening.of: a whitening matrix is square and symmetric, got shape "
                                     f"{W.shape} {'' if W.shape[0] != W.shape[-1] else 'not symmetric'}".rstrip())
        factors, U = np.linalg.eigh(W)  # increasing: the variances decreasing
        lam = _variances_of(factors, "ZCAWhitening")
        obj = cls(eps=0.0)
        obj._load_state({"fitted": True, "n_features_in": W.shape[0]},
                        {"mean": mean, "eigenvalues": lam, "eigenvectors": U, "factors": factors,
                         "whitening_matrix": W, "n_samples_seen": np.ones(1)})
        return obj

    def _check_state(self, state):
        """The whitening checks, and W = U diag(factors) U^T: the transform multiplies by W, its inverse by
        U diag(1 / factors) U^T, so a W that is not made of the stored eigenvectors and factors would not invert."""
        super()._check_state(state)
        U, f, W = state["eigenvectors"], state["factors"], state["whitening_matrix"]
        p = _probes(W.shape[0])
        self._check_identity("whitening_matrix", W @ p, U @ (f[:, None] * (U.T @ p)), float(f.max()),
                             "is not eigenvectors diag(factors) eigenvectors^T")

    def _derived(self, name):
        if name == "A":
            return self._fitted_state()["whitening_matrix"]
        if name == "A_inv":
            state = self._fitted_state()
            U, f = state["eigenvectors"], state["factors"]
            Wi = (U / f) @ U.T
            return 0.5 * (Wi + Wi.T)
        raise KeyError(name)

    def centered_affine(self):
        state = self._fitted_state()
        W = state["whitening_matrix"].copy()
        return state["mean"].copy(), W, np.zeros(W.shape[1])

    def _expected_shapes(self, config):
        d = config["n_features_in"]
        return {"mean": (d,), "eigenvalues": (d,), "eigenvectors": (d, d), "factors": (d,),
                "whitening_matrix": (d, d), "n_samples_seen": (1,)}

    @property
    def whitening_matrix_(self):
        return self._fitted_state()["whitening_matrix"]

    @property
    def eigenvalues_(self):
        return self._fitted_state()["eigenvalues"]
