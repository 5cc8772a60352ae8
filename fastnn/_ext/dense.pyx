# cython: language_level=3
"""Cython shim over csrc/dense.c. No checks here: fastnn.ops validates shapes, dtypes and contiguity."""
from libc.stdint cimport int64_t

from ._types cimport real


def bias_act_forward(real[:, ::1] z, const real[::1] b, real[:, ::1] y_out, int act, double alpha, int n_threads):
    cdef const real *bp = NULL
    if b is not None:
        bp = &b[0]
    cdef int64_t rows = z.shape[0], cols = z.shape[1]
    if rows == 0 or cols == 0:
        return
    with nogil:
        if real is float:
            bias_act_forward_f32(&z[0, 0], bp, &y_out[0, 0], rows, cols, act, alpha, n_threads)
        else:
            bias_act_forward_f64(&z[0, 0], bp, &y_out[0, 0], rows, cols, act, alpha, n_threads)


def act_backward(const real[:, ::1] dy, const real[:, ::1] y, const real[:, ::1] z, real[:, ::1] dz_out,
                 real[::1] db_out, int act, double alpha, int n_threads):
    cdef int64_t rows = dy.shape[0], cols = dy.shape[1]
    if rows == 0 or cols == 0:
        return
    cdef const real *zp = NULL
    cdef real *dbp = NULL
    if z is not None:
        zp = &z[0, 0]
    if db_out is not None:
        dbp = &db_out[0]
    with nogil:
        if real is float:
            act_backward_f32(&dy[0, 0], &y[0, 0], zp, &dz_out[0, 0], dbp, rows, cols, act, alpha, n_threads)
        else:
            act_backward_f64(&dy[0, 0], &y[0, 0], zp, &dz_out[0, 0], dbp, rows, cols, act, alpha, n_threads)


def weight_penalty(const real[::1] w, real[::1] grad_io, double l1, double l2, int n_threads):
    """Returns l1*sum|w| + l2*sum w^2 and adds l1*sign(w) + 2*l2*w into grad_io (if not None)."""
    cdef int64_t n = w.shape[0]
    cdef double out = 0.0
    cdef real *gp = NULL
    if n == 0:
        return 0.0
    if grad_io is not None:
        gp = &grad_io[0]
    with nogil:
        if real is float:
            out = weight_penalty_f32(&w[0], gp, n, l1, l2, n_threads)
        else:
            out = weight_penalty_f64(&w[0], gp, n, l1, l2, n_threads)
    return out
