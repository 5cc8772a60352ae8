# C prototypes of csrc/norm*.c, declared once for Cython (this file is norm.pyx's declaration file).
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t


cdef extern from "norm.h" nogil:
    int FNN_LN_ROW_BLOCK
    int FNN_BN_ROW_BLOCK
    void bn_forward_train_f32(const float *x, const float *gamma, const float *beta, float *y_out,
                              double *mean_out, double *invstd_out, float *running_mean_io, float *running_var_io,
                              double *scratch, int64_t rows, int64_t cols, double eps, double momentum, int n_threads)
    void bn_forward_train_f64(const double *x, const double *gamma, const double *beta, double *y_out,
                              double *mean_out, double *invstd_out, double *running_mean_io,
                              double *running_var_io, double *scratch, int64_t rows, int64_t cols, double eps,
                              double momentum, int n_threads)
    void bn_forward_eval_f32(const float *x, const float *gamma, const float *beta, const float *running_mean,
                             const float *running_var, float *y_out, double *mean_out, double *invstd_out,
                             int64_t rows, int64_t cols, double eps, int n_threads)
    void bn_forward_eval_f64(const double *x, const double *gamma, const double *beta, const double *running_mean,
                             const double *running_var, double *y_out, double *mean_out, double *invstd_out,
                             int64_t rows, int64_t cols, double eps, int n_threads)
    void bn_backward_f32(const float *x, const float *dy, const float *gamma, const double *mean,
                         const double *invstd, float *dx_out, float *dgamma_out, float *dbeta_out,
                         double *scratch, int64_t rows, int64_t cols, int batch_stats, int n_threads)
    void bn_backward_f64(const double *x, const double *dy, const double *gamma, const double *mean,
                         const double *invstd, double *dx_out, double *dgamma_out, double *dbeta_out,
                         double *scratch, int64_t rows, int64_t cols, int batch_stats, int n_threads)
    void ln_forward_f32(const float *x, const float *gamma, const float *beta, float *y_out, double *mean_out,
                        double *invstd_out, int64_t rows, int64_t cols, double eps, int n_threads)
    void ln_forward_f64(const double *x, const double *gamma, const double *beta, double *y_out,
                        double *mean_out, double *invstd_out, int64_t rows, int64_t cols, double eps,
                        int n_threads)
    void ln_backward_f32(const float *x, const float *dy, const float *gamma, const double *mean,
                         const double *invstd, float *dx_out, float *dgamma_out, float *dbeta_out,
                         double *scratch, int64_t rows, int64_t cols, int n_threads)
    void ln_backward_f64(const double *x, const double *dy, const double *gamma, const double *mean,
                         const double *invstd, double *dx_out, double *dgamma_out, double *dbeta_out,
                         double *scratch, int64_t rows, int64_t cols, int n_threads)
