"""A Gaussian-process regressor for Bayesian optimization, and the log of Expected Improvement.

Model: z = f(x) + eps, f ~ GP(0, s2 k(x, x')), eps ~ N(0, noise), on inputs in [0, 1]^d and the losses y
standardized robustly to z (:func:`standardize`: invariant to the scale of y, outliers compressed).
Kernel: Matern 5/2 with one length scale per dimension (ARD),

    k(r) = (1 + sqrt5 r + 5/3 r^2) exp(-sqrt5 r),   r^2 = sum_j (x_j - x'_j)^2 / l_j^2.

Hyperparameters theta = (log l_1..l_d, log s2, log noise) maximize the log marginal likelihood

    log p(z | theta) = -1/2 z^T K^-1 z - 1/2 log|K| - n/2 log 2 pi,   K = s2 k(X, X) + noise I,

plus weak log-normal priors (they keep length scales and noise off the bounds when 10 points cannot tell),
by L-BFGS-B with analytic gradients from several starts (scipy.optimize: bounded quasi-Newton is what this
needs, and scipy is the one dependency of the ``tune`` extra).
"""
from __future__ import annotations

import math

import numpy as np
from scipy import linalg, optimize, special

SQRT5 = math.sqrt(5.0)
LOG_L_BOUNDS = (math.log(1e-2), math.log(20.0))
LOG_S2_BOUNDS = (math.log(5e-2), math.log(20.0))
LOG_NOISE_BOUNDS = (math.log(1e-6), math.log(0.5))
PRIOR_LOG_L = (math.log(0.5), 1.0)       # (mean, std) of log length scale
PRIOR_LOG_NOISE = (math.log(1e-3), 2.0)


def matern52(X1, X2, log_l):
    """Matern 5/2 correlation and the squared scaled distances per dimension (for the gradient)."""
    D2 = ((X1[:, None, :] - X2[None, :, :]) / np.exp(log_l)) ** 2
    r = np.sqrt(D2.sum(-1))
    return (1.0 + SQRT5 * r + 5.0 / 3.0 * r * r) * np.exp(-SQRT5 * r), D2, r


WARP_AT = 3.0  # robust standard deviations from the median beyond which a loss is compressed
MAD_TO_STD = 1.4826  # the median absolute deviation of a normal sample times this is its standard deviation


def standardize(y: np.ndarray) -> np.ndarray:
    """The GP's targets for the losses ``y``: centred on their median, in units of their robust spread, the far
    tails compressed, then mean 0 and standard deviation 1.

    1. ``y`` is divided by the power of two of its largest magnitude (exact), so nothing below overflows or
       underflows however large or small the losses are (``y.std()`` squared them: beyond ~1e154 it was inf and
       the GP NaN, below ~1e-154 it was 0 and the GP flat).
    2. ``d = (y - median) / s``, ``s`` = 1.4826 x the median absolute deviation (the mean absolute deviation when
       more than half the losses tie; all equal: z = 0).
    3. Beyond ``WARP_AT`` = 3, ``|d|`` becomes ``3 (1 + log(1 + log(|d| / 3)))``: continuous with slope 1 there,
       increasing (the losses keep their order), so one diverged trial at 1e200 lies about 21 units out instead of
       squeezing every other loss into one value.

    Invariance: multiplying every loss by c > 0 gives the same z -- bitwise (hence the same trials) when c is a
    power of two and no loss over- or underflows, otherwise up to the rounding of c y (about 1e-16 relative).
    Adding a constant changes z by rounding only."""
    y = np.asarray(y, float)
    _, exponent = np.frexp(np.max(np.abs(y)))
    y = np.ldexp(y, -exponent)  # |y| <= 1
    d = y - np.median(y)
    spread = MAD_TO_STD * np.median(np.abs(d)) or np.mean(np.abs(d))
    if spread == 0.0:
        return np.zeros_like(y)
    with np.errstate(over="ignore"):  # an overflow to inf is far out, replaced below
        z = d / spread
    far = np.abs(z) > WARP_AT
    # log |z| from d and spread: |z| itself can overflow (d ~ 1, spread ~ 1e-300)
    log_ratio = np.log(np.abs(d[far])) - math.log(spread) - math.log(WARP_AT)
    z[far] = np.sign(d[far]) * WARP_AT * (1.0 + np.log1p(log_ratio))
    return (z - z.mean()) / (z.std() or 1.0)


class GP:
    """Fit with ``fit(X, y, rng)``; ``predict(Xs)`` -> (mean, std) of f in the units of ``z = standardize(y)``."""

    def fit(self, X: np.ndarray, y: np.ndarray, rng: np.random.Generator, restarts: int = 4) -> GP:
        self.X = np.asarray(X, float)
        self.z = standardize(y)
        d = X.shape[1]
        bounds = [LOG_L_BOUNDS] * d + [LOG_S2_BOUNDS, LOG_NOISE_BOUNDS]
        starts = [np.r_[np.full(d, PRIOR_LOG_L[0]), 0.0, PRIOR_LOG_NOISE[0]]]
        lo, hi = np.array(bounds).T
        starts += [lo + (hi - lo) * rng.random(d + 2) for _ in range(restarts)]
        best = None
        for theta0 in starts:
            try:
                res = optimize.minimize(self._neg_log_posterior, theta0, jac=True, method="L-BFGS-B",
                                        bounds=bounds, options={"maxiter": 200})
            except (np.linalg.LinAlgError, ValueError):
                continue
            if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
                best = res
        self.theta = best.x if best is not None else starts[0]
        self.L, self.alpha = self._factor(self.theta)[:2]
        return self

    def _factor(self, theta):
        """Cholesky factor L of K(theta), alpha = K^-1 z, and the kernel pieces the gradient needs."""
        d = self.X.shape[1]
        log_l, s2, noise = theta[:d], math.exp(theta[d]), math.exp(theta[d + 1])
        C, D2, r = matern52(self.X, self.X, log_l)
        K = s2 * C + (noise + 1e-9) * np.eye(len(self.X))
        L = linalg.cholesky(K, lower=True)
        return L, linalg.cho_solve((L, True), self.z), log_l, s2, noise, C, D2, r

    def _neg_log_posterior(self, theta):
        d = self.X.shape[1]
        try:
            L, alpha, log_l, s2, noise, C, D2, r = self._factor(theta)
        except (np.linalg.LinAlgError, ValueError):
            return 1e10, np.zeros_like(theta)
        n = len(self.z)
        nll = 0.5 * self.z @ alpha + np.log(np.diag(L)).sum() + 0.5 * n * math.log(2 * math.pi)
        # d nll / d theta_i = -1/2 tr((alpha alpha^T - K^-1) dK/dtheta_i)
        W = np.outer(alpha, alpha) - linalg.cho_solve((L, True), np.eye(n))
        # dk/dlog l_j = s2 * 5/3 (1 + sqrt5 r) exp(-sqrt5 r) * D2_j
        G = s2 * 5.0 / 3.0 * (1.0 + SQRT5 * r) * np.exp(-SQRT5 * r)
        grad = np.empty_like(theta)
        grad[:d] = -0.5 * np.einsum("ab,ab,abj->j", W, G, D2)
        grad[d] = -0.5 * np.sum(W * (s2 * C))
        grad[d + 1] = -0.5 * np.trace(W) * noise
        m, s = PRIOR_LOG_L
        nll += 0.5 * np.sum(((log_l - m) / s) ** 2)
        grad[:d] += (log_l - m) / s**2
        m, s = PRIOR_LOG_NOISE
        nll += 0.5 * ((theta[d + 1] - m) / s) ** 2
        grad[d + 1] += (theta[d + 1] - m) / s**2
        return float(nll), grad

    def predict(self, Xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = self.X.shape[1]
        s2 = math.exp(self.theta[d])
        Ks = s2 * matern52(np.asarray(Xs, float), self.X, self.theta[:d])[0]
        mean = Ks @ self.alpha
        V = linalg.solve_triangular(self.L, Ks.T, lower=True)
        var = np.maximum(s2 - (V * V).sum(0), 1e-12)
        return mean, np.sqrt(var)

    def condition_on(self, Xp: np.ndarray, zp: np.ndarray) -> GP:
        """The same kernel with pseudo-observations ``zp`` (standardized units) added (pending points, kriging
        believer); no refit."""
        gp = GP()
        gp.X = np.vstack([self.X, Xp])
        gp.theta = self.theta
        gp.z = np.r_[self.z, zp]
        gp.L, gp.alpha = gp._factor(gp.theta)[:2]
        return gp


_C1 = 0.5 * math.log(2 * math.pi)
_C2 = 0.5 * math.log(math.pi / 2)
_Z_ASYMPTOTIC = -100.0  # below: log_h's asymptotic series


def log_h(z: np.ndarray) -> np.ndarray:
    """log(phi(z) + z Phi(z)), accurate for every z (Ament et al. 2023, "Unexpected improvements to expected
    improvement"): direct for z > -1; through erfcx for -100 < z <= -1 (there phi + z Phi cancels); below, the
    asymptotic series of the Mills ratio, h(z) = phi(z) / z^2 (1 - 3/z^2 + 15/z^4 - 105/z^6 + 945/z^8 - ...),
    whose first omitted term is < 1e-16 there. (The erfcx form computes 1 - |z| Phi / phi ~ 1/z^2 by
    cancellation: its error grows like eps z^2, 1e-2 at z = -1e7, NaN from about -5.5e7.)"""
    z = np.asarray(z, float)
    out = np.empty_like(z)
    hi = z > -1
    zh = z[hi]
    out[hi] = np.log(np.exp(-0.5 * zh * zh - _C1) + zh * special.ndtr(zh))
    mid = ~hi & (z > _Z_ASYMPTOTIC)
    zm = z[mid]
    t = np.log(special.erfcx(-zm / math.sqrt(2)) * np.abs(zm)) + _C2  # log(|z| Phi(z) / phi(z)) < 0
    out[mid] = -0.5 * zm * zm - _C1 + np.log(-np.expm1(t))
    lo = ~hi & ~mid
    zl = z[lo]
    w = (1.0 / zl) ** 2
    series = np.log1p(w * (-3.0 + w * (15.0 + w * (-105.0 + w * 945.0))))
    with np.errstate(over="ignore"):  # z^2 overflows below -1.3e154: log h is -inf there in float64
        out[lo] = -0.5 * zl * zl - _C1 - 2 * np.log(np.abs(zl)) + series
    return out


def log_expected_improvement(mean, std, best):
    """log E[max(best - f, 0)] for f ~ N(mean, std^2) (minimization): log std + log_h((best - mean) / std)."""
    return np.log(std) + log_h((best - mean) / std)
