# C prototypes of csrc/dense*.c, declared once for Cython (this file is dense.pyx's declaration file).
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t


cdef extern from "dense.h" nogil:
    enum: FNN_IDENTITY, FNN_GELU  # the first activation code, and the one whose backward reads z
    void bias_act_forward_f32(float *z, const float *b, float *y_out, int64_t rows, int64_t cols, int act,
                              double alpha, int n_threads)
    void bias_act_forward_f64(double *z, const double *b, double *y_out, int64_t rows, int64_t cols, int act,
                              double alpha, int n_threads)
    void act_backward_f32(const float *dy, const float *y, const float *z, float *dz_out, float *db_out,
                          int64_t rows, int64_t cols, int act, double alpha, int n_threads)
    void act_backward_f64(const double *dy, const double *y, const double *z, double *dz_out, double *db_out,
                          int64_t rows, int64_t cols, int act, double alpha, int n_threads)
    double weight_penalty_f32(const float *w, float *grad_io, int64_t n, double l1, double l2, int n_threads)
    double weight_penalty_f64(const double *w, double *grad_io, int64_t n, double l1, double l2, int n_threads)


# For fastnn._ext.chain, which calls the kernels of either dtype without Python in between (``single``: float32).
cdef void bias_act_any(bint single, void *z, const void *b, void *y_out, int64_t rows, int64_t cols, int act,
                       double alpha, int n_threads) noexcept nogil
cdef void act_backward_any(bint single, const void *dy, const void *y, const void *z, void *dz_out, void *db_out,
                           int64_t rows, int64_t cols, int act, double alpha, int n_threads) noexcept nogil
