/* Fused loss kernels: each returns the summed loss (double) and writes the gradient, scaled, in one pass. */
#ifndef FNN_LOSS_H
#define FNN_LOSS_H
#include <stdint.h>
/* weights: per-row weights in double, or NULL for all 1. */
#define FNN_LOSS_DECL(REAL, SFX)                                                                                       \
    double softmax_xent_##SFX(const REAL *logits, const int64_t *labels, const double *weights, REAL *grad_out,        \
                              int64_t rows, int64_t classes, double scale, double smoothing, int64_t *n_correct_out,   \
                              int n_threads);                                                                          \
    double softmax_xent_soft_##SFX(const REAL *logits, const REAL *targets, const double *weights, REAL *grad_out,     \
                                   int64_t rows, int64_t classes, double scale, int64_t *n_correct_out,                \
                                   int n_threads);                                                                     \
    void softmax_##SFX(const REAL *logits, REAL *probs_out, int64_t rows, int64_t classes, int n_threads);             \
    double bce_logits_##SFX(const REAL *logits, const REAL *targets, const double *weights, REAL *grad_out, int64_t n, \
                            int64_t cols, double scale, int64_t *n_correct_out, int n_threads);                        \
    double mse_##SFX(const REAL *pred, const REAL *targets, const double *weights, REAL *grad_out, int64_t n,          \
                     int64_t cols, double scale, int n_threads);
FNN_LOSS_DECL(float, f32)
FNN_LOSS_DECL(double, f64)
#endif
