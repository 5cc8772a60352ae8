/* Fused optimizer steps and the global-norm reduction over a model's flat parameter/gradient buffers.
 *
 * Every step kernel makes ONE pass over the flat buffers inside ONE OpenMP region (when n_threads > 1):
 *   gradient clipping (scale by a global-norm coefficient, or clamp by value) -> weight decay -> update.
 * The flat buffer is cut into segments (parameter groups): segment s covers [seg_bounds[s], seg_bounds[s+1])
 * and uses row s of `hp` (n_seg x FNN_*_HP doubles, layout below) as its hyperparameters. The gradient buffer
 * is only read: clipping is applied on the fly and never written back.
 *
 * clip_mode: FNN_CLIP_SCALE multiplies the gradients of segment s by clip_args[s] (n_seg values: 1.0 = no
 *            clipping, the global-norm coefficient, or each tensor's own when segments are cut at tensors);
 *            FNN_CLIP_VALUE clamps every gradient to [clip_args[0], clip_args[1]].
 * Return value: the number of gradient elements the clamp changed (0 for FNN_CLIP_SCALE).
 *
 * The elementwise math runs in REAL, in the order of torch.optim's single-tensor implementation, so float64
 * results agree with PyTorch to rounding and float32 results to float32 rounding; step scalars (bias
 * corrections, step sizes) are computed in double by the caller. Results do not depend on n_threads.
 */
#ifndef FNN_OPTIM_H
#define FNN_OPTIM_H
#include <stdint.h>

enum fnn_clip_mode { FNN_CLIP_SCALE = 0, FNN_CLIP_VALUE = 1 };

/* Rows of `hp`, one per segment (all doubles; flags are 0.0 / 1.0): the field offsets, and each row's width
 * (FNN_*_HP). fastnn.ops.optim.HP_FIELDS names the same fields in the same order; a test checks them against
 * these values, which fastnn._ext.optim.hp_layout() exports. */
enum fnn_sgd_hp {
    FNN_SGD_LR,
    FNN_SGD_WEIGHT_DECAY,
    FNN_SGD_MOMENTUM,
    FNN_SGD_ONE_MINUS_DAMPENING,
    FNN_SGD_NESTEROV,
    FNN_SGD_FIRST_STEP,
    FNN_SGD_HP
};
/* clr: lr already divided by 1 + (t-1) lr_decay. eps_root (Adagrad, RMSprop, Adam): added inside the square
 * root (optax's eps_root; 0 = torch's formula, bit for bit) */
enum fnn_adagrad_hp {
    FNN_ADAGRAD_CLR,
    FNN_ADAGRAD_WEIGHT_DECAY,
    FNN_ADAGRAD_EPS,
    FNN_ADAGRAD_EPS_ROOT,
    FNN_ADAGRAD_HP
};
enum fnn_rmsprop_hp {
    FNN_RMSPROP_LR,
    FNN_RMSPROP_WEIGHT_DECAY,
    FNN_RMSPROP_ALPHA,
    FNN_RMSPROP_EPS,
    FNN_RMSPROP_MOMENTUM,
    FNN_RMSPROP_CENTERED,
    FNN_RMSPROP_EPS_ROOT,
    FNN_RMSPROP_HP
};
enum fnn_adadelta_hp {
    FNN_ADADELTA_LR,
    FNN_ADADELTA_WEIGHT_DECAY,
    FNN_ADADELTA_RHO,
    FNN_ADADELTA_EPS,
    FNN_ADADELTA_HP
};
/* step_size = lr / bc1; weight_decay coupled (0 for AdamW); decay_factor = 1 - lr wd for AdamW, else 1;
 * bc2_sqrt = sqrt(1 - beta2^t); eps_root_bc2 = eps_root (1 - beta2^t) */
enum fnn_adam_hp {
    FNN_ADAM_STEP_SIZE,
    FNN_ADAM_WEIGHT_DECAY,
    FNN_ADAM_DECAY_FACTOR,
    FNN_ADAM_BETA1,
    FNN_ADAM_BETA2,
    FNN_ADAM_EPS,
    FNN_ADAM_BC2_SQRT,
    FNN_ADAM_AMSGRAD,
    FNN_ADAM_EPS_ROOT_BC2,
    FNN_ADAM_HP
};

/* Row updates (issue 11 item 3): the step applied to a block of one tensor right after a gemm task has written
 * that block of its gradient, while it is in cache (fastnn.ops.gemm's epilogue), and to the remaining tensors in one
 * pass (update_tensors). One context per tensor: its element (r, c) is at [r * ld + c] of grad, param and every
 * state buffer (pointers to the tensor's first element, typed by the _f32 / _f64 function that reads them); the
 * state buffers in the order of the kind's step kernel (SGD: momentum; Adagrad: sum; RMSprop: square_avg, grad_avg,
 * momentum; Adadelta: square_avg, acc_delta; Adam: exp_avg, exp_avg_sq, max_exp_avg_sq), NULL when unused; hp its
 * segment's row; clip its constants as a step kernel's segment reads them (FNN_SEGMENT_CLIP). */
enum fnn_optim_kind { FNN_OPT_SGD, FNN_OPT_ADAGRAD, FNN_OPT_RMSPROP, FNN_OPT_ADADELTA, FNN_OPT_ADAM };
typedef struct {
    int kind, clip_mode;
    int64_t rows, ld;
    const void *grad;
    void *param, *state[3];
    const double *hp, *clip;
} fnn_row_update;

#define FNN_OPTIM_DECL(REAL, SFX)                                                                                      \
    double sumsq_##SFX(const REAL *x, double *block_out, int64_t n, int n_threads);                                    \
    int64_t sgd_step_##SFX(const REAL *grad, const int64_t *seg_bounds, const double *hp, REAL *param_io,              \
                           REAL *momentum_io, int64_t n_seg, int clip_mode, const double *clip_args, int n_threads);   \
    int64_t adagrad_step_##SFX(const REAL *grad, const int64_t *seg_bounds, const double *hp, REAL *param_io,          \
                               REAL *sum_io, int64_t n_seg, int clip_mode, const double *clip_args, int n_threads);    \
    int64_t rmsprop_step_##SFX(const REAL *grad, const int64_t *seg_bounds, const double *hp, REAL *param_io,          \
                               REAL *square_avg_io, REAL *grad_avg_io, REAL *momentum_io, int64_t n_seg,               \
                               int clip_mode, const double *clip_args, int n_threads);                                 \
    int64_t adadelta_step_##SFX(const REAL *grad, const int64_t *seg_bounds, const double *hp, REAL *param_io,         \
                                REAL *square_avg_io, REAL *acc_delta_io, int64_t n_seg, int clip_mode,                 \
                                const double *clip_args, int n_threads);                                               \
    int64_t adam_step_##SFX(const REAL *grad, const int64_t *seg_bounds, const double *hp, REAL *param_io,             \
                            REAL *exp_avg_io, REAL *exp_avg_sq_io, REAL *max_exp_avg_sq_io, int64_t n_seg,             \
                            int clip_mode, const double *clip_args, int n_threads);                                    \
    int64_t update_rows_##SFX(const void *ctx, int64_t r0, int64_t r1, int64_t c0, int64_t c1);                        \
    int64_t update_tensors_##SFX(const fnn_row_update *ctx, int64_t n_ctx, int n_threads);
FNN_OPTIM_DECL(float, f32)
FNN_OPTIM_DECL(double, f64)
#endif
