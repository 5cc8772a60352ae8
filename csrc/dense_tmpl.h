/* Template over REAL / SFX: see fnn_instantiate.h.
 *
 * Activations (alpha is LeakyReLU's negative slope):
 *   identity  y = z                     dy/dz = 1
 *   relu      y = max(z, 0)              dz = 0 if y <= 0 else dy        (a select, as torch's threshold_backward)
 *   leaky     y = z if z > 0 else a*z    dy/dz = 1 if y > 0 else a      (a >= 0, so sign(y) = sign(z))
 *   sigmoid   y = 1 / (1 + exp(-z))      dy/dz = y (1 - y)
 *   tanh      y = tanh(z)                dy/dz = 1 - y^2
 *   gelu      y = z Phi(z) (exact, erf)  dy/dz = Phi(z) + z phi(z)      (needs the pre-activation z)
 * Only GELU needs z in backward; every other derivative is written in terms of the output y, so the forward
 * pass can run in place (y_out == z) and no pre-activation buffer is kept.
 *
 * Non-finite values propagate, so corruption stays visible (as in torch and the numpy reference): every
 * comparison is written so that NaN takes the branch that returns z or multiplies by it. ReLU is
 * `z < 0 ? 0 : z` (NaN < 0 is false: NaN passes; -0.0 stays -0.0, as torch.relu), not `z > 0 ? z : 0`, which
 * maps NaN to 0; both forms compile to one vector max. At +/-inf: relu, sigmoid, tanh take their limits,
 * leaky gives -inf (NaN when a = 0: 0 * -inf), GELU gives +inf and NaN (-inf * 0; torch's float64 agrees).
 */

#include "fnn_act_tmpl.h"

static inline REAL SFX(fnn_act_grad)(REAL y, REAL z, int act, REAL alpha) {
    switch (act) {
    case FNN_RELU: /* unused: act_backward selects (a NaN dy is zeroed where y <= 0, as torch) */
        return y <= 0 ? (REAL)0 : (REAL)1;
    case FNN_LEAKY_RELU:
        return y > 0 ? (REAL)1 : alpha;
    case FNN_SIGMOID:
        return y * ((REAL)1 - y);
    case FNN_TANH:
        return (REAL)1 - y * y;
    case FNN_GELU: {
        double zd = (double)z;
        double cdf = 0.5 * (1.0 + erf(zd * 0.70710678118654752440));
        double pdf = 0.39894228040143267794 * exp(-0.5 * zd * zd);
        return (REAL)(cdf + zd * pdf);
    }
    default:
        return (REAL)1;
    }
}

/* Rows [r0, r1) of bias_act_forward. */
FNN_CLONES
static void SFX(bias_act_rows)(REAL *z, const REAL *b, REAL *y_out, int64_t r0, int64_t r1, int64_t cols, int act,
                               REAL a) {
    for (int64_t i = r0; i < r1; i++) {
        REAL *zr = z + i * cols;
        REAL *yr = y_out + i * cols;
        if (b != NULL) {
            for (int64_t j = 0; j < cols; j++) zr[j] += b[j];
        }
        switch (act) { /* hoisted so each loop body is branch-free and vectorizes */
        case FNN_IDENTITY:
            if (yr != zr)
                for (int64_t j = 0; j < cols; j++) yr[j] = zr[j];
            break;
        case FNN_RELU:
            for (int64_t j = 0; j < cols; j++) yr[j] = zr[j] < 0 ? (REAL)0 : zr[j];
            break;
        case FNN_LEAKY_RELU:
            for (int64_t j = 0; j < cols; j++) yr[j] = zr[j] > 0 ? zr[j] : a * zr[j];
            break;
        default:
            for (int64_t j = 0; j < cols; j++) yr[j] = SFX(fnn_act)(zr[j], act, a);
        }
    }
}

#define FNN_ROW_BLOCK 16

/* z (rows, cols): IN the matmul output, OUT z + b when y_out != z (GELU keeps its pre-activation).
 * b (cols) or NULL.  y_out (rows, cols): OUT act(z + b); may alias z. */
void SFX(bias_act_forward)(REAL *z, const REAL *b, REAL *y_out, int64_t rows, int64_t cols, int act, double alpha,
                           int n_threads) {
    const int64_t n_blocks = fnn_n_blocks(rows, FNN_ROW_BLOCK);
    FNN_THREADED(n_threads, for schedule(static), for (int64_t blk = 0; blk < n_blocks; blk++) {
        int64_t r0, r1;
        fnn_block(blk, FNN_ROW_BLOCK, rows, &r0, &r1);
        SFX(bias_act_rows)(z, b, y_out, r0, r1, cols, act, (REAL)alpha);
    });
}

#define FNN_COL_BLOCK 256

/* dy (rows, cols): IN gradient w.r.t. the activation output.  y: IN the output.  z: IN pre-activation (GELU
 * only, else may be NULL).  dz_out: OUT dy * act'(z), may alias dy.  db_out (cols) or NULL: OUT column sums
 * of dz, accumulated in double, each column by one thread in row order (identical for any thread count). */
FNN_CLONES
static void SFX(act_backward_cols)(const REAL *dy, const REAL *y, const REAL *z, REAL *dz_out, REAL *db_out,
                                   int64_t rows, int64_t cols, int64_t j0, int64_t j1, int act, REAL a) {
    {
        double acc[FNN_COL_BLOCK];
        for (int64_t j = 0; j < j1 - j0; j++) acc[j] = 0.0;
        for (int64_t i = 0; i < rows; i++) {
            const REAL *dyr = dy + i * cols;
            const REAL *yr = y + i * cols;
            REAL *dzr = dz_out + i * cols;
            switch (act) {
            case FNN_IDENTITY:
                for (int64_t j = j0; j < j1; j++) dzr[j] = dyr[j];
                break;
            /* dy is loaded unconditionally so the select vectorizes (a conditional load would not) */
            case FNN_RELU:
                for (int64_t j = j0; j < j1; j++) {
                    const REAL g = dyr[j];
                    dzr[j] = yr[j] <= 0 ? (REAL)0 : g; /* a NaN y passes dy on */
                }
                break;
            case FNN_LEAKY_RELU:
                for (int64_t j = j0; j < j1; j++) dzr[j] = dyr[j] * (yr[j] > 0 ? (REAL)1 : a);
                break;
            case FNN_SIGMOID:
                for (int64_t j = j0; j < j1; j++) dzr[j] = dyr[j] * (yr[j] * ((REAL)1 - yr[j]));
                break;
            case FNN_TANH:
                for (int64_t j = j0; j < j1; j++) dzr[j] = dyr[j] * ((REAL)1 - yr[j] * yr[j]);
                break;
            default: {
                const REAL *zr = z + i * cols;
                for (int64_t j = j0; j < j1; j++) dzr[j] = dyr[j] * SFX(fnn_act_grad)(yr[j], zr[j], act, a);
            }
            }
            if (db_out != NULL)
                for (int64_t j = j0; j < j1; j++) acc[j - j0] += (double)dzr[j];
        }
        if (db_out != NULL)
            for (int64_t j = j0; j < j1; j++) db_out[j] = (REAL)acc[j - j0];
    }
}

void SFX(act_backward)(const REAL *dy, const REAL *y, const REAL *z, REAL *dz_out, REAL *db_out, int64_t rows,
                       int64_t cols, int act, double alpha, int n_threads) {
    const int64_t n_blocks = fnn_n_blocks(cols, FNN_COL_BLOCK);
    FNN_THREADED(n_threads, for schedule(static), for (int64_t blk = 0; blk < n_blocks; blk++) {
        int64_t j0, j1;
        fnn_block(blk, FNN_COL_BLOCK, cols, &j0, &j1);
        SFX(act_backward_cols)(dy, y, z, dz_out, db_out, rows, cols, j0, j1, act, (REAL)alpha);
    });
}

/* Weight penalty on w (n): returns l1 * sum|w| + l2 * sum w^2 and adds its gradient l1 * sign(w) + 2 l2 w into
 * grad_io (unless NULL). Each fixed block of FNN_REDUCE_BLOCK elements sums in double, the block values are
 * added in block order (fnn_blocks.h): the same bits for any thread count. */
static double SFX(weight_penalty_block)(const REAL *w, REAL *grad_io, int64_t i0, int64_t i1, double l1, double l2) {
    const REAL rl1 = (REAL)l1, rl2x2 = (REAL)(2.0 * l2);
    double s1 = 0.0, s2 = 0.0;
    for (int64_t i = i0; i < i1; i++) {
        const REAL v = w[i];
        const REAL sgn = (REAL)((v > 0) - (v < 0));
        s1 += fabs((double)v);
        s2 += (double)v * (double)v;
        if (grad_io != NULL) grad_io[i] += rl1 * sgn + rl2x2 * v;
    }
    return l1 * s1 + l2 * s2;
}

double SFX(weight_penalty)(const REAL *w, REAL *grad_io, int64_t n, double l1, double l2, int n_threads) {
    const int64_t nb = fnn_n_blocks(n, FNN_REDUCE_BLOCK);
    double stack[FNN_STACK_PARTS];
    double *part = fnn_parts_alloc(nb, stack);
    if (part == NULL) { /* no memory for the partials: the same sums, serially */
        double total = 0.0;
        for (int64_t b = 0; b < nb; b++) {
            int64_t i0, i1;
            fnn_block(b, FNN_REDUCE_BLOCK, n, &i0, &i1);
            total += SFX(weight_penalty_block)(w, grad_io, i0, i1, l1, l2);
        }
        return total;
    }
    FNN_THREADED(n_threads, for schedule(static), for (int64_t b = 0; b < nb; b++) {
        int64_t i0, i1;
        fnn_block(b, FNN_REDUCE_BLOCK, n, &i0, &i1);
        part[b] = SFX(weight_penalty_block)(w, grad_io, i0, i1, l1, l2);
    });
    const double total = fnn_sum_in_order(part, nb);
    fnn_parts_free(part, stack);
    return total;
}
