# cython: language_level=3
"""Cython shim over csrc/loss.c. No checks here: fastnn.ops validates shapes, dtypes, label ranges and weights
(``weights``: None or a C-contiguous float64 array of one weight per row)."""
from libc.stdint cimport int64_t

from ._types cimport real


def softmax_xent(const real[:, ::1] logits, const int64_t[::1] labels, const double[::1] weights,
                 real[:, ::1] grad_out, double scale, double smoothing, int n_threads):
    """Returns (summed loss, number of rows whose argmax equals the label)."""
    cdef int64_t rows = logits.shape[0], classes = logits.shape[1]
    cdef real *gp = NULL
    cdef const double *wp = NULL
    cdef double out = 0.0
    cdef int64_t correct = 0
    if rows == 0:
        return 0.0, 0
    if grad_out is not None:
        gp = &grad_out[0, 0]
    if weights is not None:
        wp = &weights[0]
    with nogil:
        if real is float:
            out = softmax_xent_f32(&logits[0, 0], &labels[0], wp, gp, rows, classes, scale, smoothing, &correct,
                                   n_threads)
        else:
            out = softmax_xent_f64(&logits[0, 0], &labels[0], wp, gp, rows, classes, scale, smoothing, &correct,
                                   n_threads)
    return out, correct


cdef double softmax_xent_any(bint single, const void *logits, const int64_t *labels, const double *weights,
                             void *grad_out, int64_t rows, int64_t classes, double scale, double smoothing,
                             int64_t *n_correct_out, int n_threads) noexcept nogil:
    if single:
        return softmax_xent_f32(<const float *>logits, labels, weights, <float *>grad_out, rows, classes, scale,
                                smoothing, n_correct_out, n_threads)
    return softmax_xent_f64(<const double *>logits, labels, weights, <double *>grad_out, rows, classes, scale,
                            smoothing, n_correct_out, n_threads)


def softmax_xent_soft(const real[:, ::1] logits, const real[:, ::1] targets, const double[::1] weights,
                      real[:, ::1] grad_out, double scale, int n_threads):
    """Returns (summed loss, number of rows whose argmax equals the target's argmax)."""
    cdef int64_t rows = logits.shape[0], classes = logits.shape[1]
    cdef real *gp = NULL
    cdef const double *wp = NULL
    cdef double out = 0.0
    cdef int64_t correct = 0
    if rows == 0:
        return 0.0, 0
    if grad_out is not None:
        gp = &grad_out[0, 0]
    if weights is not None:
        wp = &weights[0]
    with nogil:
        if real is float:
            out = softmax_xent_soft_f32(&logits[0, 0], &targets[0, 0], wp, gp, rows, classes, scale, &correct,
                                        n_threads)
        else:
            out = softmax_xent_soft_f64(&logits[0, 0], &targets[0, 0], wp, gp, rows, classes, scale, &correct,
                                        n_threads)
    return out, correct


def softmax(const real[:, ::1] logits, real[:, ::1] probs_out, int n_threads):
    cdef int64_t rows = logits.shape[0], classes = logits.shape[1]
    if rows == 0:
        return
    with nogil:
        if real is float:
            softmax_f32(&logits[0, 0], &probs_out[0, 0], rows, classes, n_threads)
        else:
            softmax_f64(&logits[0, 0], &probs_out[0, 0], rows, classes, n_threads)


def bce_logits(const real[::1] logits, const real[::1] targets, const double[::1] weights, real[::1] grad_out,
               int64_t cols, double scale, int n_threads):
    """Returns (summed loss, number of elements with (x > 0) == (t > 0.5)); rows of ``cols`` elements."""
    cdef int64_t n = logits.shape[0]
    cdef real *gp = NULL
    cdef const double *wp = NULL
    cdef double out = 0.0
    cdef int64_t correct = 0
    if n == 0:
        return 0.0, 0
    if grad_out is not None:
        gp = &grad_out[0]
    if weights is not None:
        wp = &weights[0]
    with nogil:
        if real is float:
            out = bce_logits_f32(&logits[0], &targets[0], wp, gp, n, cols, scale, &correct, n_threads)
        else:
            out = bce_logits_f64(&logits[0], &targets[0], wp, gp, n, cols, scale, &correct, n_threads)
    return out, correct


def mse(const real[::1] pred, const real[::1] targets, const double[::1] weights, real[::1] grad_out,
        int64_t cols, double scale, int n_threads):
    """Returns the summed (weighted) squared error; rows of ``cols`` elements."""
    cdef int64_t n = pred.shape[0]
    cdef real *gp = NULL
    cdef const double *wp = NULL
    cdef double out = 0.0
    if n == 0:
        return 0.0
    if grad_out is not None:
        gp = &grad_out[0]
    if weights is not None:
        wp = &weights[0]
    with nogil:
        if real is float:
            out = mse_f32(&pred[0], &targets[0], wp, gp, n, cols, scale, n_threads)
        else:
            out = mse_f64(&pred[0], &targets[0], wp, gp, n, cols, scale, n_threads)
    return out
