# cython: language_level=3
"""Cython shim over csrc/dropout.c. No checks here: fastnn.ops.dropout validates shapes, dtypes and keys."""
from libc.stdint cimport int64_t, uint8_t, uint64_t

from ._types cimport real


def forward(const real[::1] x, real[::1] y_out, uint8_t[::1] mask_out, uint64_t key, uint64_t threshold,
            double scale, int n_threads):
    cdef int64_t n = x.shape[0]
    if n == 0:
        return
    with nogil:
        if real is float:
            dropout_forward_f32(&x[0], &y_out[0], &mask_out[0], n, key, threshold, scale, n_threads)
        else:
            dropout_forward_f64(&x[0], &y_out[0], &mask_out[0], n, key, threshold, scale, n_threads)


def backward(const real[::1] dy, const uint8_t[::1] mask, real[::1] dx_out, double scale, int n_threads):
    cdef int64_t n = dy.shape[0]
    if n == 0:
        return
    with nogil:
        if real is float:
            dropout_backward_f32(&dy[0], &mask[0], &dx_out[0], n, scale, n_threads)
        else:
            dropout_backward_f64(&dy[0], &mask[0], &dx_out[0], n, scale, n_threads)


def mask(uint8_t[::1] mask_out, uint64_t key, uint64_t threshold, int n_threads):
    cdef int64_t n = mask_out.shape[0]
    if n == 0:
        return
    with nogil:
        dropout_mask(&mask_out[0], n, key, threshold, n_threads)


def key(uint64_t seed, uint64_t step, uint64_t stream):
    """key(seed, step, stream) of the counter-based generator (csrc/fnn_random.h)."""
    return dropout_key(seed, step, stream)
