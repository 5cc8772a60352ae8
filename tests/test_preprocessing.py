"""fastnn.preprocessing: numerics against scikit-learn and first principles, streaming fits, persistence, errors."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import fastnn.preprocessing as P
from fastnn.preprocessing import PreprocessingError

sk_pre = pytest.importorskip("sklearn.preprocessing")
sk_dec = pytest.importorskip("sklearn.decomposition")


def _data(n=600, d=12, seed=0, constant_col=None):
    rng = np.random.default_rng(seed)
    # correlated features on very different scales and offsets
    M = rng.normal(size=(d, d))
    X = rng.normal(size=(n, d)) @ M * rng.uniform(0.1, 20, d) + rng.normal(size=d) * 10
    if constant_col is not None:
        X[:, constant_col] = 3.25
    return X


ALL = [
    lambda: P.MinMaxScaler(),
    lambda: P.MinMaxScaler(feature_range=(-1, 2)),
    lambda: P.StandardScaler(),
    lambda: P.MeanCenter(),
    lambda: P.SampleCenter(),
    lambda: P.SampleCenter(with_std=True),
    lambda: P.PCAWhitening(),
    lambda: P.PCAWhitening(n_components=5, eps=1e-3),
    lambda: P.ZCAWhitening(eps=1e-5),
    lambda: P.Pipeline([P.StandardScaler(), P.ZCAWhitening(eps=1e-4)]),
]
IDS = ["minmax", "minmax_range", "standard", "meancenter", "samplecenter", "samplecenter_std", "pca", "pca5",
       "zca", "pipeline"]


# ---------------------------------------------------------------------------------------------- scikit-learn


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_standard_scaler_matches_sklearn(dtype):
    X = _data(constant_col=4).astype(dtype)
    ours = P.StandardScaler().fit(X)
    ref = sk_pre.StandardScaler().fit(X)
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-6, atol=2e-6)
    np.testing.assert_allclose(ours.mean_, ref.mean_, rtol=1e-12)
    np.testing.assert_allclose(ours.var_, ref.var_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.scale_, ref.scale_, rtol=1e-9)
    assert ours.scale_[4] == 1.0  # constant feature left unscaled, like sklearn
    out = ours.transform(X)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, ref.transform(X), **tol)
    np.testing.assert_allclose(ours.inverse_transform(out), X, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-3 if dtype == np.float32 else 1e-9)


def test_a_tiny_but_varying_feature_is_scaled_like_sklearn():
    """Only constant features stay unscaled (scikit-learn's constant mask); a feature of std 1e-15 was left at
    scale 1 by a 10-epsilon floor scikit-learn does not apply with its mask."""
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.standard_normal(500), rng.standard_normal(500) * 1e-15, np.full(500, 0.3)])
    ours, ref = P.StandardScaler().fit(X), sk_pre.StandardScaler().fit(X)
    np.testing.assert_allclose(ours.scale_, ref.scale_, rtol=1e-12)
    assert ours.scale_[2] == 1.0
    np.testing.assert_allclose(ours.transform(X).std(axis=0), [1.0, 1.0, 0.0], atol=1e-9)


def _nearly_constant(rng, n=30):
    """Features 3, 1/3, 1e6 and -7.25 plus 0..8 of their ulps: variances of order ulp^2, where the rounding of
    the mean (half an ulp) counts as much as the spread."""
    base = np.array([3.0, 1 / 3, 1e6, -7.25])
    return base + rng.integers(0, 9, (n, base.size)) * np.spacing(base)


def _exact_scatter(X):
    """sum (x - mean)(x - mean)^T in exact rational arithmetic, rounded once."""
    from fractions import Fraction

    cols = [[Fraction(float(v)) for v in X[:, j]] for j in range(X.shape[1])]
    dev = [[v - sum(col) / len(col) for v in col] for col in cols]
    return np.array([[float(sum(a * b for a, b in zip(di, dj))) for dj in dev] for di in dev])


def test_variance_of_nearly_constant_features_is_exact_to_rounding():
    """StandardScaler.var_ of 3 + {0, 1, 2, 1.5} ulp was 26% off (scikit-learn's exact): the sum of squared
    deviations from the rounded block mean also counts n times that rounding squared. The corrected two-pass
    algorithm (less (sum c)^2 / n) is exact to rounding, for the moments and the whitenings' scatter matrix."""
    from fastnn.preprocessing._base import CovarianceAccumulator

    rng = np.random.default_rng(0)
    for X in [np.array([[3.0], [3.0 + 2**-50], [3.0 + 2**-49], [3.0 + 3 * 2**-51]])] + [
            _nearly_constant(rng) for _ in range(20)]:
        n, S = X.shape[0], _exact_scatter(X)
        exact_var = np.diag(S) / n
        var = P.StandardScaler().fit(X).var_
        np.testing.assert_allclose(var, exact_var, rtol=8 * np.finfo(float).eps, atol=0)
        np.testing.assert_allclose(sk_pre.StandardScaler().fit(X).var_, exact_var, rtol=8 * np.finfo(float).eps)
        acc = CovarianceAccumulator(X.shape[1])
        acc.update(X, 0)
        scale = np.sqrt(np.outer(np.diag(S), np.diag(S)))
        assert np.all(np.abs(acc.full_scatter() - S) <= 16 * np.finfo(float).eps * scale)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("feature_range", [(0, 1), (-1, 2)])
def test_minmax_scaler_matches_sklearn(dtype, feature_range):
    X = _data(constant_col=2).astype(dtype)
    ours = P.MinMaxScaler(feature_range).fit(X)
    ref = sk_pre.MinMaxScaler(feature_range=feature_range).fit(X)
    np.testing.assert_allclose(ours.data_min_, ref.data_min_)
    np.testing.assert_allclose(ours.data_max_, ref.data_max_)
    np.testing.assert_allclose(ours.scale_, ref.scale_, rtol=1e-6 if dtype == np.float32 else 1e-14)
    out = ours.transform(X)
    assert out.dtype == dtype
    tol = 1e-12 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(out, ref.transform(X), rtol=tol, atol=tol)
    assert out.min() == pytest.approx(feature_range[0], abs=tol)
    assert out.max() == pytest.approx(feature_range[1], abs=tol)


@pytest.mark.parametrize("n_components", [None, 7, 0.9])
def test_pca_whitening_matches_sklearn(n_components):
    X = _data(d=15)
    ours = P.PCAWhitening(n_components=n_components).fit(X, chunk_size=53)
    ref = sk_dec.PCA(n_components=n_components, whiten=True).fit(X)
    assert ours.n_components_ == ref.n_components_
    # eigenvalues agree to rounding relative to the largest (condition number of this data: ~1e6)
    np.testing.assert_allclose(ours.explained_variance_, ref.explained_variance_, rtol=1e-10,
                               atol=1e-12 * ref.explained_variance_[0])
    np.testing.assert_allclose(ours.components_, ref.components_, atol=1e-8)  # same sign convention
    np.testing.assert_allclose(ours.transform(X), ref.transform(X), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ours.inverse_transform(ours.transform(X)), ref.inverse_transform(ref.transform(X)),
                               rtol=1e-9, atol=1e-8)


def test_pca_whitening_float32_keeps_dtype_and_float64_statistics():
    X = _data(d=15)
    X32 = X.astype(np.float32)
    ours = P.PCAWhitening().fit(X32)
    ref = sk_dec.PCA(whiten=True).fit(X32.astype(np.float64))  # the exact answer for the float32 data
    out = ours.transform(X32)
    assert out.dtype == np.float32
    np.testing.assert_allclose(ours.components_, ref.components_, atol=1e-9)
    np.testing.assert_allclose(out, ref.transform(X32.astype(np.float64)), atol=5e-5)


# ------------------------------------------------------------------------------------------------ whitening


@pytest.mark.parametrize("cls", [P.PCAWhitening, P.ZCAWhitening])
def test_whitened_training_data_has_identity_covariance(cls):
    X = _data(n=2000, d=20)
    Z = cls(eps=0.0).fit(X).transform(X)
    np.testing.assert_allclose(np.cov(Z, rowvar=False), np.eye(20), atol=1e-4)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-10)


def test_zca_matrix_symmetric_and_formula():
    X = _data(d=10)
    eps = 1e-3
    z = P.ZCAWhitening(eps=eps).fit(X)
    W = z.whitening_matrix_
    assert np.array_equal(W, W.T)
    lam, U = np.linalg.eigh(np.cov(X, rowvar=False))
    np.testing.assert_allclose(W, U @ np.diag(1 / np.sqrt(lam + eps)) @ U.T, rtol=1e-9, atol=1e-12)


def test_zca_is_the_closest_whitening_to_the_data():
    """ZCA minimises ||Xc - Xc W||_F among whitening matrices; every other whitening is W Q for orthogonal Q."""
    X = _data(n=1500, d=8, seed=3)
    Xc = X - X.mean(axis=0)
    z = P.ZCAWhitening(eps=0.0).fit(X)
    W = z.whitening_matrix_
    dist = np.linalg.norm(Xc - Xc @ W)
    # PCA whitening (all components) is another whitening: rotate into the eigenbasis
    p = P.PCAWhitening(eps=0.0).fit(X)
    A, _ = p.affine()
    assert np.allclose(np.cov(Xc @ A, rowvar=False), np.eye(8), atol=1e-8)
    assert dist < np.linalg.norm(Xc - Xc @ A)
    rng = np.random.default_rng(0)
    for _ in range(20):
        Q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
        assert dist < np.linalg.norm(Xc - Xc @ W @ Q)
        # small rotations too, so the minimum is tested locally, not only against far-away whitenings
        S = rng.normal(size=(8, 8)) * 1e-3
        R = np.linalg.qr(np.eye(8) + (S - S.T))[0]
        R = R * np.sign(np.diag(R))
        assert dist <= np.linalg.norm(Xc - Xc @ W @ R)


def test_constant_feature_in_whitening_handled_by_eps():
    X = _data(d=6, constant_col=1)
    for cls in (P.PCAWhitening, P.ZCAWhitening):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            Z = cls(eps=1e-5).fit(X).transform(X)  # eps: no warning, no division by zero
        assert np.isfinite(Z).all()
        with pytest.warns(RuntimeWarning, match="zero variance"):
            pre = cls(eps=0.0).fit(X)
        Z = pre.transform(X)
        assert np.isfinite(Z).all() and np.abs(Z).max() < 100


def _mixed_units(rng, n=300):
    """Two independent features of std 1e5 and 1e-3 (different units), and a constant one."""
    return np.column_stack([rng.standard_normal(n) * 1e5, rng.standard_normal(n) * 1e-3, np.full(n, 0.3)])


def test_whitening_with_eps_follows_its_formula_on_mixed_scales():
    """With eps > 0 the factors are 1/sqrt(lambda + eps) for every direction, as documented: the std-1e-3 feature
    next to a std-1e5 one, and the constant one, were taken for zero variance (below lambda_max * d * eps64) and
    left at factor 1 (output variance 1e-6 where the formula gives ~0.5), with a warning to "pass eps > 0"."""
    rng = np.random.default_rng(0)
    X = _mixed_units(rng)
    lam, U = np.linalg.eigh(np.cov(X, rowvar=False))
    lam = np.maximum(lam, 0)
    for eps in (1e-6, 1e-12):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # nothing is left unscaled: no warning
            zca, pca = P.ZCAWhitening(eps=eps).fit(X), P.PCAWhitening(eps=eps).fit(X)
        W = (U / np.sqrt(lam + eps)) @ U.T
        np.testing.assert_allclose(zca.whitening_matrix_, W, rtol=1e-6, atol=1e-9 * np.abs(W).max())
        np.testing.assert_allclose(np.sort(zca.state_arrays()["factors"]), np.sort(1 / np.sqrt(lam + eps)), rtol=1e-6)
        ref = sk_dec.PCA(svd_solver="full").fit(X)
        want = (X - ref.mean_) @ ref.components_.T / np.sqrt(ref.explained_variance_ + eps)
        np.testing.assert_allclose(pca.transform(X), want, rtol=1e-6, atol=1e-6 * np.abs(want[:, :2]).max())
    assert P.ZCAWhitening(eps=1e-6).fit(X).state_arrays()["factors"][-1] == pytest.approx(1e3)  # 1/sqrt(eps)


def test_whitening_with_eps_zero_warns_to_standardize_mixed_scales():
    """With eps = 0 the zero test stays (relative to the largest variance): its warning names the threshold and
    the remedy for real small variances (standardize first); a StandardScaler first whitens like scikit-learn."""
    X = _mixed_units(np.random.default_rng(0))[:, :2]
    with pytest.warns(RuntimeWarning, match="standardize the features first"):
        P.PCAWhitening().fit(X)
    Z = P.Pipeline([P.StandardScaler(), P.PCAWhitening()]).fit_transform(X)
    np.testing.assert_allclose(np.var(Z, axis=0, ddof=1), [1, 1], rtol=1e-10)


def test_a_whitening_state_with_eps_saved_before_the_floor_still_loads():
    """States written when eps > 0 still left numerically zero directions at factor 1 load and transform as
    they did (the restore check accepts that factor there, and only there)."""
    X = _mixed_units(np.random.default_rng(0))
    for pre, lam_key in ((P.ZCAWhitening(eps=1e-6), "eigenvalues"), (P.PCAWhitening(eps=1e-6), "explained_variance")):
        pre.fit(X)
        arrays = pre.state_arrays()
        arrays["factors"][-1] = 1.0  # as the fit before wrote it for the constant feature
        if lam_key == "eigenvalues":
            U = arrays["eigenvectors"]
            arrays["whitening_matrix"] = (U * arrays["factors"]) @ U.T
            arrays["whitening_matrix"] = 0.5 * (arrays["whitening_matrix"] + arrays["whitening_matrix"].T)
        old = P.from_config(json.loads(json.dumps(pre.get_config())), arrays)
        np.testing.assert_array_equal(old.state_arrays()["factors"], arrays["factors"])
        arrays["factors"][0] = 1.0  # not a numerically zero direction: refused
        with pytest.raises(PreprocessingError, match="'factors' disagrees"):
            P.from_config(pre.get_config(), arrays)


@pytest.mark.filterwarnings("ignore:.*zero variance:RuntimeWarning")  # the first blocks' rank-deficient fits
def test_whitening_partial_fit_needs_a_first_block_that_allows_a_fit():
    """partial_fit finishes the fit at every call: a whitening's first call needs 2 rows (n_components rows for a
    PCA keeping that many); fewer are refused with a message saying so (it said only "needs at least 2 samples"),
    and nothing changes. After such a first block, single rows continue it to the one-shot fit."""
    X = np.random.default_rng(0).standard_normal((12, 4))
    for make, first in ((P.ZCAWhitening, 2), (lambda: P.PCAWhitening(3), 3)):
        pre = make()
        with pytest.raises(PreprocessingError, match="give its first call at least that many rows"):
            pre.partial_fit(X[:first - 1])
        assert not pre.fitted
        pre.partial_fit(X[:first])
        for i in range(first, len(X)):
            pre.partial_fit(X[i:i + 1])
        np.testing.assert_allclose(pre.transform(X), make().fit(X).transform(X), rtol=1e-9, atol=1e-9)


def test_zca_preserves_image_look_better_than_pca():
    """The reason for ZCA: whitened images stay close to the originals."""
    rng = np.random.default_rng(1)
    imgs = np.cumsum(np.cumsum(rng.normal(size=(800, 8, 8)), axis=1), axis=2).reshape(800, 64)  # smooth
    zca = P.ZCAWhitening(eps=0.1).fit(imgs)
    pca = P.PCAWhitening(eps=0.1).fit(imgs)
    c = imgs - imgs.mean(0)
    corr_z = np.mean([np.corrcoef(a, b)[0, 1] for a, b in zip(c[:50], zca.transform(imgs[:50]))])
    corr_p = np.mean([np.corrcoef(a, b)[0, 1] for a, b in zip(c[:50], pca.transform(imgs[:50]))])
    assert corr_z > 0.3 and corr_z > corr_p + 0.2


# ----------------------------------------------------------------------------------------------- streaming


@pytest.mark.parametrize("make", ALL, ids=IDS)
def test_chunked_fit_equals_in_memory(make):
    X = _data(n=301)
    full = make().fit(X, chunk_size=10_000)
    for chunk in (1, 7, 64):
        part = make().fit(X, chunk_size=chunk)
        for k, v in full.state_arrays().items():
            np.testing.assert_allclose(part.state_arrays()[k], v, rtol=1e-9, atol=1e-9, err_msg=k)
        np.testing.assert_allclose(part.transform(X), full.transform(X), rtol=1e-8, atol=1e-8)


def test_memmap_fit_streams(tmp_path):
    X = _data(n=5000, d=16).astype(np.float32)
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float32, shape=X.shape)
    mm[:] = X
    mm.flush()
    ro = np.load(tmp_path / "x.npy", mmap_mode="r")
    for cls in (P.StandardScaler, P.PCAWhitening, P.MinMaxScaler):
        a = cls().fit(ro, chunk_size=333)
        b = cls().fit(X)
        np.testing.assert_allclose(a.transform(ro), b.transform(X), rtol=1e-6, atol=1e-6)


def test_partial_fit_equals_fit():
    X = _data(n=900)
    for cls in (P.StandardScaler, P.MinMaxScaler, P.ZCAWhitening, P.PCAWhitening):
        inc = cls()
        for part in np.array_split(X, 7):
            inc.partial_fit(part)
        full = cls().fit(X)
        for k, v in full.state_arrays().items():
            np.testing.assert_allclose(inc.state_arrays()[k], v, rtol=1e-9, atol=1e-9, err_msg=f"{cls.__name__}.{k}")


def test_statistics_accumulate_in_float64():
    """A float32 sum would lose the small spread on top of a large offset; float64 blocks plus Chan's update
    keep the variance exact to rounding."""
    rng = np.random.default_rng(0)
    X = (1e4 + rng.normal(size=(200_000, 2))).astype(np.float32)
    s = P.StandardScaler().fit(X, chunk_size=1000)
    np.testing.assert_allclose(s.var_, X.astype(np.float64).var(axis=0), rtol=1e-10)


# ------------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("make", ALL, ids=IDS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_fit_input_is_an_error_naming_the_row(make, bad):
    X = _data(n=100)
    pre = make().fit(X)
    before = {k: v.copy() for k, v in pre.state_arrays().items()}
    Xb = X.copy()
    Xb[57, 3] = bad
    with pytest.raises(PreprocessingError, match=r"row 57, column 3"):
        pre.fit(Xb, chunk_size=10)
    for k, v in pre.state_arrays().items():  # a failed fit changes nothing
        np.testing.assert_array_equal(v, before[k])


def test_feature_count_mismatch():
    X = _data(d=6)
    for make in ALL:
        pre = make().fit(X)
        with pytest.raises(PreprocessingError, match="features"):
            pre.transform(X[:, :5])


def test_n_components_errors():
    X = _data(n=50, d=6)
    with pytest.raises(PreprocessingError, match="exceeds the number of features"):
        P.PCAWhitening(n_components=7).fit(X)
    with pytest.raises(PreprocessingError, match="exceeds the number of samples"):
        P.PCAWhitening(n_components=5).fit(X[:4])
    for bad in (0, -1, 1.5, "3", True):
        with pytest.raises((PreprocessingError, TypeError)):
            P.PCAWhitening(n_components=bad)


def test_other_bad_inputs():
    with pytest.raises(P.NotFittedError):
        P.StandardScaler().transform(np.ones((2, 2)))
    with pytest.raises(PreprocessingError):
        P.StandardScaler().fit(np.ones(5))
    with pytest.raises(TypeError):
        P.StandardScaler().fit(np.array([["a", "b"]]))
    with pytest.raises(PreprocessingError):
        P.MinMaxScaler(feature_range=(1, 0))
    with pytest.raises(PreprocessingError):
        P.ZCAWhitening(eps=-1)
    with pytest.raises(PreprocessingError, match="at least 2 samples"):
        P.ZCAWhitening().fit(np.ones((1, 3)))
    with pytest.raises(PreprocessingError, match="chunk_size"):
        P.StandardScaler().fit(np.ones((3, 3)), chunk_size=0)
    pre = P.StandardScaler().fit(np.random.rand(5, 3))
    with pytest.raises(PreprocessingError, match="out must have shape"):
        pre.transform(np.ones((5, 3)), out=np.empty((5, 2)))


@pytest.mark.parametrize("bad, match", [
    ("01", "a \\(min, max\\) pair of real numbers, got '01'"),
    (("2", "5"), "feature_range min must be a finite real number, got str '2'"),
    ((0, "1"), "feature_range max must be a finite real number"),
    ((1,), "pair"), ((0, 1, 2), "pair"), (1.0, "pair"), ((True, 2), "feature_range min"),
    ((0, np.inf), "feature_range max"), ((np.nan, 1), "feature_range min"), ((1, 1), "min < max"),
    ((-1e308, 1e308), "width max - min overflows float64"),
])
def test_minmax_feature_range_must_be_a_pair_of_numbers_of_finite_width(bad, match):
    """feature_range "01" became (0, 1) and ("2", "5") (2, 5); (-1e308, 1e308) gave scale_ = inf, a NaN transform
    and misleading errors much later. Each is refused where the scaler is made, naming feature_range."""
    with pytest.raises(PreprocessingError, match=match):
        P.MinMaxScaler(feature_range=bad)
    assert P.MinMaxScaler([-1, 2]).feature_range == (-1.0, 2.0)  # a list (a config's JSON) or tuple


# ------------------------------------------------------------------------------------------ dtypes and out


def test_dtypes_and_out_buffer():
    X = _data(n=40, d=5)
    pre = P.StandardScaler().fit(X)
    assert pre.transform(X.astype(np.float32)).dtype == np.float32
    assert pre.transform(X.round().astype(np.int32)).dtype == np.float64
    out = np.empty((40, 5), dtype=np.float32)
    res = pre.transform(X, out=out)
    assert res is out
    np.testing.assert_allclose(out, pre.transform(X), rtol=1e-6, atol=1e-6)
    inplace = X.copy()
    pre.transform(inplace, out=inplace)
    np.testing.assert_allclose(inplace, pre.transform(X), rtol=1e-14)
    pca = P.PCAWhitening(n_components=3).fit(X)
    o = np.empty((40, 3))
    assert pca.transform(X, out=o) is o


@pytest.mark.parametrize("make", ALL, ids=IDS)
def test_out_overlapping_x_other_than_in_place_gives_the_transform_of_x(make):
    """A reversed or shifted view of X as out: blocks wrote outputs over rows later blocks had still to read
    (8192 of 20000 rows wrong at the default block size). Now X is read from a copy; out=X itself stays in place."""
    X = _data(n=64, d=6)
    pre = make().fit(X)
    expected = pre.transform(X, chunk_size=4)
    if expected.shape[1] != X.shape[1]:
        return  # a reduction: out cannot be a view of X's shape
    for view in (lambda a: a[::-1], lambda a: a[1:], lambda a: a):
        buf = np.concatenate([X, X[:1]])  # one row more, for the shifted view
        x, out = buf[:64], view(buf)[:64]
        pre.transform(x, out=out, chunk_size=4)
        np.testing.assert_array_equal(out, expected)
        inverse = np.concatenate([expected, expected[:1]])
        y, out = inverse[:64], view(inverse)[:64]
        pre.inverse_transform(y, out=out, chunk_size=4)
        np.testing.assert_allclose(out, pre.inverse_transform(expected, chunk_size=4), rtol=0, atol=0)


def test_sample_center():
    X = _data(n=30, d=9)
    Z = P.SampleCenter().fit(X).transform(X)
    np.testing.assert_allclose(Z, X - X.mean(axis=1, keepdims=True), rtol=1e-12, atol=1e-12)
    Zs = P.SampleCenter(with_std=True).fit(X).transform(X)
    np.testing.assert_allclose(Zs.std(axis=1), 1.0, rtol=1e-12)
    const = np.full((2, 9), 4.0)
    assert np.array_equal(P.SampleCenter(with_std=True).fit(X).transform(const), np.zeros((2, 9)))
    # no inverse exists; inverse_transform returns the minimum-norm preimage, which transforms back to itself
    sc = P.SampleCenter().fit(X)
    np.testing.assert_allclose(sc.transform(sc.inverse_transform(Z)), Z, atol=1e-12)


# --------------------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("make", [m for m, i in zip(ALL, IDS) if not i.startswith("samplecenter")],
                         ids=[i for i in IDS if not i.startswith("samplecenter")])
def test_inverse_transform_round_trips(make):
    X = _data(n=400, d=12)
    pre = make().fit(X)
    Z = pre.transform(X)
    if isinstance(pre, P.PCAWhitening) and pre.n_components_ < 12:
        # a projection: the round trip is exact on the span of the kept components
        Xp = pre.inverse_transform(Z)
        np.testing.assert_allclose(pre.transform(Xp), Z, rtol=1e-8, atol=1e-8)
        return
    np.testing.assert_allclose(pre.inverse_transform(Z), X, rtol=1e-9, atol=1e-7)


@pytest.mark.parametrize("make", ALL, ids=IDS)
def test_config_round_trip_is_exact(make):
    X = _data(n=200)
    pre = make().fit(X)
    cfg = json.loads(json.dumps(pre.get_config()))
    arrays = pre.state_arrays()
    again = P.from_config(cfg, arrays)
    assert type(again) is type(pre)
    assert np.array_equal(again.transform(X), pre.transform(X))
    assert np.array_equal(again.transform(X.astype(np.float32)), pre.transform(X.astype(np.float32)))
    # unfitted configs round-trip too
    fresh = P.from_config(json.loads(json.dumps(make().get_config())), {})
    assert not fresh.fitted


def test_from_config_rejects_bad_state():
    X = _data(n=50, d=4)
    pre = P.StandardScaler().fit(X)
    cfg, arrays = pre.get_config(), pre.state_arrays()
    with pytest.raises(PreprocessingError, match="shape"):
        P.from_config(cfg, {**arrays, "mean": np.zeros(5)})
    with pytest.raises(PreprocessingError, match="missing"):
        P.from_config(cfg, {k: v for k, v in arrays.items() if k != "scale"})
    with pytest.raises(PreprocessingError, match="unknown preprocessor"):
        P.from_config({**cfg, "class": "Nope"}, arrays)
    with pytest.raises(PreprocessingError, match="n_features_in"):
        P.from_config({**cfg, "n_features_in": -3}, arrays)


def _extreme_columns():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 4))
    X[:, 0] = 0.0
    X[3, 0] = 1e-306  # a sparse feature: its mean, 2.5e-308, is subnormal
    X[:, 1] *= 1e-160  # its variance is subnormal
    X[:, 2] = np.where(X[:, 2] > 0, 1e308, -1e308)  # its variance overflows to inf
    X[:, 3] = np.abs(X[:, 3]) + 1e-310  # its minimum is subnormal
    return X


@pytest.mark.parametrize("make", [P.StandardScaler, P.MeanCenter])
def test_what_fit_produces_restores(make, tmp_path):
    """from_config takes every state a fit produces (it refused subnormal means and variances and the inf
    variance of data spread beyond float64, so fastnn.save wrote model files fastnn.load refused). A model file
    holds only finite arrays: its save refuses the inf variance up front, and saves and loads the rest."""
    X = _extreme_columns()
    pre = make().fit(X)
    again = P.from_config(json.loads(json.dumps(pre.get_config())), pre.state_arrays())
    np.testing.assert_array_equal(again.transform(X), pre.transform(X))
    import fastnn

    finite = X[:, [0, 1, 3]]
    model = fastnn.Sequential([fastnn.layers.Dense(2)], dtype="float64", preprocess=make().fit(finite))
    fastnn.save(model, tmp_path / "m.safetensors")
    np.testing.assert_array_equal(fastnn.load(tmp_path / "m.safetensors").predict(finite), model.predict(finite))
    mm = P.MinMaxScaler().fit(X[:, [0, 1, 3]])
    np.testing.assert_array_equal(P.from_config(mm.get_config(), mm.state_arrays()).transform(X[:, [0, 1, 3]]),
                                  mm.transform(X[:, [0, 1, 3]]))


def test_tampered_state_is_still_refused():
    pre = P.StandardScaler().fit(_data(n=50, d=4))
    cfg, arrays = pre.get_config(), pre.state_arrays()
    for key, value, match in (("scale", 1e-310, "scale' must be > 0 with a finite reciprocal"), ("mean", np.nan, "NaN"),
                              ("var", -np.inf, "NaN or infinite"), ("scale", np.inf, "NaN or infinite")):
        bad = {**arrays, key: np.full(4, value)}
        with pytest.raises(PreprocessingError, match=match):
            P.from_config(cfg, bad)


def _scales_of_standardizations(rng, n):
    """Arrays of scales: 1 / std of n random (mean, std) with std / mean in [1e-6, 1] (of them, MinMaxScaler.of(1
    / std, -mean / std) refused 463 of 2000: data_max = data_min + 1 / scale lost the digits its state check then
    missed), and scales no range 1 / scale of a fit holds (above 1 / (10 eps)) or barely (the smallest normal)."""
    mean = 10 ** rng.uniform(-2, 4, n)
    f64 = np.finfo(np.float64)
    return np.array_split(1 / (mean * 10 ** rng.uniform(-6, 0, n)), 20) + [
        np.array(s) for s in ([1e15, 1.0], [1e300, 1e5], [f64.max], [f64.tiny, 1.0], [1e-300, 3.0], [1e20, 1e-250])]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_minmax_of_computes_exactly_x_times_scale_and_restores(rng, dtype, tmp_path):
    """MinMaxScaler.of(scale) is x * scale bit for bit (fastnn.onnx.load's Mul), from a state its own checks
    accept: it reloads through from_config, a model file and a plan file."""
    import fastnn
    import fastnn.inference as fi

    for scale in _scales_of_standardizations(rng, 2000):
        if dtype == np.float32:  # the scales a float32 model holds
            scale = scale[(scale > 1e-30) & (scale < 1e30)].astype(np.float32).astype(np.float64)
            if not scale.size:
                continue
        pre = P.MinMaxScaler.of(scale)
        x = rng.standard_normal((5, scale.size)).astype(dtype)
        np.testing.assert_array_equal(pre.transform(x), x * scale.astype(dtype))
        again = P.from_config(json.loads(json.dumps(pre.get_config())), pre.state_arrays())
        np.testing.assert_array_equal(again.transform(x), pre.transform(x))
    model = fastnn.Sequential([fastnn.layers.Tanh()], input_dim=scale.size, dtype=dtype.__name__, preprocess=pre)
    fastnn.save(model, tmp_path / "m.safetensors")
    np.testing.assert_array_equal(fastnn.load(tmp_path / "m.safetensors").predict(x), model.predict(x))
    plan = fi.compile(model)
    plan.save(tmp_path / "p.plan")
    np.testing.assert_array_equal(fi.load(tmp_path / "p.plan").predict(x), plan.predict(x))


def test_minmax_of_refuses_what_no_fit_stores_by_name():
    for scale, match in (([1.0, 0.0], "'scale' must be > 0"), ([1.0, 1e-310], "'scale' must be > 0"),
                         ([1.0, np.nan], "'scale' contains NaN"),
                         ([1e300, 1e-300], r"scales 1e-300 .. 1e\+300 are too far apart")):
        with pytest.raises(PreprocessingError, match=match):
            P.MinMaxScaler.of(np.array(scale))


def test_a_state_that_disagrees_shows_the_digits_that_do():
    """The cross-check printed both values with 9 digits: "it holds 10000 ..., where a fit computes 10000"."""
    pre = P.MinMaxScaler().fit(np.array([[0.0], [1e-4]]))
    arrays = pre.state_arrays()
    arrays["scale"] = arrays["scale"] * (1 + 1e-10)
    with pytest.raises(PreprocessingError, match=r"holds 10000\.000001\d* at index 0, where a fit computes "
                                                 r"10000(\.0000000000\d*)?$"):
        P.from_config(pre.get_config(), arrays)


def test_extreme_but_finite_data():
    """MinMaxScaler took lo + hi as its finiteness test, which overflows for [1e308, 1.5e308]; a range that
    itself overflows float64 would scale every value to one and is refused; whitening data whose covariance
    overflows gives a PreprocessingError, not numpy's LinAlgError."""
    np.testing.assert_allclose(P.MinMaxScaler().fit_transform(np.array([[1e308], [1.5e308]])), [[0.0], [1.0]])
    with pytest.raises(PreprocessingError, match="range of feature 0 .* overflows float64"):
        P.MinMaxScaler().fit(np.array([[-1e308], [1e308]]))
    X = np.random.default_rng(0).standard_normal((20, 3)) * 1e200
    for make in (P.PCAWhitening, P.ZCAWhitening):
        with pytest.raises(PreprocessingError, match="covariance of the data overflows"):
            make().fit(X)


def test_configs_that_contradict_their_state_are_refused():
    """A PCA whose n_components disagrees with its stored components, and a Pipeline whose fitted steps do not
    chain, loaded and failed only at transform (third hostile review)."""
    X = _data(n=60, d=5)
    pca = P.PCAWhitening(n_components=2).fit(X)
    cfg = pca.get_config()
    with pytest.raises(PreprocessingError, match="n_components=3 but its state holds 2"):
        P.from_config({**cfg, "params": {**cfg["params"], "n_components": 3}}, pca.state_arrays())
    pipe = P.Pipeline([P.StandardScaler(), P.PCAWhitening(n_components=2)]).fit(X)
    cfg, arrays = pipe.get_config(), pipe.state_arrays()
    wide = P.StandardScaler().fit(X[:, :3])  # a fitted step of 3 features in the place of one of 5
    cfg["steps"][0] = wide.get_config()
    arrays.update({f"0.{k}": v for k, v in wide.state_arrays().items()})
    with pytest.raises(PreprocessingError, match="step 0 puts out 3 features but step 1 takes 5"):
        P.from_config(cfg, arrays)


def test_restored_scalers_continue_partial_fit():
    X = _data(n=300)
    a = P.StandardScaler().fit(X[:100])
    b = P.from_config(a.get_config(), a.state_arrays())
    b.partial_fit(X[100:])
    np.testing.assert_allclose(b.mean_, X.mean(0), rtol=1e-12)
    np.testing.assert_allclose(b.var_, X.var(0), rtol=1e-10)
    z = P.ZCAWhitening().fit(X)
    with pytest.raises(PreprocessingError, match="fit it again"):
        P.from_config(z.get_config(), z.state_arrays()).partial_fit(X)


# ------------------------------------------------------------------------------------------ affine folding


@pytest.mark.parametrize("make", ALL, ids=IDS)
def test_affine_matches_transform(make):
    X = _data(n=100)
    pre = make().fit(X)
    f = pre.affine()
    if isinstance(pre, P.SampleCenter) and pre.with_std:
        assert f is None
        return
    A, c = f
    assert A.shape == (12, pre.n_features_out_) and c.shape == (pre.n_features_out_,)
    np.testing.assert_allclose(X @ A + c, pre.transform(X), rtol=1e-9, atol=1e-8)
    m, A2, c2 = pre.centered_affine()
    np.testing.assert_allclose((X - m) @ A2 + c2, pre.transform(X), rtol=1e-9, atol=1e-8)
    np.testing.assert_array_equal(A2, A)


@pytest.mark.parametrize("make, subtracts", [(P.StandardScaler, "mean"), (P.MeanCenter, "mean"),
                                             (P.ZCAWhitening, "mean"),
                                             (lambda: P.PCAWhitening(n_components=5), "mean"),
                                             (P.MinMaxScaler, "min"),
                                             (lambda: P.Pipeline([P.StandardScaler(), P.ZCAWhitening()]), "mean"),
                                             (lambda: P.Pipeline([P.MinMaxScaler(), P.StandardScaler()]), "min")])
def test_centered_affine_names_the_offset_the_transform_subtracts_first(make, subtracts):
    """The offset m is what transform subtracts before scaling: the data mean, or a MinMaxScaler's data_min (it
    scaled, then shifted, which cancels digits far from the origin); a Pipeline's is its first step's."""
    X = _data(n=100) + 40
    m, _, _ = make().fit(X).centered_affine()
    np.testing.assert_allclose(m, X.mean(0) if subtracts == "mean" else X.min(0), rtol=1e-12)


def test_affine_folds_into_first_dense_layer():
    """y = transform(x) W + b equals x W' + b' with W' = A W, b' = c W + b (to float32 rounding in float32)."""
    X = _data(n=64)
    rng = np.random.default_rng(0)
    W, b = rng.normal(size=(12, 7)) * 0.1, rng.normal(size=7)
    for make in ALL:
        pre = make().fit(X)
        f = pre.affine()
        if f is None:
            continue
        A, c = f
        Wf, bf = A[:, :] @ W[: A.shape[1]], c @ W[: A.shape[1]] + b
        y = pre.transform(X) @ W[: A.shape[1]] + b
        np.testing.assert_allclose(X @ Wf + bf, y, rtol=1e-8, atol=1e-7)
        X32 = X.astype(np.float32)
        y32 = X32 @ Wf.astype(np.float32) + bf.astype(np.float32)
        scale = np.abs(y).max()
        assert np.abs(y32 - y).max() <= 1e-4 * scale


# ------------------------------------------------------------------------------------------------ pipeline


def test_pipeline_equals_sequential_fits_and_is_atomic():
    X = _data(n=300)
    pipe = P.Pipeline([P.StandardScaler(), P.PCAWhitening(n_components=6)]).fit(X, chunk_size=41)
    s = P.StandardScaler().fit(X)
    p = P.PCAWhitening(n_components=6).fit(s.transform(X))
    np.testing.assert_allclose(pipe.transform(X), p.transform(s.transform(X)), rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(pipe.inverse_transform(pipe.transform(X)),
                               s.inverse_transform(p.inverse_transform(p.transform(s.transform(X)))), atol=1e-8)
    before = pipe.transform(X)
    bad = X.copy()
    bad[5, 0] = np.nan
    with pytest.raises(PreprocessingError):
        pipe.fit(bad)
    assert np.array_equal(pipe.transform(X), before)
    with pytest.raises(PreprocessingError, match="exceeds the number of features"):
        P.Pipeline([P.PCAWhitening(n_components=3), P.PCAWhitening(n_components=4)]).fit(X)
    assert P.Pipeline([P.SampleCenter(with_std=True), P.StandardScaler()]).fit(X).affine() is None
    s = P.StandardScaler()  # one object fitted at two places kept only its last fit (third hostile review)
    with pytest.raises(PreprocessingError, match="the same StandardScaler object twice"):
        P.Pipeline([s, P.PCAWhitening(n_components=6), s])


def test_advice_table_in_docstring():
    doc = P.__doc__
    for phrase in ("grey-scale images", "colour images", "audio", "MNIST"):
        assert phrase in doc


def test_too_few_rows_for_a_whitening_name_partial_fit_only_when_it_is_called():
    """review 11: fit's errors ended with partial_fit's advice; a 0-d feature_range got a bare TypeError."""
    X = np.random.default_rng(0).standard_normal((3, 5))
    for whitening, rows in ((P.PCAWhitening(), 1), (P.PCAWhitening(n_components=5), 3)):
        with pytest.raises(PreprocessingError) as fitted:
            whitening.fit(X[:rows])
        assert "partial_fit" not in str(fitted.value)
        with pytest.raises(PreprocessingError, match="partial_fit cannot start with fewer"):
            whitening.partial_fit(X[:rows])
    with pytest.raises(PreprocessingError, match="feature_range must be a"):
        P.MinMaxScaler(feature_range=np.array(5.0))


@pytest.mark.parametrize("make", [P.StandardScaler, P.MinMaxScaler, P.MeanCenter, P.SampleCenter, P.PCAWhitening,
                                  P.ZCAWhitening])
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_transform_refuses_non_finite_input_naming_it(make, bad):
    """Review 14: fit refused inf and NaN, transform and inverse_transform returned them (a whitening's whole row
    inf or NaN), where scikit-learn raises."""
    X = _data(n=40, d=4)
    pre = make().fit(X)
    Z = X.copy()
    Z[7, 2] = bad
    with pytest.raises(PreprocessingError, match=rf"X contains {bad} at row 7, column 2"):
        pre.transform(Z)
    T = pre.transform(X)
    T[3, 1] = bad
    with pytest.raises(PreprocessingError, match=rf"X contains {bad} at row 3, column 1"):
        pre.inverse_transform(T)


def test_a_float32_transform_refuses_coefficients_float32_cannot_hold():
    """Review 14: a feature of std 1e-39 has 1/std = 1e39, inf in float32: the float32 transform returned inf in
    every row. A float64 state beyond float32's range is refused (as fastnn.load refuses it for a float32 model);
    so is a multiplier that rounds to 0 (std 1e46: every value would map to 0); float64 transforms still run."""
    rng = np.random.default_rng(0)
    X = np.c_[rng.standard_normal(20) * 1e-39, rng.standard_normal(20)]
    tiny = P.StandardScaler().fit(X)
    with pytest.raises(PreprocessingError, match="StandardScaler inv_scale has values that are not finite in float32"):
        tiny.transform(X.astype(np.float32))
    assert np.isfinite(tiny.transform(X)).all()
    huge = P.StandardScaler(with_mean=False).fit(np.c_[rng.standard_normal(20) * 1e46, rng.standard_normal(20)])
    with pytest.raises(PreprocessingError, match="inv_scale has values below float32's normal range"):
        huge.transform(np.zeros((2, 2)), out=np.empty((2, 2), np.float32))


def test_a_finite_row_mapped_beyond_the_output_dtype_is_refused():
    """Finite float64 input whose float32 output overflows (1e300 cast to float32) is refused naming the row,
    not returned as inf."""
    pre = P.MeanCenter().fit(_data(n=10, d=3))
    X = np.zeros((4, 3))
    X[2, 0] = 1e300
    with pytest.raises(PreprocessingError, match="X row 2 holds values beyond float32's range"):
        pre.transform(X, out=np.empty((4, 3), np.float32))


def test_minmax_state_a_fit_writes_is_one_its_loader_takes():
    """Review 14: a range near float64's largest value gives a subnormal scale_, which fit kept and the model
    file's reader refused, so a saved model did not load. Now the reader takes any scale with a finite reciprocal
    (the same [1e308, 1.5e308] fit round-trips), and a fit whose scale has none is refused at fit."""
    pre = P.MinMaxScaler().fit(np.array([[8e307, 0.0], [-8e307, 1.0], [0.0, 0.5]]))
    assert pre.scale_[0] < np.finfo(np.float64).tiny
    back = P.from_config(pre.get_config(), pre.state_arrays())
    np.testing.assert_array_equal(back.scale_, pre.scale_)
    with pytest.raises(PreprocessingError, match="feature 0: the scale .* has no finite reciprocal"):
        P.MinMaxScaler(feature_range=(0.0, 1e-300)).fit(np.array([[0.0], [1e10]]))
