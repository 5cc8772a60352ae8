/* LayerNorm's rescue of a row whose squared deviations overflow (|x| beyond ~1e154 in double): the power of two
 * s that brings the row's largest |x| into [0.5, 1). The statistics of x * s are those of x times s (and s^2 for
 * the variance) with no rounding of their own, as scaling by a power of two is exact (bar subnormal elements,
 * below the row's spread by a factor of 2^1000 or more). A row holding an infinity or a NaN gets 1: its
 * statistics stay non-finite. A template piece over REAL / SFX shared by the kernels that normalize rows
 * (norm: the layer; infer: the compiled plan), so both rescue the same rows the same way: SFX(fnn_ln_stats) below
 * is the one driver, over each template's own SFX(ln_row_moments) (their summation orders differ: 8 lanes in
 * norm, in order in infer). */
#include <float.h>
static inline double SFX(fnn_ln_rescale)(const REAL *x, int64_t n) {
    double top = 0.0;
    for (int64_t j = 0; j < n; j++) {
        const double v = fabs((double)x[j]);
        if (!(v <= DBL_MAX)) return 1.0; /* inf or NaN */
        if (v > top) top = v;
    }
    int e;
    frexp(top, &e);
    return ldexp(1.0, -e);
}

/* One row's statistics with the row scaled by s (a power of two; 1 for the plain row): the scaled mean in *mean,
 * and the scaled variance (not yet clamped at 0) returned. Defined by each template that includes this one. */
static inline double SFX(ln_row_moments)(const REAL *xr, int64_t n, double s, double *mean);

/* A row's LayerNorm statistics: its mean returned and 1 / sqrt(var + eps) in *invstd. The plain row first (s = 1:
 * x * 1 and / 1 are exact, so the same bits as without s), and, if its squares overflowed, the row again scaled
 * by fnn_ln_rescale's s, which is then undone. Force-inlined so it joins norm's FNN_CLONES functions. */
static FNN_INLINE double SFX(fnn_ln_stats)(const REAL *x, int64_t n, double eps, double *invstd) {
    double s = 1.0, mean;
    double var = SFX(ln_row_moments)(x, n, 1.0, &mean);
    if (!isfinite(var)) {
        s = SFX(fnn_ln_rescale)(x, n);
        var = SFX(ln_row_moments)(x, n, s, &mean);
    }
    if (var < 0.0) var = 0.0;
    *invstd = s / sqrt(var + eps * s * s);
    return mean / s;
}
