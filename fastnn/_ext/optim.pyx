# cython: language_level=3
"""Cython shim over csrc/optim.c. No checks here: fastnn.ops.optim validates sizes, dtypes and segments.

Optional state buffers are passed as None (-> NULL) when the optimizer's options do not use them.
"""
from libc.stdint cimport int64_t

ctypedef fused real:
    float
    double

cdef extern from "optim.h" nogil:
    double sumsq_f32(const float *x, double *block_out, int64_t n, int n_threads)
    double sumsq_f64(const double *x, double *block_out, int64_t n, int n_threads)
    int64_t sgd_step_f32(const float *grad, const int64_t *seg_bounds, const double *hp, float *param_io,
                         float *momentum_io, int64_t n_seg, int clip_mode, double clip_arg, int n_threads)
    int64_t sgd_step_f64(const double *grad, const int64_t *seg_bounds, const double *hp, double *param_io,
                         double *momentum_io, int64_t n_seg, int clip_mode, double clip_arg, int n_threads)
    int64_t adagrad_step_f32(const float *grad, const int64_t *seg_bounds, const double *hp, float *param_io,
                             float *sum_io, int64_t n_seg, int clip_mode, double clip_arg, int n_threads)
    int64_t adagrad_step_f64(const double *grad, const int64_t *seg_bounds, const double *hp, double *param_io,
                             double *sum_io, int64_t n_seg, int clip_mode, double clip_arg, int n_threads)
    int64_t rmsprop_step_f32(const float *grad, const int64_t *seg_bounds, const double *hp, float *param_io,
                             float *square_avg_io, float *grad_avg_io, float *momentum_io, int64_t n_seg,
                             int clip_mode, double clip_arg, int n_threads)
    int64_t rmsprop_step_f64(const double *grad, const int64_t *seg_bounds, const double *hp, double *param_io,
                             double *square_avg_io, double *grad_avg_io, double *momentum_io, int64_t n_seg,
                             int clip_mode, double clip_arg, int n_threads)
    int64_t adadelta_step_f32(const float *grad, const int64_t *seg_bounds, const double *hp, float *param_io,
                              float *square_avg_io, float *acc_delta_io, int64_t n_seg, int clip_mode,
                              double clip_arg, int n_threads)
    int64_t adadelta_step_f64(const double *grad, const int64_t *seg_bounds, const double *hp,
                              double *param_io, double *square_avg_io, double *acc_delta_io, int64_t n_seg,
                              int clip_mode, double clip_arg, int n_threads)
    int64_t adam_step_f32(const float *grad, const int64_t *seg_bounds, const double *hp, float *param_io,
                          float *exp_avg_io, float *exp_avg_sq_io, float *max_exp_avg_sq_io, int64_t n_seg,
                          int clip_mode, double clip_arg, int n_threads)
    int64_t adam_step_f64(const double *grad, const int64_t *seg_bounds, const double *hp, double *param_io,
                          double *exp_avg_io, double *exp_avg_sq_io, double *max_exp_avg_sq_io, int64_t n_seg,
                          int clip_mode, double clip_arg, int n_threads)


cdef inline real *_opt(real[::1] a):
    return NULL if a is None else &a[0]


def sumsq(const real[::1] x, double[::1] block_out, int n_threads):
    """Sum of squares of x in double, by fixed blocks (block_out holds ceil(n / 4096) block sums)."""
    cdef int64_t n = x.shape[0]
    cdef double out = 0.0
    if n == 0:
        return 0.0
    with nogil:
        if real is float:
            out = sumsq_f32(&x[0], &block_out[0], n, n_threads)
        else:
            out = sumsq_f64(&x[0], &block_out[0], n, n_threads)
    return out


def sgd_step(const real[::1] grad, const int64_t[::1] seg_bounds, const double[:, ::1] hp,
             real[::1] param_io, real[::1] momentum_io, int clip_mode, double clip_arg, int n_threads):
    cdef int64_t n_seg = hp.shape[0], out = 0
    cdef real *mp = _opt(momentum_io)
    if param_io.shape[0] == 0:
        return 0
    with nogil:
        if real is float:
            out = sgd_step_f32(&grad[0], &seg_bounds[0], &hp[0, 0], &param_io[0], mp, n_seg, clip_mode,
                               clip_arg, n_threads)
        else:
            out = sgd_step_f64(&grad[0], &seg_bounds[0], &hp[0, 0], &param_io[0], mp, n_seg, clip_mode,
                               clip_arg, n_threads)
    return out


def adagrad_step(const real[::1] grad, const int64_t[::1] seg_bounds, const double[:, ::1] hp,
                 real[::1] param_io, real[::1] sum_io, int clip_mode, double clip_arg, int n_threads):
    cdef int64_t n_seg = hp.shape[0], out = 0
    if param_io.shape[0] == 0:
        return 0
    with nogil:
        if real is float:
            out = adagrad_step_f32(&grad[0], &seg_bounds[0], &hp[0, 0], &param_io[0], &sum_io[0], n_seg,
                                   clip_mode, clip_arg, n_threads)
        else:
            out = adagrad_step_f64(&grad[0], &seg_bounds[0], &hp[0, 0], &param_io[0], &sum_io[0], n_seg,
                                   clip_mode, clip_arg, n_threads)
    return out


def rmsprop_step(const real[::1] grad, const int64_t[::1] seg_bounds, const double[:, ::1] hp,
                 real[::1] param_io, real[::1] square_avg_io, real[::1] grad_avg_io, real[::1] momentum_io,
                 int clip_mode, double clip_arg, int n_threads):
    cdef int64_t n_seg = hp.shape[0], out = 0
    cdef real *gap = _opt(grad_avg_io)
    cdef real *mp = _opt(momentum_io)
    if param_io.shape[0] == 0:
        return 0
    with nogil:
        if real is float:
            out = rmsprop_step_f32(&grad[0], &seg_bounds[0], &hp[0, 0], &param_io[0], &square_avg_io[0], gap,
                                   mp, n_seg, clip_mode, clip_arg, n_threads)
        else:
            out = rmsprop_step_f64(&grad[0], &seg_bounds[0], &hp[0, 0], &param_io[0], &square_avg_io[0], gap,
                                   mp, n_seg, clip_mode, clip_arg, n_threads)
    return out


def adadelta_step(const real[::1] grad, const int64_t[::1] seg_bounds, const double[:, ::1] hp,
                  real[::1] param_io, real[::1] square_avg_io, real[::1] acc_delta_io, int clip_mode, double clip_arg,
                  int n_threads):
    cdef int64_t n_seg = hp.shape[0], out = 0
    if param_io.shape[0] == 0:
        return 0
    with nogil:
        if real is float:
            out = adadelta_step_f32(&grad[0], &seg_bounds[0], &hp[0, 0], &param_io[0], &square_avg_io[0],
                                    &acc_delta_io[0], n_seg, clip_mode, clip_arg, n_threads)
        else:
            out = adadelta_step_f64(&grad[0], &seg_bounds[0], &hp[0, 0], &param_io[0], &square_avg_io[0],
                                    &acc_delta_io[0], n_seg, clip_mode, clip_arg, n_threads)
    return out


def adam_step(const real[::1] grad, const int64_t[::1] seg_bounds, const double[:, ::1] hp,
              real[::1] param_io, real[::1] exp_avg_io, real[::1] exp_avg_sq_io, real[::1] max_exp_avg_sq_io,
              int clip_mode, double clip_arg, int n_threads):
    cdef int64_t n_seg = hp.shape[0], out = 0
    cdef real *vmp = _opt(max_exp_avg_sq_io)
    if param_io.shape[0] == 0:
        return 0
    with nogil:
        if real is float:
            out = adam_step_f32(&grad[0], &seg_bounds[0], &hp[0, 0], &param_io[0], &exp_avg_io[0],
                                &exp_avg_sq_io[0], vmp, n_seg, clip_mode, clip_arg, n_threads)
        else:
            out = adam_step_f64(&grad[0], &seg_bounds[0], &hp[0, 0], &param_io[0], &exp_avg_io[0],
                                &exp_avg_sq_io[0], vmp, n_seg, clip_mode, clip_arg, n_threads)
    return out
