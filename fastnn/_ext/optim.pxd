# C prototypes of csrc/optim*.c, declared once for Cython (this file is optim.pyx's declaration file).
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t


cdef extern from "optim.h" nogil:
    enum:
        FNN_SGD_LR
        FNN_SGD_WEIGHT_DECAY
        FNN_SGD_MOMENTUM
        FNN_SGD_ONE_MINUS_DAMPENING
        FNN_SGD_NESTEROV
        FNN_SGD_FIRST_STEP
        FNN_SGD_HP
    enum:
        FNN_ADAGRAD_CLR
        FNN_ADAGRAD_WEIGHT_DECAY
        FNN_ADAGRAD_EPS
        FNN_ADAGRAD_EPS_ROOT
        FNN_ADAGRAD_HP
    enum:
        FNN_RMSPROP_LR
        FNN_RMSPROP_WEIGHT_DECAY
        FNN_RMSPROP_ALPHA
        FNN_RMSPROP_EPS
        FNN_RMSPROP_MOMENTUM
        FNN_RMSPROP_CENTERED
        FNN_RMSPROP_EPS_ROOT
        FNN_RMSPROP_HP
    enum:
        FNN_ADADELTA_LR
        FNN_ADADELTA_WEIGHT_DECAY
        FNN_ADADELTA_RHO
        FNN_ADADELTA_EPS
        FNN_ADADELTA_HP
    enum:
        FNN_ADAM_STEP_SIZE
        FNN_ADAM_WEIGHT_DECAY
        FNN_ADAM_DECAY_FACTOR
        FNN_ADAM_BETA1
        FNN_ADAM_BETA2
        FNN_ADAM_EPS
        FNN_ADAM_BC2_SQRT
        FNN_ADAM_AMSGRAD
        FNN_ADAM_EPS_ROOT_BC2
        FNN_ADAM_HP
    double sumsq_f32(const float *x, double *block_out, int64_t n, int n_threads)
    double sumsq_f64(const double *x, double *block_out, int64_t n, int n_threads)
    int64_t sgd_step_f32(const float *grad, const int64_t *seg_bounds, const double *hp, float *param_io,
                         float *momentum_io, int64_t n_seg, int clip_mode, const double *clip_args, int n_threads)
    int64_t sgd_step_f64(const double *grad, const int64_t *seg_bounds, const double *hp, double *param_io,
                         double *momentum_io, int64_t n_seg, int clip_mode, const double *clip_args, int n_threads)
    int64_t adagrad_step_f32(const float *grad, const int64_t *seg_bounds, const double *hp, float *param_io,
                             float *sum_io, int64_t n_seg, int clip_mode, const double *clip_args, int n_threads)
    int64_t adagrad_step_f64(const double *grad, const int64_t *seg_bounds, const double *hp, double *param_io,
                             double *sum_io, int64_t n_seg, int clip_mode, const double *clip_args, int n_threads)
    int64_t rmsprop_step_f32(const float *grad, const int64_t *seg_bounds, const double *hp, float *param_io,
                             float *square_avg_io, float *grad_avg_io, float *momentum_io, int64_t n_seg,
                             int clip_mode, const double *clip_args, int n_threads)
    int64_t rmsprop_step_f64(const double *grad, const int64_t *seg_bounds, const double *hp, double *param_io,
                             double *square_avg_io, double *grad_avg_io, double *momentum_io, int64_t n_seg,
                             int clip_mode, const double *clip_args, int n_threads)
    int64_t adadelta_step_f32(const float *grad, const int64_t *seg_bounds, const double *hp, float *param_io,
                              float *square_avg_io, float *acc_delta_io, int64_t n_seg, int clip_mode,
                              const double *clip_args, int n_threads)
    int64_t adadelta_step_f64(const double *grad, const int64_t *seg_bounds, const double *hp,
                              double *param_io, double *square_avg_io, double *acc_delta_io, int64_t n_seg,
                              int clip_mode, const double *clip_args, int n_threads)
    int64_t adam_step_f32(const float *grad, const int64_t *seg_bounds, const double *hp, float *param_io,
                          float *exp_avg_io, float *exp_avg_sq_io, float *max_exp_avg_sq_io, int64_t n_seg,
                          int clip_mode, const double *clip_args, int n_threads)
    int64_t adam_step_f64(const double *grad, const int64_t *seg_bounds, const double *hp, double *param_io,
                          double *exp_avg_io, double *exp_avg_sq_io, double *max_exp_avg_sq_io, int64_t n_seg,
                          int clip_mode, const double *clip_args, int n_threads)
    enum:
        FNN_OPT_SGD
        FNN_OPT_ADAGRAD
        FNN_OPT_RMSPROP
        FNN_OPT_ADADELTA
        FNN_OPT_ADAM
    ctypedef struct fnn_row_update:
        int kind, clip_mode
        int64_t rows, ld
        const void *grad
        void *param
        void *state[3]
        const double *hp
        const double *clip
    int64_t update_rows_f32(const void *ctx, int64_t r0, int64_t r1, int64_t c0, int64_t c1)
    int64_t update_rows_f64(const void *ctx, int64_t r0, int64_t r1, int64_t c0, int64_t c1)
    int64_t update_tensors_f32(const fnn_row_update *ctx, int64_t n_ctx, int n_threads)
    int64_t update_tensors_f64(const fnn_row_update *ctx, int64_t n_ctx, int n_threads)


# For fastnn._ext.chain, which calls the kernels of either dtype without Python in between (``single``: float32).
cdef int64_t update_tensors_any(bint single, const fnn_row_update *ctx, int64_t n_ctx, int n_threads) noexcept nogil
