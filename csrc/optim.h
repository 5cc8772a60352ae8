/* Fused optimizer steps and the global-norm reduction over a model's flat parameter/gradient buffers.
 *
 * Every step kernel makes ONE pass over the flat buffers inside ONE OpenMP region (when n_threads > 1):
 *   gradient clipping (scale by a global-norm coefficient, or clamp by value) -> weight decay -> update.
 * The flat buffer is cut into segments (parameter groups): segment s covers [seg_bounds[s], seg_bounds[s+1])
 * and uses row s of `hp` (n_seg x FNN_*_HP doubles, layout below) as its hyperparameters. The gradient buffer
 * is only read: clipping is applied on the fly and never written back.
 *
 * clip_mode: FNN_CLIP_SCALE multiplies each gradient by clip_arg (1.0 = no clipping, or the global-norm
 *            coefficient); FNN_CLIP_VALUE clamps each gradient to [-clip_arg, clip_arg].
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

/* Rows of `hp`, one per segment (all doubles; flags are 0.0 / 1.0). */
/* SGD:      lr, weight_decay, momentum, 1 - dampening, nesterov, first_step */
#define FNN_SGD_HP 6
/* Adagrad:  clr (lr already divided by 1 + (t-1) lr_decay), weight_decay, eps */
#define FNN_ADAGRAD_HP 3
/* RMSprop:  lr, weight_decay, alpha, eps, momentum, centered */
#define FNN_RMSPROP_HP 6
/* Adadelta: lr, weight_decay, rho, eps */
#define FNN_ADADELTA_HP 4
/* Adam:     step_size (lr / bc1), weight_decay (coupled, 0 for AdamW), decay_factor (1 - lr wd for AdamW,
 *           else 1), beta1, beta2, eps, sqrt(bc2), amsgrad */
#define FNN_ADAM_HP 8

#define FNN_OPTIM_DECL(REAL, SFX)                                                                              \
    double sumsq_##SFX(const REAL *x, double *block_out, int64_t n, int n_threads);                           \
    int64_t sgd_step_##SFX(const REAL *grad, const int64_t *seg_bounds, const double *hp, REAL *param_io,      \
                           REAL *momentum_io, int64_t n_seg, int clip_mode, double clip_arg, int n_threads);   \
    int64_t adagrad_step_##SFX(const REAL *grad, const int64_t *seg_bounds, const double *hp, REAL *param_io,  \
                               REAL *sum_io, int64_t n_seg, int clip_mode, double clip_arg, int n_threads);    \
    int64_t rmsprop_step_##SFX(const REAL *grad, const int64_t *seg_bounds, const double *hp, REAL *param_io,  \
                               REAL *square_avg_io, REAL *grad_avg_io, REAL *momentum_io, int64_t n_seg,       \
                               int clip_mode, double clip_arg, int n_threads);                                 \
    int64_t adadelta_step_##SFX(const REAL *grad, const int64_t *seg_bounds, const double *hp, REAL *param_io, \
                                REAL *square_avg_io, REAL *acc_delta_io, int64_t n_seg, int clip_mode,         \
                                double clip_arg, int n_threads);                                               \
    int64_t adam_step_##SFX(const REAL *grad, const int64_t *seg_bounds, const double *hp, REAL *param_io,     \
                            REAL *exp_avg_io, REAL *exp_avg_sq_io, REAL *max_exp_avg_sq_io, int64_t n_seg,     \
                            int clip_mode, double clip_arg, int n_threads);
FNN_OPTIM_DECL(float, f32)
FNN_OPTIM_DECL(double, f64)
#endif
