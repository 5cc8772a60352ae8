/* LayerNorm's rescue of a row whose squared deviations overflow (|x| beyond ~1e154 in double): the power of two
 * s that brings the row's largest |x| into [0.5, 1). The statistics of x * s are those of x times s (and s^2 for
 * the variance) with no rounding of their own, as scaling by a power of two is exact (bar subnormal elements,
 * below the row's spread by a factor of 2^1000 or more). A row holding an infinity or a NaN gets 1: its
 * statistics stay non-finite. A template piece over REAL / SFX shared by the kernels that normalize rows
 * (norm: the layer; infer: the compiled plan), so both rescue the same rows the same way. */
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
