# cython: language_level=3
"""Cython shim over csrc/loss.c. No checks here: fastnn.ops validates shapes, dtypes and label ranges."""
from libc.stdint cimport int64_t

from ._types cimport real


def softmax_xent(const real[:, ::1] logits, const int64_t[::1] labels, real[:, ::1] grad_out,
                 double scale, int n_threads):
    """Returns (summed loss, number of rows whose argmax equals the label)."""
    cdef int64_t rows = logits.shape[0], classes = logits.shape[1]
    cdef real *gp = NULL
    cdef double out = 0.0
    cdef int64_t correct = 0
    if rows == 0:
        return 0.0, 0
    if grad_out is not None:
        gp = &grad_out[0, 0]
    with nogil:
        if real is float:
            out = softmax_xent_f32(&logits[0, 0], &labels[0], gp, rows, classes, scale, &correct, n_threads)
        else:
            out = softmax_xent_f64(&logits[0, 0], &labels[0], gp, rows, classes, scale, &correct, n_threads)
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


def bce_logits(const real[::1] logits, const real[::1] targets, real[::1] grad_out, double scale,
               int n_threads):
    """Returns (summed loss, number of elements with (x > 0) == (t > 0.5))."""
    cdef int64_t n = logits.shape[0]
    cdef real *gp = NULL
    cdef double out = 0.0
    cdef int64_t correct = 0
    if n == 0:
        return 0.0, 0
    if grad_out is not None:
        gp = &grad_out[0]
    with nogil:
        if real is float:
            out = bce_logits_f32(&logits[0], &targets[0], gp, n, scale, &correct, n_threads)
        else:
            out = bce_logits_f64(&logits[0], &targets[0], gp, n, scale, &correct, n_threads)
    return out, correct


def mse(const real[::1] pred, const real[::1] targets, real[::1] grad_out, double scale, int n_threads):
    cdef int64_t n = pred.shape[0]
    cdef real *gp = NULL
    cdef double out = 0.0
    if n == 0:
        return 0.0
    if grad_out is not None:
        gp = &grad_out[0]
    with nogil:
        if real is float:
            out = mse_f32(&pred[0], &targets[0], gp, n, scale, n_threads)
        else:
            out = mse_f64(&pred[0], &targets[0], gp, n, scale, n_threads)
    return out
