/* Template over REAL / SFX (see fnn_instantiate.h): fused optimizer steps. Contract in optim.h.
 *
 * Structure of every step kernel:
 *   SFX(NAME_range)  the elementwise loop over [lo, hi) of one segment, always inlined and specialised on its
 *                    flags (clamp, amsgrad, ...) so each variant is a branch-free, vectorisable loop;
 *   SFX(NAME_chunk)  picks the variant for one segment's flags; compiled once per ISA (FNN_CLONES);
 *   SFX(NAME_step)   ONE OpenMP region: each thread walks its fixed share of the flat buffer across segments.
 * The arithmetic follows torch.optim's single-tensor code operation by operation (the comments give the torch
 * call) with scalars rounded to REAL the way ATen rounds a Python scalar argument; each operation is rounded on its
 * own (fp-contract off), where ATen's AVX2/AVX-512 kernels fuse add_(alpha=), addcmul_ and lerp_ into one fma and
 * its vectorized sqrt is not correctly rounded: torch's results agree to rounding, not to the bit.
 */

#undef FNN_SQRT
#if REAL_IS_FLOAT
#define FNN_SQRT sqrtf /* sqrt() would widen float math to double */
#else
#define FNN_SQRT sqrt
#endif

/* Gradient as the optimizer sees it: clamped to [c0, c1] (counting clamped elements) or scaled by the segment's
 * norm coefficient c0 (1 when not clipping; x * 1 is exact, so no clipping costs no accuracy). NaN passes
 * through. */
#define FNN_LOAD_GRAD(gv, i)                                                                                           \
    REAL gv = g[i];                                                                                                    \
    if (clamp) {                                                                                                       \
        nclip += (gv > c1) | (gv < c0);                                                                                \
        gv = gv > c1 ? c1 : (gv < c0 ? c0 : gv);                                                                       \
    } else {                                                                                                           \
        gv = gv * c0;                                                                                                  \
    }

/* The clipping constants of one segment's chunk, rounded to REAL: clamp to [c0, c1] (FNN_CLIP_VALUE) or
 * multiply by c0 (FNN_CLIP_SCALE, the segment's own coefficient). */
#define FNN_CLIP_CONSTANTS(clip_mode, clip)                                                                            \
    const REAL c0 = (REAL)(clip)[0], c1 = (clip_mode) == FNN_CLIP_VALUE ? (REAL)(clip)[1] : c0;

/* A chunk is [lo, hi) of each of `rows` rows `ld` apart (one row: a run of the flat buffer; several: a block of a
 * 2-D tensor, the tile a gemm task just wrote). RANGE_CALL uses lo, hi; the flags are picked once per chunk. */
#define FNN_CHUNK_ROWS(RANGE_CALL)                                                                                     \
    ({                                                                                                                 \
        int64_t n_ = 0;                                                                                                \
        for (int64_t r_ = 0; r_ < rows; r_++, lo += ld, hi += ld) n_ += RANGE_CALL;                                    \
        n_;                                                                                                            \
    })

/* ------------------------------------------------------------------------------------------------ SGD ---- */
static FNN_INLINE int64_t SFX(sgd_range)(const REAL *FNN_RESTRICT g, REAL *FNN_RESTRICT p, REAL *FNN_RESTRICT buf,
                                         int64_t lo, int64_t hi, const double *h, const REAL c0, const REAL c1,
                                         const int clamp, const int mom, const int nest, const int first) {
    const REAL neg_lr = (REAL)(-h[FNN_SGD_LR]), wd = (REAL)h[FNN_SGD_WEIGHT_DECAY], mu = (REAL)h[FNN_SGD_MOMENTUM],
               one_minus_damp = (REAL)h[FNN_SGD_ONE_MINUS_DAMPENING];
    int64_t nclip = 0;
    for (int64_t i = lo; i < hi; i++) {
        FNN_LOAD_GRAD(gi, i)
        gi = gi + wd * p[i]; /* grad.add(param, alpha=weight_decay) */
        REAL d = gi;
        if (mom) {
            REAL b = first ? gi : buf[i] * mu + one_minus_damp * gi; /* clone / mul_(mu).add_(g, alpha=1-damp) */
            buf[i] = b;
            d = nest ? gi + mu * b : b; /* grad.add(buf, alpha=momentum) */
        }
        p[i] = p[i] + neg_lr * d; /* param.add_(grad, alpha=-lr) */
    }
    return nclip;
}

FNN_CLONES static int64_t SFX(sgd_chunk)(const REAL *g, REAL *p, REAL *buf, int64_t lo, int64_t hi, int64_t rows,
                                         int64_t ld, const double *h, int clip_mode, const double *clip) {
    FNN_CLIP_CONSTANTS(clip_mode, clip)
    const int clamp = clip_mode == FNN_CLIP_VALUE, mom = h[FNN_SGD_MOMENTUM] != 0.0, nest = h[FNN_SGD_NESTEROV] != 0.0,
              first = h[FNN_SGD_FIRST_STEP] != 0.0;
#define FNN_SGD_V(CL, MO, NE, FI) FNN_CHUNK_ROWS(SFX(sgd_range)(g, p, buf, lo, hi, h, c0, c1, CL, MO, NE, FI))
    if (!mom) return clamp ? FNN_SGD_V(1, 0, 0, 0) : FNN_SGD_V(0, 0, 0, 0);
    if (clamp) {
        if (nest) return first ? FNN_SGD_V(1, 1, 1, 1) : FNN_SGD_V(1, 1, 1, 0);
        return first ? FNN_SGD_V(1, 1, 0, 1) : FNN_SGD_V(1, 1, 0, 0);
    }
    if (nest) return first ? FNN_SGD_V(0, 1, 1, 1) : FNN_SGD_V(0, 1, 1, 0);
    return first ? FNN_SGD_V(0, 1, 0, 1) : FNN_SGD_V(0, 1, 0, 0);
#undef FNN_SGD_V
}

int64_t SFX(sgd_step)(const REAL *grad, const int64_t *seg_bounds, const double *hp, REAL *param_io, REAL *momentum_io,
                      int64_t n_seg, int clip_mode, const double *clip_args, int n_threads) {
    int64_t nclip = 0;
    FNN_SEGMENT_LOOP(n_threads, seg_bounds, n_seg, nclip,
                     SFX(sgd_chunk)(grad, param_io, momentum_io, lo, hi, 1, 0, hp + s * FNN_SGD_HP, clip_mode,
                                    FNN_SEGMENT_CLIP(clip_mode, clip_args, s)))
    return nclip;
}

/* -------------------------------------------------------------------------------------------- Adagrad ---- */
static FNN_INLINE int64_t SFX(adagrad_range)(const REAL *FNN_RESTRICT g, REAL *FNN_RESTRICT p, REAL *FNN_RESTRICT sum,
                                             int64_t lo, int64_t hi, const double *h, const REAL c0, const REAL c1,
                                             const int clamp) {
    const REAL neg_clr = (REAL)(-h[FNN_ADAGRAD_CLR]), wd = (REAL)h[FNN_ADAGRAD_WEIGHT_DECAY],
               eps = (REAL)h[FNN_ADAGRAD_EPS], eps_root = (REAL)h[FNN_ADAGRAD_EPS_ROOT];
    int64_t nclip = 0;
    for (int64_t i = lo; i < hi; i++) {
        FNN_LOAD_GRAD(gi, i)
        gi = gi + wd * p[i];             /* grad.add(param, alpha=weight_decay) */
        const REAL s = sum[i] + gi * gi; /* state_sum.addcmul_(grad, grad, value=1) */
        sum[i] = s;
        /* state_sum.sqrt().add_(eps); s + 0 == s, so eps_root = 0 is torch's formula to the bit */
        const REAL std = FNN_SQRT(s + eps_root) + eps;
        p[i] = p[i] + neg_clr * gi / std; /* param.addcdiv_(grad, std, value=-clr) */
    }
    return nclip;
}

FNN_CLONES static int64_t SFX(adagrad_chunk)(const REAL *g, REAL *p, REAL *sum, int64_t lo, int64_t hi, int64_t rows,
                                             int64_t ld, const double *h, int clip_mode, const double *clip) {
    FNN_CLIP_CONSTANTS(clip_mode, clip)
    return clip_mode == FNN_CLIP_VALUE ? FNN_CHUNK_ROWS(SFX(adagrad_range)(g, p, sum, lo, hi, h, c0, c1, 1))
                                       : FNN_CHUNK_ROWS(SFX(adagrad_range)(g, p, sum, lo, hi, h, c0, c1, 0));
}

int64_t SFX(adagrad_step)(const REAL *grad, const int64_t *seg_bounds, const double *hp, REAL *param_io, REAL *sum_io,
                          int64_t n_seg, int clip_mode, const double *clip_args, int n_threads) {
    int64_t nclip = 0;
    FNN_SEGMENT_LOOP(n_threads, seg_bounds, n_seg, nclip,
                     SFX(adagrad_chunk)(grad, param_io, sum_io, lo, hi, 1, 0, hp + s * FNN_ADAGRAD_HP, clip_mode,
                                        FNN_SEGMENT_CLIP(clip_mode, clip_args, s)))
    return nclip;
}

/* -------------------------------------------------------------------------------------------- RMSprop ---- */
static FNN_INLINE int64_t SFX(rmsprop_range)(const REAL *FNN_RESTRICT g, REAL *FNN_RESTRICT p, REAL *FNN_RESTRICT sq,
                                             REAL *FNN_RESTRICT ga, REAL *FNN_RESTRICT buf, int64_t lo, int64_t hi,
                                             const double *h, const REAL c0, const REAL c1, const int clamp,
                                             const int centered, const int mom, const int lerp_lo) {
    const REAL neg_lr = (REAL)(-h[FNN_RMSPROP_LR]), wd = (REAL)h[FNN_RMSPROP_WEIGHT_DECAY],
               alpha = (REAL)h[FNN_RMSPROP_ALPHA], eps = (REAL)h[FNN_RMSPROP_EPS], mu = (REAL)h[FNN_RMSPROP_MOMENTUM],
               eps_root = (REAL)h[FNN_RMSPROP_EPS_ROOT];
    const REAL one_minus_alpha = (REAL)(1.0 - h[FNN_RMSPROP_ALPHA]);
    const REAL w = one_minus_alpha, one_minus_w = (REAL)1 - w; /* lerp weight as ATen's lerp uses it */
    int64_t nclip = 0;
    for (int64_t i = lo; i < hi; i++) {
        FNN_LOAD_GRAD(gi, i)
        gi = gi + wd * p[i];                                      /* grad.add(param, alpha=weight_decay) */
        const REAL v = sq[i] * alpha + one_minus_alpha * gi * gi; /* mul_(alpha).addcmul_(g, g, value=1-alpha) */
        sq[i] = v;
        REAL avg;
        if (centered) {
            const REAL a = ga[i]; /* grad_avg.lerp_(grad, 1-alpha) */
            const REAL an = lerp_lo ? a + w * (gi - a) : gi - (gi - a) * one_minus_w;
            ga[i] = an;
            /* square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_(). An infinite v (a gradient whose square
             * overflowed) stays infinite, as in torch's fused multiply-add: v - an^2 would be inf - inf = NaN. */
            const REAL var = v == (REAL)INFINITY ? v : v + (REAL)(-1) * an * an;
            avg = FNN_SQRT(var + eps_root);
        } else {
            avg = FNN_SQRT(v + eps_root); /* + 0 is exact: torch's square_avg.sqrt() by default */
        }
        avg = avg + eps;
        if (mom) {
            const REAL b = buf[i] * mu + gi / avg; /* buf.mul_(momentum).addcdiv_(grad, avg) */
            buf[i] = b;
            p[i] = p[i] + neg_lr * b; /* param.add_(buf, alpha=-lr) */
        } else {
            p[i] = p[i] + neg_lr * gi / avg; /* param.addcdiv_(grad, avg, value=-lr) */
        }
    }
    return nclip;
}

FNN_CLONES static int64_t SFX(rmsprop_chunk)(const REAL *g, REAL *p, REAL *sq, REAL *ga, REAL *buf, int64_t lo,
                                             int64_t hi, int64_t rows, int64_t ld, const double *h, int clip_mode,
                                             const double *clip) {
    FNN_CLIP_CONSTANTS(clip_mode, clip)
    const int clamp = clip_mode == FNN_CLIP_VALUE, mom = h[FNN_RMSPROP_MOMENTUM] > 0.0,
              centered = h[FNN_RMSPROP_CENTERED] != 0.0;
    const int lerp_lo = fabs(1.0 - h[FNN_RMSPROP_ALPHA]) < 0.5;
#define FNN_RMS_V(CL, CE, MO, LL)                                                                                      \
    FNN_CHUNK_ROWS(SFX(rmsprop_range)(g, p, sq, ga, buf, lo, hi, h, c0, c1, CL, CE, MO, LL))
    if (centered) {
        if (lerp_lo) {
            if (mom) return clamp ? FNN_RMS_V(1, 1, 1, 1) : FNN_RMS_V(0, 1, 1, 1);
            return clamp ? FNN_RMS_V(1, 1, 0, 1) : FNN_RMS_V(0, 1, 0, 1);
        }
        if (mom) return clamp ? FNN_RMS_V(1, 1, 1, 0) : FNN_RMS_V(0, 1, 1, 0);
        return clamp ? FNN_RMS_V(1, 1, 0, 0) : FNN_RMS_V(0, 1, 0, 0);
    }
    if (mom) return clamp ? FNN_RMS_V(1, 0, 1, 0) : FNN_RMS_V(0, 0, 1, 0);
    return clamp ? FNN_RMS_V(1, 0, 0, 0) : FNN_RMS_V(0, 0, 0, 0);
#undef FNN_RMS_V
}

int64_t SFX(rmsprop_step)(const REAL *grad, const int64_t *seg_bounds, const double *hp, REAL *param_io,
                          REAL *square_avg_io, REAL *grad_avg_io, REAL *momentum_io, int64_t n_seg, int clip_mode,
                          const double *clip_args, int n_threads) {
    int64_t nclip = 0;
    FNN_SEGMENT_LOOP(n_threads, seg_bounds, n_seg, nclip,
                     SFX(rmsprop_chunk)(grad, param_io, square_avg_io, grad_avg_io, momentum_io, lo, hi, 1, 0,
                                        hp + s * FNN_RMSPROP_HP, clip_mode, FNN_SEGMENT_CLIP(clip_mode, clip_args, s)))
    return nclip;
}

/* ------------------------------------------------------------------------------------------- Adadelta ---- */
static FNN_INLINE int64_t SFX(adadelta_range)(const REAL *FNN_RESTRICT g, REAL *FNN_RESTRICT p, REAL *FNN_RESTRICT sq,
                                              REAL *FNN_RESTRICT acc, int64_t lo, int64_t hi, const double *h,
                                              const REAL c0, const REAL c1, const int clamp) {
    const REAL neg_lr = (REAL)(-h[FNN_ADADELTA_LR]), wd = (REAL)h[FNN_ADADELTA_WEIGHT_DECAY],
               rho = (REAL)h[FNN_ADADELTA_RHO], eps = (REAL)h[FNN_ADADELTA_EPS];
    const REAL one_minus_rho = (REAL)(1.0 - h[FNN_ADADELTA_RHO]);
    int64_t nclip = 0;
    for (int64_t i = lo; i < hi; i++) {
        FNN_LOAD_GRAD(gi, i)
        gi = gi + wd * p[i];                                  /* grad.add(param, alpha=weight_decay) */
        const REAL v = sq[i] * rho + one_minus_rho * gi * gi; /* mul_(rho).addcmul_(g, g, value=1-rho) */
        sq[i] = v;
        const REAL std = FNN_SQRT(v + eps);                    /* square_avg.add(eps).sqrt_() */
        const REAL delta = FNN_SQRT(acc[i] + eps) / std * gi;  /* acc_delta.add(eps).sqrt_().div_(std).mul_(g) */
        acc[i] = acc[i] * rho + one_minus_rho * delta * delta; /* mul_(rho).addcmul_(d, d, value=1-rho) */
        p[i] = p[i] + neg_lr * delta;                          /* param.add_(delta, alpha=-lr) */
    }
    return nclip;
}

FNN_CLONES static int64_t SFX(adadelta_chunk)(const REAL *g, REAL *p, REAL *sq, REAL *acc, int64_t lo, int64_t hi,
                                              int64_t rows, int64_t ld, const double *h, int clip_mode,
                                              const double *clip) {
    FNN_CLIP_CONSTANTS(clip_mode, clip)
    return clip_mode == FNN_CLIP_VALUE ? FNN_CHUNK_ROWS(SFX(adadelta_range)(g, p, sq, acc, lo, hi, h, c0, c1, 1))
                                       : FNN_CHUNK_ROWS(SFX(adadelta_range)(g, p, sq, acc, lo, hi, h, c0, c1, 0));
}

int64_t SFX(adadelta_step)(const REAL *grad, const int64_t *seg_bounds, const double *hp, REAL *param_io,
                           REAL *square_avg_io, REAL *acc_delta_io, int64_t n_seg, int clip_mode,
                           const double *clip_args, int n_threads) {
    int64_t nclip = 0;
    FNN_SEGMENT_LOOP(n_threads, seg_bounds, n_seg, nclip,
                     SFX(adadelta_chunk)(grad, param_io, square_avg_io, acc_delta_io, lo, hi, 1, 0,
                                         hp + s * FNN_ADADELTA_HP, clip_mode,
                                         FNN_SEGMENT_CLIP(clip_mode, clip_args, s)))
    return nclip;
}

/* ------------------------------------------------------------------------------------ Adam / AdamW ---- */
static FNN_INLINE int64_t SFX(adam_range)(const REAL *FNN_RESTRICT g, REAL *FNN_RESTRICT p, REAL *FNN_RESTRICT m,
                                          REAL *FNN_RESTRICT v, REAL *FNN_RESTRICT vmax, int64_t lo, int64_t hi,
                                          const double *h, const REAL c0, const REAL c1, const int clamp, const int ams,
                                          const int decoupled, const int lerp_lo) {
    const REAL neg_step = (REAL)(-h[FNN_ADAM_STEP_SIZE]), wd = (REAL)h[FNN_ADAM_WEIGHT_DECAY],
               decay = (REAL)h[FNN_ADAM_DECAY_FACTOR], beta2 = (REAL)h[FNN_ADAM_BETA2];
    const REAL eps = (REAL)h[FNN_ADAM_EPS], bc2_sqrt = (REAL)h[FNN_ADAM_BC2_SQRT],
               eps_root = (REAL)h[FNN_ADAM_EPS_ROOT_BC2];
    const REAL w = (REAL)(1.0 - h[FNN_ADAM_BETA1]), one_minus_w = (REAL)1 - w; /* exp_avg.lerp_(grad, 1 - beta1) */
    const REAL one_minus_beta2 = (REAL)(1.0 - h[FNN_ADAM_BETA2]);
    int64_t nclip = 0;
    for (int64_t i = lo; i < hi; i++) {
        FNN_LOAD_GRAD(gi, i)
        REAL pi = p[i];
        if (decoupled)
            pi = pi * decay; /* param.mul_(1 - lr * weight_decay) */
        else
            gi = gi + wd * pi; /* grad.add(param, alpha=weight_decay) */
        const REAL a = m[i];
        const REAL mi = lerp_lo ? a + w * (gi - a) : gi - (gi - a) * one_minus_w;
        m[i] = mi;
        REAL vi = v[i] * beta2 + one_minus_beta2 * gi * gi; /* mul_(beta2).addcmul_(g, g, value=1-beta2) */
        v[i] = vi;
        if (ams) { /* torch.maximum(max_exp_avg_sq, exp_avg_sq) */
            const REAL vm = vmax[i];
            vi = (vm != vm || vm > vi) ? vm : vi; /* NaN-propagating max, like torch.maximum */
            vmax[i] = vi;
        }
        /* (v.sqrt() / bias_correction2_sqrt).add_(eps); with eps_root: sqrt(v / bc2 + eps_root) + eps (optax),
         * computed as sqrt(v + eps_root bc2) / sqrt(bc2) so that eps_root = 0 adds an exact 0 */
        const REAL denom = FNN_SQRT(vi + eps_root) / bc2_sqrt + eps;
        p[i] = pi + neg_step * mi / denom; /* param.addcdiv_(exp_avg, denom, value=-step_size) */
    }
    return nclip;
}

FNN_CLONES static int64_t SFX(adam_chunk)(const REAL *g, REAL *p, REAL *m, REAL *v, REAL *vmax, int64_t lo, int64_t hi,
                                          int64_t rows, int64_t ld, const double *h, int clip_mode,
                                          const double *clip) {
    FNN_CLIP_CONSTANTS(clip_mode, clip)
    const int clamp = clip_mode == FNN_CLIP_VALUE, ams = h[FNN_ADAM_AMSGRAD] != 0.0,
              dec = h[FNN_ADAM_DECAY_FACTOR] != 1.0;
    const int lerp_lo = fabs(1.0 - h[FNN_ADAM_BETA1]) < 0.5;
    if (!lerp_lo) { /* beta1 <= 0.5: rare, one generic variant */
        return FNN_CHUNK_ROWS(SFX(adam_range)(g, p, m, v, vmax, lo, hi, h, c0, c1, clamp, ams, dec, 0));
    }
#define FNN_ADAM_V(CL, AM, DE) FNN_CHUNK_ROWS(SFX(adam_range)(g, p, m, v, vmax, lo, hi, h, c0, c1, CL, AM, DE, 1))
    if (ams) {
        if (dec) return clamp ? FNN_ADAM_V(1, 1, 1) : FNN_ADAM_V(0, 1, 1);
        return clamp ? FNN_ADAM_V(1, 1, 0) : FNN_ADAM_V(0, 1, 0);
    }
    if (dec) return clamp ? FNN_ADAM_V(1, 0, 1) : FNN_ADAM_V(0, 0, 1);
    return clamp ? FNN_ADAM_V(1, 0, 0) : FNN_ADAM_V(0, 0, 0);
#undef FNN_ADAM_V
}

int64_t SFX(adam_step)(const REAL *grad, const int64_t *seg_bounds, const double *hp, REAL *param_io, REAL *exp_avg_io,
                       REAL *exp_avg_sq_io, REAL *max_exp_avg_sq_io, int64_t n_seg, int clip_mode,
                       const double *clip_args, int n_threads) {
    int64_t nclip = 0;
    FNN_SEGMENT_LOOP(n_threads, seg_bounds, n_seg, nclip,
                     SFX(adam_chunk)(grad, param_io, exp_avg_io, exp_avg_sq_io, max_exp_avg_sq_io, lo, hi, 1, 0,
                                     hp + s * FNN_ADAM_HP, clip_mode, FNN_SEGMENT_CLIP(clip_mode, clip_args, s)))
    return nclip;
}

/* ------------------------------------------------------------------------------------ row updates ---- */
/* The update of rows [r0, r1) x columns [c0, c1) of the tensor `ctx` (an fnn_row_update) describes: the same
 * elementwise arithmetic as the step kernels, so it leaves the same bits wherever the block boundaries fall. */
int64_t SFX(update_rows)(const void *ctx, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    const fnn_row_update *u = (const fnn_row_update *)ctx;
    const REAL *g = (const REAL *)u->grad;
    REAL *p = (REAL *)u->param, *s0 = (REAL *)u->state[0], *s1 = (REAL *)u->state[1], *s2 = (REAL *)u->state[2];
    const int64_t lo = r0 * u->ld + c0, hi = r0 * u->ld + c1, rows = r1 - r0, ld = u->ld;
    if (rows <= 0 || c1 <= c0) return 0;
    switch (u->kind) {
    case FNN_OPT_SGD:
        return SFX(sgd_chunk)(g, p, s0, lo, hi, rows, ld, u->hp, u->clip_mode, u->clip);
    case FNN_OPT_ADAGRAD:
        return SFX(adagrad_chunk)(g, p, s0, lo, hi, rows, ld, u->hp, u->clip_mode, u->clip);
    case FNN_OPT_RMSPROP:
        return SFX(rmsprop_chunk)(g, p, s0, s1, s2, lo, hi, rows, ld, u->hp, u->clip_mode, u->clip);
    case FNN_OPT_ADADELTA:
        return SFX(adadelta_chunk)(g, p, s0, s1, lo, hi, rows, ld, u->hp, u->clip_mode, u->clip);
    default:
        return SFX(adam_chunk)(g, p, s0, s1, s2, lo, hi, rows, ld, u->hp, u->clip_mode, u->clip);
    }
}

/* The whole of every tensor in `ctx[0 .. n_ctx)` (a step's tensors whose update no gemm applied), in ONE region:
 * each thread takes its share of the concatenated elements (each tensor seen as one row of ld * rows values). */
int64_t SFX(update_tensors)(const fnn_row_update *ctx, int64_t n_ctx, int n_threads) {
    int64_t total = 0, nclip = 0;
    for (int64_t i = 0; i < n_ctx; i++) total += ctx[i].rows * ctx[i].ld;
    FNN_THREADED(n_threads, reduction(+ : nclip), {
        int64_t t0, t1, start = 0;
        fnn_thread_range(total, &t0, &t1);
        for (int64_t i = 0; i < n_ctx; i++) {
            const int64_t size = ctx[i].rows * ctx[i].ld, lo = t0 > start ? t0 - start : 0;
            const int64_t hi = t1 - start < size ? t1 - start : size;
            if (lo < hi) {
                fnn_row_update flat = ctx[i];
                flat.ld = size; /* one row: [lo, hi) of the flat tensor */
                nclip += SFX(update_rows)(&flat, 0, 1, lo, hi);
            }
            start += size;
        }
    });
    return nclip;
}

/* ------------------------------------------------------------------------------- global L2 norm ---- */
/* Sum of squares of one block in double, in 8 interleaved partial sums combined in a fixed order: vectorisable
 * without reassociating anything the compiler is not told to, and the same bits for any thread count. */
FNN_CLONES static double SFX(sumsq_block)(const REAL *FNN_RESTRICT x, int64_t n) {
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int k = 0; k < 8; k++) {
            const double xv = (double)x[i + k];
            acc[k] += xv * xv;
        }
    }
    for (; i < n; i++) {
        const double xv = (double)x[i];
        acc[i & 7] += xv * xv;
    }
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

double SFX(sumsq)(const REAL *x, double *block_out, int64_t n, int n_threads) {
    const int64_t nb = fnn_n_blocks(n, FNN_REDUCE_BLOCK);
    FNN_THREADED(n_threads, for schedule(static), for (int64_t b = 0; b < nb; b++) {
        int64_t lo, hi;
        fnn_block(b, FNN_REDUCE_BLOCK, n, &lo, &hi);
        block_out[b] = SFX(sumsq_block)(x + lo, hi - lo);
    });
    return fnn_sum_in_order(block_out, nb);
}

#undef FNN_LOAD_GRAD
#undef FNN_CLIP_CONSTANTS
