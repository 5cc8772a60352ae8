# C prototypes of csrc/loss*.c, declared once for Cython (this file is loss.pyx's declaration file).
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t


cdef extern from "loss.h" nogil:
    double softmax_xent_f32(const float *logits, const int64_t *labels, const double *weights, float *grad_out,
                            int64_t rows, int64_t classes, double scale, double smoothing, int64_t *n_correct_out,
                            int n_threads)
    double softmax_xent_f64(const double *logits, const int64_t *labels, const double *weights, double *grad_out,
                            int64_t rows, int64_t classes, double scale, double smoothing, int64_t *n_correct_out,
                            int n_threads)
    double softmax_xent_soft_f32(const float *logits, const float *targets, const double *weights, float *grad_out,
                                 int64_t rows, int64_t classes, double scale, int64_t *n_correct_out, int n_threads)
    double softmax_xent_soft_f64(const double *logits, const double *targets, const double *weights,
                                 double *grad_out, int64_t rows, int64_t classes, double scale,
                                 int64_t *n_correct_out, int n_threads)
    void softmax_f32(const float *logits, float *probs_out, int64_t rows, int64_t classes, int n_threads)
    void softmax_f64(const double *logits, double *probs_out, int64_t rows, int64_t classes, int n_threads)
    double bce_logits_f32(const float *logits, const float *targets, const double *weights, float *grad_out,
                          int64_t n, int64_t cols, double scale, int64_t *n_correct_out, int n_threads)
    double bce_logits_f64(const double *logits, const double *targets, const double *weights, double *grad_out,
                          int64_t n, int64_t cols, double scale, int64_t *n_correct_out, int n_threads)
    double mse_f32(const float *pred, const float *targets, const double *weights, float *grad_out, int64_t n,
                   int64_t cols, double scale, int n_threads)
    double mse_f64(const double *pred, const double *targets, const double *weights, double *grad_out, int64_t n,
                   int64_t cols, double scale, int n_threads)


# For fastnn._ext.chain, which calls the kernel of either dtype without Python in between (``single``: float32).
cdef double softmax_xent_any(bint single, const void *logits, const int64_t *labels, const double *weights,
                             void *grad_out, int64_t rows, int64_t classes, double scale, double smoothing,
                             int64_t *n_correct_out, int n_threads) noexcept nogil
