/* Fused epilogues of a Dense layer: bias + activation forward, activation derivative + bias gradient backward. */
#ifndef FNN_DENSE_H
#define FNN_DENSE_H
#include <stdint.h>

enum fnn_activation { FNN_IDENTITY = 0, FNN_RELU = 1, FNN_LEAKY_RELU = 2, FNN_SIGMOID = 3, FNN_TANH = 4, FNN_GELU = 5 };

#define FNN_DENSE_DECL(REAL, SFX)                                                                                      \
    void bias_act_forward_##SFX(REAL *z, const REAL *b, REAL *y_out, int64_t rows, int64_t cols, int act,              \
                                double alpha, int n_threads);                                                          \
    void act_backward_##SFX(const REAL *dy, const REAL *y, const REAL *z, REAL *dz_out, REAL *db_out, int64_t rows,    \
                            int64_t cols, int act, double alpha, int n_threads);                                       \
    double weight_penalty_##SFX(const REAL *w, REAL *grad_io, int64_t n, double l1, double l2, int n_threads);
FNN_DENSE_DECL(float, f32)
FNN_DENSE_DECL(double, f64)
#endif
