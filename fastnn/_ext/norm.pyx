# cython: language_level=3
"""Cython shim over csrc/norm.c. No checks here: fastnn.ops.norm validates shapes, dtypes and contiguity."""
from libc.stdint cimport int64_t

from ._types cimport real


def bn_row_block():
    """Rows per block of BatchNorm's partial sums: scratch holds 3 * ceil(rows / this) * cols doubles."""
    return FNN_BN_ROW_BLOCK


def ln_row_block():
    """Rows per block of LayerNorm's gradient partial sums: scratch is (ceil(rows / this), 2, cols) doubles."""
    return FNN_LN_ROW_BLOCK


def bn_forward_train(const real[:, ::1] x, const real[::1] gamma, const real[::1] beta, real[:, ::1] y_out,
                     double[::1] mean_out, double[::1] invstd_out, real[::1] running_mean_io,
                     real[::1] running_var_io, double[::1] scratch, double eps, double momentum, int n_threads):
    cdef int64_t rows = x.shape[0], cols = x.shape[1]
    if rows == 0 or cols == 0:
        return
    cdef const real *gp = NULL
    cdef const real *bp = NULL
    cdef real *rm = NULL
    cdef real *rv = NULL
    if gamma is not None:
        gp = &gamma[0]
        bp = &beta[0]
    if running_mean_io is not None:
        rm = &running_mean_io[0]
        rv = &running_var_io[0]
    with nogil:
        if real is float:
            bn_forward_train_f32(&x[0, 0], gp, bp, &y_out[0, 0], &mean_out[0], &invstd_out[0], rm, rv,
                                 &scratch[0], rows, cols, eps, momentum, n_threads)
        else:
            bn_forward_train_f64(&x[0, 0], gp, bp, &y_out[0, 0], &mean_out[0], &invstd_out[0], rm, rv,
                                 &scratch[0], rows, cols, eps, momentum, n_threads)


def bn_forward_eval(const real[:, ::1] x, const real[::1] gamma, const real[::1] beta,
                    const real[::1] running_mean, const real[::1] running_var, real[:, ::1] y_out,
                    double[::1] mean_out, double[::1] invstd_out, double eps, int n_threads):
    cdef int64_t rows = x.shape[0], cols = x.shape[1]
    if rows == 0 or cols == 0:
        return
    cdef const real *gp = NULL
    cdef const real *bp = NULL
    if gamma is not None:
        gp = &gamma[0]
        bp = &beta[0]
    with nogil:
        if real is float:
            bn_forward_eval_f32(&x[0, 0], gp, bp, &running_mean[0], &running_var[0], &y_out[0, 0], &mean_out[0],
                                &invstd_out[0], rows, cols, eps, n_threads)
        else:
            bn_forward_eval_f64(&x[0, 0], gp, bp, &running_mean[0], &running_var[0], &y_out[0, 0], &mean_out[0],
                                &invstd_out[0], rows, cols, eps, n_threads)


def bn_backward(const real[:, ::1] x, const real[:, ::1] dy, const real[::1] gamma, const double[::1] mean,
                const double[::1] invstd, real[:, ::1] dx_out, real[::1] dgamma_out, real[::1] dbeta_out,
                double[::1] scratch, bint batch_stats, int n_threads):
    cdef int64_t rows = x.shape[0], cols = x.shape[1]
    if rows == 0 or cols == 0:
        return
    cdef const real *gp = NULL
    cdef real *dxp = NULL
    cdef real *dgp = NULL
    cdef real *dbp = NULL
    if gamma is not None:
        gp = &gamma[0]
    if dx_out is not None:
        dxp = &dx_out[0, 0]
    if dgamma_out is not None:
        dgp = &dgamma_out[0]
        dbp = &dbeta_out[0]
    with nogil:
        if real is float:
            bn_backward_f32(&x[0, 0], &dy[0, 0], gp, &mean[0], &invstd[0], dxp, dgp, dbp, &scratch[0], rows,
                            cols, batch_stats, n_threads)
        else:
            bn_backward_f64(&x[0, 0], &dy[0, 0], gp, &mean[0], &invstd[0], dxp, dgp, dbp, &scratch[0], rows,
                            cols, batch_stats, n_threads)


def ln_forward(const real[:, ::1] x, const real[::1] gamma, const real[::1] beta, real[:, ::1] y_out,
               double[::1] mean_out, double[::1] invstd_out, double eps, int n_threads):
    cdef int64_t rows = x.shape[0], cols = x.shape[1]
    if rows == 0 or cols == 0:
        return
    cdef const real *gp = NULL
    cdef const real *bp = NULL
    if gamma is not None:
        gp = &gamma[0]
        bp = &beta[0]
    with nogil:
        if real is float:
            ln_forward_f32(&x[0, 0], gp, bp, &y_out[0, 0], &mean_out[0], &invstd_out[0], rows, cols, eps,
                           n_threads)
        else:
            ln_forward_f64(&x[0, 0], gp, bp, &y_out[0, 0], &mean_out[0], &invstd_out[0], rows, cols, eps,
                           n_threads)


def ln_backward(const real[:, ::1] x, const real[:, ::1] dy, const real[::1] gamma, const double[::1] mean,
                const double[::1] invstd, real[:, ::1] dx_out, real[::1] dgamma_out, real[::1] dbeta_out,
                double[::1] scratch, int n_threads):
    cdef int64_t rows = x.shape[0], cols = x.shape[1]
    if rows == 0 or cols == 0:
        return
    cdef const real *gp = NULL
    cdef real *dxp = NULL
    cdef real *dgp = NULL
    cdef real *dbp = NULL
    cdef double *sp = NULL
    if gamma is not None:
        gp = &gamma[0]
    if dx_out is not None:
        dxp = &dx_out[0, 0]
    if dgamma_out is not None:
        dgp = &dgamma_out[0]
        dbp = &dbeta_out[0]
        sp = &scratch[0]
    with nogil:
        if real is float:
            ln_backward_f32(&x[0, 0], &dy[0, 0], gp, &mean[0], &invstd[0], dxp, dgp, dbp, sp, rows, cols,
                            n_threads)
        else:
            ln_backward_f64(&x[0, 0], &dy[0, 0], gp, &mean[0], &invstd[0], dxp, dgp, dbp, sp, rows, cols,
                            n_threads)
