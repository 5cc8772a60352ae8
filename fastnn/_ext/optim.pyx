# cython: language_level=3
"""Cython shim over csrc/optim.c. No checks here: fastnn.ops.optim validates sizes, dtypes and segments.

Optional state buffers are passed as None (-> NULL) when the optimizer's options do not use them. clip_args: one
scale per segment (CLIP_SCALE) or the bounds [lo, hi] (CLIP_VALUE), see csrc/optim.h.
"""
cimport cython
from libc.stdint cimport int64_t
from libc.stdlib cimport calloc, free

from ._types cimport real


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
             real[::1] param_io, real[::1] momentum_io, int clip_mode, const double[::1] clip_args,
             int n_threads):
    cdef int64_t n_seg = hp.shape[0], out = 0
    cdef real *mp = _opt(momentum_io)
    if param_io.shape[0] == 0:
        return 0
    with nogil:
        if real is float:
            out = sgd_step_f32(&grad[0], &seg_bounds[0], &hp[0, 0], &param_io[0], mp, n_seg, clip_mode,
                               &clip_args[0], n_threads)
        else:
            out = sgd_step_f64(&grad[0], &seg_bounds[0], &hp[0, 0], &param_io[0], mp, n_seg, clip_mode,
                               &clip_args[0], n_threads)
    return out


def adagrad_step(const real[::1] grad, const int64_t[::1] seg_bounds, const double[:, ::1] hp,
                 real[::1] param_io, real[::1] sum_io, int clip_mode, const double[::1] clip_args, int n_threads):
    cdef int64_t n_seg = hp.shape[0], out = 0
    if param_io.shape[0] == 0:
        return 0
    with nogil:
        if real is float:
            out = adagrad_step_f32(&grad[0], &seg_bounds[0], &hp[0, 0], &param_io[0], &sum_io[0], n_seg,
                                   clip_mode, &clip_args[0], n_threads)
        else:
            out = adagrad_step_f64(&grad[0], &seg_bounds[0], &hp[0, 0], &param_io[0], &sum_io[0], n_seg,
                                   clip_mode, &clip_args[0], n_threads)
    return out


def rmsprop_step(const real[::1] grad, const int64_t[::1] seg_bounds, const double[:, ::1] hp,
                 real[::1] param_io, real[::1] square_avg_io, real[::1] grad_avg_io, real[::1] momentum_io,
                 int clip_mode, const double[::1] clip_args, int n_threads):
    cdef int64_t n_seg = hp.shape[0], out = 0
    cdef real *gap = _opt(grad_avg_io)
    cdef real *mp = _opt(momentum_io)
    if param_io.shape[0] == 0:
        return 0
    with nogil:
        if real is float:
            out = rmsprop_step_f32(&grad[0], &seg_bounds[0], &hp[0, 0], &param_io[0], &square_avg_io[0], gap,
                                   mp, n_seg, clip_mode, &clip_args[0], n_threads)
        else:
            out = rmsprop_step_f64(&grad[0], &seg_bounds[0], &hp[0, 0], &param_io[0], &square_avg_io[0], gap,
                                   mp, n_seg, clip_mode, &clip_args[0], n_threads)
    return out


def adadelta_step(const real[::1] grad, const int64_t[::1] seg_bounds, const double[:, ::1] hp,
                  real[::1] param_io, real[::1] square_avg_io, real[::1] acc_delta_io, int clip_mode,
                  const double[::1] clip_args, int n_threads):
    cdef int64_t n_seg = hp.shape[0], out = 0
    if param_io.shape[0] == 0:
        return 0
    with nogil:
        if real is float:
            out = adadelta_step_f32(&grad[0], &seg_bounds[0], &hp[0, 0], &param_io[0], &square_avg_io[0],
                                    &acc_delta_io[0], n_seg, clip_mode, &clip_args[0], n_threads)
        else:
            out = adadelta_step_f64(&grad[0], &seg_bounds[0], &hp[0, 0], &param_io[0], &square_avg_io[0],
                                    &acc_delta_io[0], n_seg, clip_mode, &clip_args[0], n_threads)
    return out


def adam_step(const real[::1] grad, const int64_t[::1] seg_bounds, const double[:, ::1] hp,
              real[::1] param_io, real[::1] exp_avg_io, real[::1] exp_avg_sq_io, real[::1] max_exp_avg_sq_io,
              int clip_mode, const double[::1] clip_args, int n_threads):
    cdef int64_t n_seg = hp.shape[0], out = 0
    cdef real *vmp = _opt(max_exp_avg_sq_io)
    if param_io.shape[0] == 0:
        return 0
    with nogil:
        if real is float:
            out = adam_step_f32(&grad[0], &seg_bounds[0], &hp[0, 0], &param_io[0], &exp_avg_io[0],
                                &exp_avg_sq_io[0], vmp, n_seg, clip_mode, &clip_args[0], n_threads)
        else:
            out = adam_step_f64(&grad[0], &seg_bounds[0], &hp[0, 0], &param_io[0], &exp_avg_io[0],
                                &exp_avg_sq_io[0], vmp, n_seg, clip_mode, &clip_args[0], n_threads)
    return out


def kinds():
    """{optimizer: its code in csrc/optim.h's fnn_optim_kind} (a row-update context's kind)."""
    return {"sgd": FNN_OPT_SGD, "adagrad": FNN_OPT_ADAGRAD, "rmsprop": FNN_OPT_RMSPROP,
            "adadelta": FNN_OPT_ADADELTA, "adam": FNN_OPT_ADAM}


def hp_layout():
    """{optimizer: ({field: offset in an hp row}, row width)}, from the enums of csrc/optim.h."""
    return {
        "sgd": ({"lr": FNN_SGD_LR, "weight_decay": FNN_SGD_WEIGHT_DECAY, "momentum": FNN_SGD_MOMENTUM,
                 "one_minus_dampening": FNN_SGD_ONE_MINUS_DAMPENING, "nesterov": FNN_SGD_NESTEROV,
                 "first_step": FNN_SGD_FIRST_STEP}, FNN_SGD_HP),
        "adagrad": ({"clr": FNN_ADAGRAD_CLR, "weight_decay": FNN_ADAGRAD_WEIGHT_DECAY, "eps": FNN_ADAGRAD_EPS,
                     "eps_root": FNN_ADAGRAD_EPS_ROOT},
                    FNN_ADAGRAD_HP),
        "rmsprop": ({"lr": FNN_RMSPROP_LR, "weight_decay": FNN_RMSPROP_WEIGHT_DECAY, "alpha": FNN_RMSPROP_ALPHA,
                     "eps": FNN_RMSPROP_EPS, "momentum": FNN_RMSPROP_MOMENTUM, "centered": FNN_RMSPROP_CENTERED,
                     "eps_root": FNN_RMSPROP_EPS_ROOT},
                    FNN_RMSPROP_HP),
        "adadelta": ({"lr": FNN_ADADELTA_LR, "weight_decay": FNN_ADADELTA_WEIGHT_DECAY, "rho": FNN_ADADELTA_RHO,
                      "eps": FNN_ADADELTA_EPS}, FNN_ADADELTA_HP),
        "adam": ({"step_size": FNN_ADAM_STEP_SIZE, "weight_decay": FNN_ADAM_WEIGHT_DECAY,
                  "decay_factor": FNN_ADAM_DECAY_FACTOR, "beta1": FNN_ADAM_BETA1, "beta2": FNN_ADAM_BETA2,
                  "eps": FNN_ADAM_EPS, "bc2_sqrt": FNN_ADAM_BC2_SQRT, "amsgrad": FNN_ADAM_AMSGRAD,
                  "eps_root_bc2": FNN_ADAM_EPS_ROOT_BC2}, FNN_ADAM_HP),
    }


@cython.auto_pickle(False)  # it holds raw pointers
cdef class TensorUpdates:
    """Row-update contexts (csrc/optim.h fnn_row_update), one per tensor, set from addresses by
    fastnn.ops.optim.tensor_updates, which checks them and keeps the arrays they point into alive in ``keep``."""
    cdef fnn_row_update *ctx
    cdef readonly int64_t n
    cdef readonly bint single
    cdef readonly object keep

    def __cinit__(self, int64_t n, bint single, object keep):
        self.ctx = <fnn_row_update *>calloc(n if n > 0 else 1, sizeof(fnn_row_update))
        if self.ctx == NULL:
            raise MemoryError("cannot allocate the row-update contexts")
        self.n, self.single, self.keep = n, single, keep

    def __dealloc__(self):
        free(self.ctx)

    def set(self, int64_t i, int kind, int64_t rows, int64_t ld, size_t grad, size_t param, size_t s0, size_t s1,
            size_t s2, size_t hp, int clip_mode, size_t clip):
        cdef fnn_row_update *u = &self.ctx[i]
        u.kind, u.clip_mode, u.rows, u.ld = kind, clip_mode, rows, ld
        u.grad, u.param, u.hp, u.clip = <const void *>grad, <void *>param, <const double *>hp, <const double *>clip
        u.state[0], u.state[1], u.state[2] = <void *>s0, <void *>s1, <void *>s2

    def address(self, int64_t i):
        """The address of context i, for a gemm epilogue."""
        return <size_t>&self.ctx[i]

    def epilogue(self):
        """The address of update_rows for these tensors' dtype (the gemm epilogue)."""
        return <size_t>&update_rows_f32 if self.single else <size_t>&update_rows_f64

    def update_all(self, int n_threads):
        """Apply the step to the whole of every tensor (one OpenMP region); returns the clamp count."""
        cdef int64_t out = 0
        with nogil:
            out = update_tensors_any(self.single, self.ctx, self.n, n_threads)
        return out


cdef int64_t update_tensors_any(bint single, const fnn_row_update *ctx, int64_t n_ctx, int n_threads) noexcept nogil:
    return update_tensors_f32(ctx, n_ctx, n_threads) if single else update_tensors_f64(ctx, n_ctx, n_threads)
