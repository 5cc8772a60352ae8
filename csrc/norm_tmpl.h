/* Template over REAL / SFX: see fnn_instantiate.h.
 *
 * Batch normalization (torch.nn.BatchNorm1d semantics) over x (rows = batch, cols = features):
 *   training:  mu_j = mean_i x_ij,  var_j = mean_i (x_ij - mu_j)^2  (biased),  s_j = 1 / sqrt(var_j + eps)
 *              y_ij = (x_ij - mu_j) s_j gamma_j + beta_j
 *              running_mean <- (1 - m) running_mean + m mu;  running_var <- (1 - m) running_var + m var n/(n-1)
 *   eval:      the same transform with (running_mean, running_var) in place of (mu, var).
 *   backward:  dbeta_j = sum_i dy_ij,  dgamma_j = sum_i dy_ij xhat_ij,  xhat = (x - mu) s
 *              training: dx_ij = gamma_j s_j (dy_ij - dbeta_j / n - xhat_ij dgamma_j / n)
 *              eval:     dx_ij = gamma_j s_j dy_ij  (the running statistics are constants)
 * Training forward and backward run over fixed blocks of FNN_BN_ROW_BLOCK rows: each block forms per-feature
 * partial sums (in double) in the caller's scratch, the partials are added in block order per feature, then
 * each thread writes y (dx) for its own rows again, last rows first, while they are still in its cache. The
 * block partition is fixed, so the statistics are identical for any thread count; every thread streams whole
 * rows (splitting features between threads, each reading half of every row, was 30% slower per element here).
 * Statistics use sums shifted by the feature's first value (sum d, sum d^2 with d = x - x_0j): one pass, and
 * no cancellation when |mean| >> std, unlike the textbook sum x^2 - n mu^2.
 * Evaluation is a fixed per-feature affine map, run over contiguous feature ranges.
 *
 * Layer normalization (torch.nn.LayerNorm over the last axis) is the same transform with the roles of rows and
 * columns swapped: statistics per row (one shifted pass over the row, in 8 fixed lanes), gamma/beta per column.
 *   backward:  g = dy gamma,  dx = s (g - mean_j g - xhat mean_j(g xhat)),
 *              dgamma_j = sum_i dy_ij xhat_ij,  dbeta_j = sum_i dy_ij
 * OpenMP over rows; gamma/beta gradients are summed per fixed block of FNN_LN_ROW_BLOCK rows into the caller's
 * scratch and the block sums are then added in block order (thread-count independent).
 *
 * gamma/beta may be NULL (no affine transform: gamma = 1, beta = 0); then dgamma_out/dbeta_out must be NULL.
 * dx_out may be NULL (no input gradient needed) or alias dy (each element is read before it is written).
 * mean_out/invstd_out (double, one per feature for BN, one per row for LN) are saved for the backward pass.
 */

#ifndef FNN_NORM_ONCE
#define FNN_NORM_ONCE
#include <string.h>
/* Features per stack chunk of BatchNorm's evaluation coefficients. */
#ifndef FNN_BN_CHUNK
#define FNN_BN_CHUNK 1024
#endif
/* The workers are FNN_CLONES (fnn_simd.h): the float<->double conversions of the double accumulation are 4-8x
 * cheaper with wide vectors. Results can differ between CPUs in the last bits (FMA contraction), never between
 * runs or thread counts on one machine. Partitions: fnn_blocks.h. */
/* Sums along a row use 8 fixed partial sums (lane l takes elements j = l mod 8), combined in lane order at the
 * end: a plain `s += x[j]` is a serial dependency chain the compiler may not reorder without -ffast-math.
 * GCC/clang vector extensions make the 8 lanes one (or two) SIMD registers on every target. */
typedef double fnn_v8d __attribute__((vector_size(64)));
typedef double fnn_v8du __attribute__((vector_size(64), aligned(8))); /* unaligned loads of 8 doubles */
/* (macros, not functions: passing 64-byte vectors by value would change the ABI between clones) */
#define FNN_HSUM8(v) ((((v)[0] + (v)[1]) + ((v)[2] + (v)[3])) + (((v)[4] + (v)[5]) + ((v)[6] + (v)[7])))
#endif
#include "fnn_ln_scale_tmpl.h"

typedef REAL SFX(fnn_v8r) __attribute__((vector_size(8 * sizeof(REAL))));
/* 8 consecutive REALs as doubles (unaligned load) */
#define FNN_LOAD8(p)                                                                                                   \
    ({                                                                                                                 \
        SFX(fnn_v8r) v_;                                                                                               \
        memcpy(&v_, (p), sizeof v_);                                                                                   \
        __builtin_convertvector(v_, fnn_v8d);                                                                          \
    })

/* ---- batch normalization ----------------------------------------------------------------------------------
 * Parallel over features: part p of n_parts takes a contiguous feature range (multiple of 16 wide) and streams
 * over all rows with per-feature accumulators. Each feature is summed over rows in order by one thread, so the
 * statistics do not depend on the partition (thread count). */

/* Training statistics, phase 1: rows [i0, i1) of a fixed row block; sums of d = x - x_0j (shifted by the first
 * row, the same shift for every block) into this block's partials p1, p2 (double). `sh` receives the shift. */
FNN_CLONES
static void SFX(bn_stats_rows)(const REAL *x, double *p1, double *p2, double *sh, int64_t i0, int64_t i1,
                               int64_t cols) {
    for (int64_t j = 0; j < cols; j++) {
        sh[j] = (double)x[j];
        p1[j] = 0.0;
        p2[j] = 0.0;
    }
    for (int64_t i = i0; i < i1; i++) {
        const REAL *xr = x + i * cols;
        for (int64_t j = 0; j < cols; j++) {
            const double d = (double)xr[j] - sh[j];
            p1[j] += d;
            p2[j] += d * d;
        }
    }
}

/* Phase 2, features [j0, j1): add the block partials in block order, finish mean/invstd and leave the
 * per-feature coefficients (REAL) of the write pass in mu, sc, bt (indexed from j0). The `writer` thread also
 * stores mean/invstd and updates the running statistics (every thread computes the same values). */
FNN_CLONES
static void SFX(bn_stats_finish)(const double *scratch, const REAL *gamma, const REAL *beta, double *mean_out,
                                 double *invstd_out, REAL *running_mean_io, REAL *running_var_io, REAL *mu, REAL *sc,
                                 REAL *bt, int64_t rows, int64_t cols, int64_t n_blocks, int64_t j0, int64_t j1,
                                 double eps, double momentum, int writer) {
    const double n = (double)rows;
    const double unbias = rows > 1 ? n / (n - 1.0) : 1.0;
    for (int64_t j = j0; j < j1; j++) {
        double s1 = 0.0, s2 = 0.0;
        for (int64_t b = 0; b < n_blocks; b++) {
            s1 += scratch[(3 * b) * cols + j];
            s2 += scratch[(3 * b + 1) * cols + j];
        }
        const double m1 = s1 / n;
        double var = s2 / n - m1 * m1;
        if (var < 0.0) var = 0.0;                       /* rounding only */
        const double mean = scratch[2 * cols + j] + m1; /* block 0's copy of the shift */
        const double is = 1.0 / sqrt(var + eps);
        if (writer) {
            mean_out[j] = mean;
            invstd_out[j] = is;
            if (running_mean_io != NULL) {
                running_mean_io[j] = (REAL)((1.0 - momentum) * (double)running_mean_io[j] + momentum * mean);
                running_var_io[j] = (REAL)((1.0 - momentum) * (double)running_var_io[j] + momentum * var * unbias);
            }
        }
        mu[j - j0] = (REAL)mean;
        sc[j - j0] = (REAL)(gamma != NULL ? is * (double)gamma[j] : is);
        bt[j - j0] = beta != NULL ? beta[j] : (REAL)0;
    }
}

/* y = (x - mu) * sc + bt on rows [i0, i1), features [j0, j0 + w) (coefficients indexed from j0) */
FNN_CLONES
static void SFX(bn_apply_rows)(const REAL *x, REAL *y_out, const REAL *mu, const REAL *sc, const REAL *bt, int64_t i0,
                               int64_t i1, int64_t cols, int64_t j0, int64_t w) {
    for (int64_t i = i0; i < i1; i++) {
        const REAL *xr = x + i * cols + j0;
        REAL *yr = y_out + i * cols + j0;
        for (int64_t j = 0; j < w; j++) yr[j] = (xr[j] - mu[j]) * sc[j] + bt[j];
    }
}

/* Training forward. Parallel over fixed blocks of FNN_BN_ROW_BLOCK rows (every thread streams whole rows,
 * and reads its rows again while they are still in its cache); the per-feature sums are formed per block and
 * added in block order, so they do not depend on the thread count. One parallel region with one barrier:
 * block partials | (each thread) per-feature finish, then y for its own rows. Every thread repeats the finish
 * (n_blocks additions per feature): cheaper than a second synchronization, which with passive waiting puts a
 * thread to sleep and wakes it. scratch: bn_scratch_size(rows, cols) doubles. */
void SFX(bn_forward_train)(const REAL *x, const REAL *gamma, const REAL *beta, REAL *y_out, double *mean_out,
                           double *invstd_out, REAL *running_mean_io, REAL *running_var_io, double *scratch,
                           int64_t rows, int64_t cols, double eps, double momentum, int n_threads) {
    const int64_t n_blocks = fnn_n_blocks(rows, FNN_BN_ROW_BLOCK);
    FNN_THREADED(n_threads, , {
        int64_t b0, b1;
        fnn_team_range(n_blocks, &b0, &b1);
        for (int64_t b = b0; b < b1; b++) {
            double *p = scratch + 3 * b * cols;
            SFX(bn_stats_rows)(x, p, p + cols, p + 2 * cols, b * FNN_BN_ROW_BLOCK,
                               fnn_min64(rows, (b + 1) * FNN_BN_ROW_BLOCK), cols);
        }
        FNN_PRAGMA(omp barrier)
        const int writer = fnn_thread_id() == 0;
        REAL mu[FNN_BN_CHUNK], sc[FNN_BN_CHUNK], bt[FNN_BN_CHUNK];
        for (int64_t j0 = 0; j0 < cols; j0 += FNN_BN_CHUNK) {
            const int64_t w = fnn_min64(FNN_BN_CHUNK, cols - j0);
            SFX(bn_stats_finish)(scratch, gamma, beta, mean_out, invstd_out, running_mean_io, running_var_io, mu, sc,
                                 bt, rows, cols, n_blocks, j0, j0 + w, eps, momentum, writer);
            /* this thread's rows of phase 1, last first: the rows read last are still in this core's cache */
            for (int64_t b = b1 - 1; b >= b0; b--)
                SFX(bn_apply_rows)(x, y_out, mu, sc, bt, b * FNN_BN_ROW_BLOCK,
                                   fnn_min64(rows, (b + 1) * FNN_BN_ROW_BLOCK), cols, j0, w);
        }
    });
}

FNN_CLONES
static void SFX(bn_eval_chunk)(const REAL *x, const REAL *gamma, const REAL *beta, const REAL *running_mean,
                               const REAL *running_var, REAL *y_out, double *mean_out, double *invstd_out, int64_t rows,
                               int64_t cols, int64_t j0, int64_t w, double eps) {
    REAL mu[FNN_BN_CHUNK], sc[FNN_BN_CHUNK], bt[FNN_BN_CHUNK];
    for (int64_t j = 0; j < w; j++) {
        const double mean = (double)running_mean[j0 + j];
        const double is = 1.0 / sqrt((double)running_var[j0 + j] + eps);
        mean_out[j0 + j] = mean;
        invstd_out[j0 + j] = is;
        mu[j] = running_mean[j0 + j];
        sc[j] = (REAL)(gamma != NULL ? is * (double)gamma[j0 + j] : is);
        bt[j] = beta != NULL ? beta[j0 + j] : (REAL)0;
    }
    for (int64_t i = 0; i < rows; i++) {
        const REAL *xr = x + i * cols + j0;
        REAL *yr = y_out + i * cols + j0;
        for (int64_t j = 0; j < w; j++) yr[j] = (xr[j] - mu[j]) * sc[j] + bt[j];
    }
}

void SFX(bn_forward_eval)(const REAL *x, const REAL *gamma, const REAL *beta, const REAL *running_mean,
                          const REAL *running_var, REAL *y_out, double *mean_out, double *invstd_out, int64_t rows,
                          int64_t cols, double eps, int n_threads) {
    const int64_t n_parts = n_threads > 1 ? n_threads : 1;
    FNN_THREADED(n_threads, for schedule(static), for (int64_t p = 0; p < n_parts; p++) {
        int64_t c0, c1;
        fnn_part_range(cols, p, n_parts, y_out, sizeof(REAL), &c0, &c1);
        for (int64_t j0 = c0; j0 < c1; j0 += FNN_BN_CHUNK)
            SFX(bn_eval_chunk)(x, gamma, beta, running_mean, running_var, y_out, mean_out, invstd_out, rows, cols, j0,
                               fnn_min64(FNN_BN_CHUNK, c1 - j0), eps);
    });
}

/* Backward phase 1, rows [i0, i1) of a block: partial sdy = sum dy, sdyx = sum dy (x - mean) into p1, p2. */
FNN_CLONES
static void SFX(bn_grad_rows)(const REAL *x, const REAL *dy, const double *mean, double *p1, double *p2, int64_t i0,
                              int64_t i1, int64_t cols) {
    for (int64_t j = 0; j < cols; j++) {
        p1[j] = 0.0;
        p2[j] = 0.0;
    }
    for (int64_t i = i0; i < i1; i++) {
        const REAL *xr = x + i * cols;
        const REAL *dyr = dy + i * cols;
        for (int64_t j = 0; j < cols; j++) {
            const double d = (double)dyr[j];
            p1[j] += d;
            p2[j] += d * ((double)xr[j] - mean[j]);
        }
    }
}

/* Phase 2, features [j0, j1): block sums in order -> dgamma, dbeta and the coefficients of
 * dx = k (dy - c1 - (x - mu) c2): k = gamma invstd, c1 = sdy / n, c2 = invstd^2 sdyx / n. */
FNN_CLONES
static void SFX(bn_grad_finish)(const double *scratch, const REAL *gamma, const double *mean, const double *invstd,
                                REAL *dgamma_out, REAL *dbeta_out, REAL *mu, REAL *k, REAL *c1, REAL *c2, int64_t rows,
                                int64_t cols, int64_t n_blocks, int64_t j0, int64_t j1, int writer) {
    const double n = (double)rows;
    for (int64_t j = j0; j < j1; j++) {
        double sdy = 0.0, sdyx = 0.0;
        for (int64_t b = 0; b < n_blocks; b++) {
            sdy += scratch[(3 * b) * cols + j];
            sdyx += scratch[(3 * b + 1) * cols + j];
        }
        const double is = invstd[j];
        if (writer && dgamma_out != NULL) dgamma_out[j] = (REAL)(sdyx * is);
        if (writer && dbeta_out != NULL) dbeta_out[j] = (REAL)sdy;
        mu[j - j0] = (REAL)mean[j];
        k[j - j0] = (REAL)(gamma != NULL ? (double)gamma[j] * is : is);
        c1[j - j0] = (REAL)(sdy / n);
        c2[j - j0] = (REAL)(is * is * sdyx / n);
    }
}

/* Phase 3, rows [i0, i1): dx. In place (dx_out == dy) gets its own loops: with two pointers the compiler's
 * runtime overlap check would send the exact-alias case to the scalar fallback. */
FNN_CLONES
static void SFX(bn_dx_rows)(const REAL *x, const REAL *dy, REAL *dx_out, const REAL *mu, const REAL *k, const REAL *c1,
                            const REAL *c2, int batch_stats, int64_t i0, int64_t i1, int64_t cols, int64_t j0,
                            int64_t w) {
    for (int64_t i = i0; i < i1; i++) {
        const REAL *xr = x + i * cols + j0;
        const REAL *dyr = dy + i * cols + j0;
        REAL *dxr = dx_out + i * cols + j0;
        if (batch_stats && dxr == dyr) {
            for (int64_t j = 0; j < w; j++) dxr[j] = k[j] * (dxr[j] - c1[j] - (xr[j] - mu[j]) * c2[j]);
        } else if (batch_stats) {
            for (int64_t j = 0; j < w; j++) dxr[j] = k[j] * (dyr[j] - c1[j] - (xr[j] - mu[j]) * c2[j]);
        } else if (dxr == dyr) {
            for (int64_t j = 0; j < w; j++) dxr[j] = k[j] * dxr[j];
        } else {
            for (int64_t j = 0; j < w; j++) dxr[j] = k[j] * dyr[j];
        }
    }
}

/* Backward (training: through the batch statistics; eval: statistics constant), same structure as the training
 * forward: block partials | barrier | each thread finishes the sums and writes dx for its own rows.
 * scratch: bn_scratch_size(rows, cols) doubles. */
void SFX(bn_backward)(const REAL *x, const REAL *dy, const REAL *gamma, const double *mean, const double *invstd,
                      REAL *dx_out, REAL *dgamma_out, REAL *dbeta_out, double *scratch, int64_t rows, int64_t cols,
                      int batch_stats, int n_threads) {
    const int64_t n_blocks = fnn_n_blocks(rows, FNN_BN_ROW_BLOCK);
    FNN_THREADED(n_threads, , {
        int64_t b0, b1;
        fnn_team_range(n_blocks, &b0, &b1);
        for (int64_t b = b0; b < b1; b++) {
            double *p = scratch + 3 * b * cols;
            SFX(bn_grad_rows)(x, dy, mean, p, p + cols, b * FNN_BN_ROW_BLOCK,
                              fnn_min64(rows, (b + 1) * FNN_BN_ROW_BLOCK), cols);
        }
        FNN_PRAGMA(omp barrier)
        const int writer = fnn_thread_id() == 0;
        REAL mu[FNN_BN_CHUNK], k[FNN_BN_CHUNK], c1[FNN_BN_CHUNK], c2[FNN_BN_CHUNK];
        for (int64_t j0 = 0; j0 < cols; j0 += FNN_BN_CHUNK) {
            const int64_t w = fnn_min64(FNN_BN_CHUNK, cols - j0);
            SFX(bn_grad_finish)(scratch, gamma, mean, invstd, dgamma_out, dbeta_out, mu, k, c1, c2, rows, cols,
                                n_blocks, j0, j0 + w, writer);
            if (dx_out == NULL) continue;
            for (int64_t b = b1 - 1; b >= b0; b--) /* this thread's rows, last first (still in its cache) */
                SFX(bn_dx_rows)(x, dy, dx_out, mu, k, c1, c2, batch_stats, b * FNN_BN_ROW_BLOCK,
                                fnn_min64(rows, (b + 1) * FNN_BN_ROW_BLOCK), cols, j0, w);
        }
    });
}

/* ---- layer normalization: rows [i0, i1) ------------------------------------------------------------------ */

/* ln_row_moments (declared in fnn_ln_scale_tmpl.h) over 8 lanes. One pass of sums shifted by the row's first
 * value: d = x - x_0, mean = x_0 + sum d / n, var = sum d^2 / n - (sum d / n)^2 (no cancellation: |mean - x_0|
 * is of the order of the std). */
static FNN_INLINE double SFX(ln_row_moments)(const REAL *xr, int64_t cols, double s, double *mean) {
    const double n = (double)cols;
    const int64_t cv = cols & ~(int64_t)7;
    const double shift = (double)xr[0] * s;
    fnn_v8d s1 = {0}, s2 = {0};
    for (int64_t j = 0; j < cv; j += 8) {
        const fnn_v8d d = FNN_LOAD8(xr + j) * s - shift;
        s1 += d;
        s2 += d * d;
    }
    for (int64_t j = cv; j < cols; j++) {
        const double d = (double)xr[j] * s - shift;
        s1[j - cv] += d;
        s2[j - cv] += d * d;
    }
    const double m1 = FNN_HSUM8(s1) / n;
    *mean = shift + m1;
    return FNN_HSUM8(s2) / n - m1 * m1;
}

FNN_CLONES
static void SFX(ln_forward_rows)(const REAL *x, const REAL *gamma, const REAL *beta, REAL *y_out, double *mean_out,
                                 double *invstd_out, int64_t i0, int64_t i1, int64_t cols, double eps) {
    for (int64_t i = i0; i < i1; i++) {
        const REAL *xr = x + i * cols;
        REAL *yr = y_out + i * cols;
        double is;
        const double mean = SFX(fnn_ln_stats)(xr, cols, eps, &is); /* rows that overflow rescued */
        mean_out[i] = mean;
        invstd_out[i] = is;
        const REAL mu = (REAL)mean, isr = (REAL)is;
        if (gamma != NULL) {
            for (int64_t j = 0; j < cols; j++) yr[j] = (xr[j] - mu) * isr * gamma[j] + beta[j];
        } else {
            for (int64_t j = 0; j < cols; j++) yr[j] = (xr[j] - mu) * isr;
        }
    }
}

void SFX(ln_forward)(const REAL *x, const REAL *gamma, const REAL *beta, REAL *y_out, double *mean_out,
                     double *invstd_out, int64_t rows, int64_t cols, double eps, int n_threads) {
    const int64_t n_blocks = fnn_n_blocks(rows, FNN_LN_ROW_BLOCK);
    FNN_THREADED(n_threads, for schedule(static), for (int64_t blk = 0; blk < n_blocks; blk++) {
        const int64_t i0 = blk * FNN_LN_ROW_BLOCK;
        SFX(ln_forward_rows)(x, gamma, beta, y_out, mean_out, invstd_out, i0, fnn_min64(rows, i0 + FNN_LN_ROW_BLOCK),
                             cols, eps);
    });
}

/* Rows [i0, i1): dx (if dx_out) and, if pg != NULL, this block's partial dgamma (pg) and dbeta (pb).
 * One pass in double gathers the row sums a = sum g, b = sum g (x - mu) (g = dy gamma) and the column
 * partials; a second pass in REAL writes dx. */
FNN_CLONES
static void SFX(ln_backward_rows)(const REAL *x, const REAL *dy, const REAL *gamma, const double *mean,
                                  const double *invstd, REAL *dx_out, double *pg, double *pb, int64_t i0, int64_t i1,
                                  int64_t cols) {
    const double n = (double)cols;
    const int64_t cv = cols & ~(int64_t)7;
    /* gamma as doubles once per block when it fits on the stack (saves a conversion per element) */
    double gbuf[FNN_BN_CHUNK];
    const double *gd = NULL;
    if (gamma != NULL && cols <= FNN_BN_CHUNK) {
        for (int64_t j = 0; j < cols; j++) gbuf[j] = (double)gamma[j];
        gd = gbuf;
    }
    if (pg != NULL)
        for (int64_t j = 0; j < cols; j++) {
            pg[j] = 0.0;
            pb[j] = 0.0;
        }
    for (int64_t i = i0; i < i1; i++) {
        const REAL *xr = x + i * cols;
        const REAL *dyr = dy + i * cols;
        const double mu = mean[i], is = invstd[i];
        fnn_v8d va = {0}, vb = {0};
        for (int64_t j = 0; j < cv; j += 8) {
            const fnn_v8d d = FNN_LOAD8(dyr + j);
            const fnn_v8d h = (FNN_LOAD8(xr + j) - mu) * is; /* xhat; (x - mu) first: exact 0 at the mean */
            const fnn_v8d g = gd != NULL      ? d * *(const fnn_v8du *)(gd + j)
                              : gamma != NULL ? d * FNN_LOAD8(gamma + j)
                                              : d;
            va += g;
            vb += g * h;
            if (pg != NULL) {
                fnn_v8d vg, vbeta;
                memcpy(&vg, pg + j, sizeof vg);
                memcpy(&vbeta, pb + j, sizeof vbeta);
                vg += d * h;
                vbeta += d;
                memcpy(pg + j, &vg, sizeof vg);
                memcpy(pb + j, &vbeta, sizeof vbeta);
            }
        }
        for (int64_t j = cv; j < cols; j++) {
            const double d = (double)dyr[j];
            const double h = ((double)xr[j] - mu) * is;
            const double g = gamma != NULL ? d * (double)gamma[j] : d;
            va[j - cv] += g;
            vb[j - cv] += g * h;
            if (pg != NULL) {
                pg[j] += d * h;
                pb[j] += d;
            }
        }
        if (dx_out == NULL) continue;
        const double a = FNN_HSUM8(va), b = FNN_HSUM8(vb);
        REAL *dxr = dx_out + i * cols;
        const REAL mur = (REAL)mu, isr = (REAL)is;
        const REAL c1 = (REAL)(a / n), c2 = (REAL)(b * is / n);
        if (dxr == dyr) { /* in place: one pointer, so the loop vectorizes (see bn_backward_chunk) */
            if (gamma != NULL) {
                for (int64_t j = 0; j < cols; j++) dxr[j] = isr * (dxr[j] * gamma[j] - c1 - (xr[j] - mur) * c2);
            } else {
                for (int64_t j = 0; j < cols; j++) dxr[j] = isr * (dxr[j] - c1 - (xr[j] - mur) * c2);
            }
        } else if (gamma != NULL) {
            for (int64_t j = 0; j < cols; j++) dxr[j] = isr * (dyr[j] * gamma[j] - c1 - (xr[j] - mur) * c2);
        } else {
            for (int64_t j = 0; j < cols; j++) dxr[j] = isr * (dyr[j] - c1 - (xr[j] - mur) * c2);
        }
    }
}

FNN_CLONES
static void SFX(ln_reduce_cols)(const double *scratch, REAL *dgamma_out, REAL *dbeta_out, int64_t n_blocks,
                                int64_t cols, int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; j++) {
        double sg = 0.0, sb = 0.0;
        for (int64_t blk = 0; blk < n_blocks; blk++) {
            sg += scratch[blk * 2 * cols + j];
            sb += scratch[blk * 2 * cols + cols + j];
        }
        dgamma_out[j] = (REAL)sg;
        dbeta_out[j] = (REAL)sb;
    }
}

void SFX(ln_backward)(const REAL *x, const REAL *dy, const REAL *gamma, const double *mean, const double *invstd,
                      REAL *dx_out, REAL *dgamma_out, REAL *dbeta_out, double *scratch, int64_t rows, int64_t cols,
                      int n_threads) {
    const int64_t n_blocks = fnn_n_blocks(rows, FNN_LN_ROW_BLOCK);
    const int params = dgamma_out != NULL;
    FNN_THREADED(n_threads, for schedule(static), for (int64_t blk = 0; blk < n_blocks; blk++) {
        const int64_t i0 = blk * FNN_LN_ROW_BLOCK;
        double *pg = params ? scratch + blk * 2 * cols : NULL;
        SFX(ln_backward_rows)(x, dy, gamma, mean, invstd, dx_out, pg, params ? pg + cols : NULL, i0,
                              fnn_min64(rows, i0 + FNN_LN_ROW_BLOCK), cols);
    });
    /* the block partials in block order, by the calling thread: a few thousand additions, cheaper than one more
     * synchronization of the team (which, with passive waiting, means putting a thread to sleep and waking it) */
    if (params) SFX(ln_reduce_cols)(scratch, dgamma_out, dbeta_out, n_blocks, cols, 0, cols);
}
