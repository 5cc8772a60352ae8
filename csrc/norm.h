/* Fused batch and layer normalization kernels (forward with statistics, backward with parameter gradients). */
#ifndef FNN_NORM_H
#define FNN_NORM_H
#include <stdint.h>

/* Rows per block of LayerNorm's gamma/beta gradient partial sums (the caller's scratch holds
 * ceil(rows / FNN_LN_ROW_BLOCK) x 2 x cols doubles). Fixed, so the sums do not depend on the thread count. */
#define FNN_LN_ROW_BLOCK 64
/* Rows per block of BatchNorm's per-feature partial sums (fixed: sums do not depend on the thread count).
 * BatchNorm's training forward and backward take a scratch of FNN_BN_SCRATCH(rows, cols) doubles. */
#define FNN_BN_ROW_BLOCK 64
#define FNN_BN_SCRATCH(rows, cols) (3 * (((rows) + FNN_BN_ROW_BLOCK - 1) / FNN_BN_ROW_BLOCK) * (cols))

#define FNN_NORM_DECL(REAL, SFX)                                                                                       \
    void bn_forward_train_##SFX(const REAL *x, const REAL *gamma, const REAL *beta, REAL *y_out, double *mean_out,     \
                                double *invstd_out, REAL *running_mean_io, REAL *running_var_io, double *scratch,      \
                                int64_t rows, int64_t cols, double eps, double momentum, int n_threads);               \
    void bn_forward_eval_##SFX(const REAL *x, const REAL *gamma, const REAL *beta, const REAL *running_mean,           \
                               const REAL *running_var, REAL *y_out, double *mean_out, double *invstd_out,             \
                               int64_t rows, int64_t cols, double eps, int n_threads);                                 \
    void bn_backward_##SFX(const REAL *x, const REAL *dy, const REAL *gamma, const double *mean, const double *invstd, \
                           REAL *dx_out, REAL *dgamma_out, REAL *dbeta_out, double *scratch, int64_t rows,             \
                           int64_t cols, int batch_stats, int n_threads);                                              \
    void ln_forward_##SFX(const REAL *x, const REAL *gamma, const REAL *beta, REAL *y_out, double *mean_out,           \
                          double *invstd_out, int64_t rows, int64_t cols, double eps, int n_threads);                  \
    void ln_backward_##SFX(const REAL *x, const REAL *dy, const REAL *gamma, const double *mean, const double *invstd, \
                           REAL *dx_out, REAL *dgamma_out, REAL *dbeta_out, double *scratch, int64_t rows,             \
                           int64_t cols, int n_threads);
FNN_NORM_DECL(float, f32)
FNN_NORM_DECL(double, f64)
#endif
