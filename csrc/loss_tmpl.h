/* Template over REAL / SFX: see fnn_instantiate.h. Sums run in double for both dtypes. grad_out may be NULL
 * (evaluation only). `scale` multiplies the gradient: 1/batch for a mean loss.
 * The summed losses are fixed-block reductions (fnn_blocks.h): each block of rows (softmax_xent) or elements
 * (bce_logits, mse) sums in double, and the block sums are added in block order, so the loss is the same bits
 * for any thread count. FNN_LOSS_REDUCE runs one: BLOCK_SUM(lo, hi) returns block [lo, hi)'s sum and may add
 * to `correct` (an integer count, summed by OpenMP in any order). */
#define FNN_LOSS_REDUCE(n, block, n_threads, total, correct, BLOCK_SUM)                                                \
    do {                                                                                                               \
        const int64_t nb_ = fnn_n_blocks(n, block);                                                                    \
        double stack_[FNN_STACK_PARTS];                                                                                \
        double *part_ = fnn_parts_alloc(nb_, stack_);                                                                  \
        const int nt_ = part_ == NULL ? 1 : (n_threads);                                                               \
        FNN_THREADED(nt_, for schedule(static) reduction(+:correct), FNN_LOSS_BLOCKS(n, block, nb_, part_, total,      \
                                                                                     BLOCK_SUM));                      \
        if (part_ != NULL) {                                                                                           \
            total = fnn_sum_in_order(part_, nb_);                                                                      \
            fnn_parts_free(part_, stack_);                                                                             \
        }                                                                                                              \
    } while (0)
/* The loop of FNN_LOSS_REDUCE over its blocks (a macro of its own: clang-format cannot lay out a block inside a
 * macro argument inside a macro) */
#define FNN_LOSS_BLOCKS(n, block, nb_, part_, total, BLOCK_SUM)                                                        \
    for (int64_t b_ = 0; b_ < nb_; b_++) {                                                                             \
        int64_t lo, hi;                                                                                                \
        fnn_block(b_, block, n, &lo, &hi);                                                                             \
        const double s_ = BLOCK_SUM;                                                                                   \
        if (part_ != NULL)                                                                                             \
            part_[b_] = s_;                                                                                            \
        else                                                                                                           \
            total += s_; /* serial fallback: the same order */                                                         \
    }

/* Weight of row i: weights[i], or 1 when weights is NULL (every loss takes optional per-row weights, double). */
#define FNN_ROW_WEIGHT(weights, i) ((weights) != NULL ? (weights)[i] : 1.0)

/* softmax(x)[c] from the row's max m and log(sum exp(x - m)) as torch's log_softmax and its backward compute it:
 * exp((x_c - m) - log_s). Subtracting m first keeps log_s: m + log_s rounds back to m once |m| >~ 1e15, and
 * exp(x_c - (m + log_s)) then gives every tied maximum probability 1. */
#define FNN_SOFTMAX_P(xc, m, log_s) exp(((double)(xc) - (m)) - (log_s))

/* Cross entropy of softmax(logits) against integer labels with label smoothing eps (PyTorch's
 * cross_entropy(label_smoothing=eps): the target is q = (1 - eps) onehot(y) + eps / C), log-sum-exp stable:
 *   loss_i = w_i * (logsumexp(x_i) - (1 - eps) x_i[y_i] - (eps / C) sum_c x_i[c]),
 *   grad_i = scale * w_i * (softmax(x_i) - q_i).
 * weights (or NULL: all 1): IN per-row weights. n_correct_out (or NULL): OUT number of rows whose argmax (first
 * maximum) equals the label. */
static double SFX(softmax_xent_rows)(const REAL *logits, const int64_t *labels, const double *weights, REAL *grad_out,
                                     int64_t r0, int64_t r1, int64_t classes, double scale, double smoothing,
                                     int64_t *correct) {
    double total = 0.0;
    const double off = smoothing / (double)classes, on = 1.0 - smoothing + off;
    for (int64_t i = r0; i < r1; i++) {
        const REAL *x = logits + i * classes;
        double m = (double)x[0], sx = 0.0;
        int64_t arg = 0;
        for (int64_t c = 1; c < classes; c++)
            if ((double)x[c] > m) {
                m = (double)x[c];
                arg = c;
            }
        *correct += arg == labels[i];
        double s = 0.0;
        for (int64_t c = 0; c < classes; c++) {
            s += exp((double)x[c] - m);
            sx += (double)x[c];
        }
        const double log_s = log(s), lse = m + log_s, w = FNN_ROW_WEIGHT(weights, i);
        const int64_t y = labels[i];
        const double li = smoothing == 0.0 ? lse - (double)x[y] : lse - (1.0 - smoothing) * (double)x[y] - off * sx;
        total += w * li;
        if (grad_out != NULL) {
            REAL *g = grad_out + i * classes;
            const double ws = w * scale;
            for (int64_t c = 0; c < classes; c++) g[c] = (REAL)((FNN_SOFTMAX_P(x[c], m, log_s) - off) * ws);
            g[y] = (REAL)((FNN_SOFTMAX_P(x[y], m, log_s) - on) * ws);
        }
    }
    return total;
}

double SFX(softmax_xent)(const REAL *logits, const int64_t *labels, const double *weights, REAL *grad_out, int64_t rows,
                         int64_t classes, double scale, double smoothing, int64_t *n_correct_out, int n_threads) {
    double total = 0.0;
    int64_t correct = 0;
    FNN_LOSS_REDUCE(
        rows, FNN_ROW_REDUCE_BLOCK, n_threads, total, correct,
        SFX(softmax_xent_rows)(logits, labels, weights, grad_out, lo, hi, classes, scale, smoothing, &correct));
    if (n_correct_out != NULL) *n_correct_out = correct;
    return total;
}

/* Cross entropy of softmax(logits) against target distributions t (one-hot or soft rows; PyTorch's
 * cross_entropy with class-probability targets):
 *   loss_i = w_i * sum_c t_ic (logsumexp(x_i) - x_ic),   grad_i = scale * w_i * (softmax(x_i) sum_c t_ic - t_i).
 * n_correct_out (or NULL): OUT number of rows whose argmax equals the argmax of t (first maxima). */
static double SFX(softmax_xent_soft_rows)(const REAL *logits, const REAL *targets, const double *weights,
                                          REAL *grad_out, int64_t r0, int64_t r1, int64_t classes, double scale,
                                          int64_t *correct) {
    double total = 0.0;
    for (int64_t i = r0; i < r1; i++) {
        const REAL *x = logits + i * classes, *t = targets + i * classes;
        double m = (double)x[0], tm = (double)t[0];
        int64_t arg = 0, targ = 0;
        for (int64_t c = 1; c < classes; c++) {
            if ((double)x[c] > m) {
                m = (double)x[c];
                arg = c;
            }
            if ((double)t[c] > tm) {
                tm = (double)t[c];
                targ = c;
            }
        }
        *correct += arg == targ;
        double s = 0.0, st = 0.0, stx = 0.0;
        for (int64_t c = 0; c < classes; c++) {
            s += exp((double)x[c] - m);
            st += (double)t[c];
            stx += (double)t[c] * (double)x[c];
        }
        const double log_s = log(s), lse = m + log_s, w = FNN_ROW_WEIGHT(weights, i);
        total += w * (lse * st - stx);
        if (grad_out != NULL) {
            REAL *g = grad_out + i * classes;
            const double ws = w * scale;
            for (int64_t c = 0; c < classes; c++)
                g[c] = (REAL)((FNN_SOFTMAX_P(x[c], m, log_s) * st - (double)t[c]) * ws);
        }
    }
    return total;
}

double SFX(softmax_xent_soft)(const REAL *logits, const REAL *targets, const double *weights, REAL *grad_out,
                              int64_t rows, int64_t classes, double scale, int64_t *n_correct_out, int n_threads) {
    double total = 0.0;
    int64_t correct = 0;
    FNN_LOSS_REDUCE(rows, FNN_ROW_REDUCE_BLOCK, n_threads, total, correct,
                    SFX(softmax_xent_soft_rows)(logits, targets, weights, grad_out, lo, hi, classes, scale, &correct));
    if (n_correct_out != NULL) *n_correct_out = correct;
    return total;
}

/* probs_out = softmax(logits) row-wise; may alias logits. */
#include "fnn_softmax_tmpl.h"

void SFX(softmax)(const REAL *logits, REAL *probs_out, int64_t rows, int64_t classes, int n_threads) {
    FNN_THREADED(n_threads, for schedule(static), for (int64_t i = 0; i < rows; i++) {
        SFX(fnn_softmax_row)(logits + i * classes, probs_out + i * classes, classes);
    });
}

/* Binary cross entropy from logits, as torch.nn.BCEWithLogitsLoss, over n elements laid out as rows of `cols`:
 *   loss = w_row * (max(x, 0) - x t + log1p(exp(-|x|))),   grad = scale * w_row * (sigmoid(x) - t).
 * weights (or NULL: all 1): IN per-row weights. n_correct_out (or NULL): OUT number of elements with
 * (x > 0) == (t > 0.5). */
static double SFX(bce_logits_block)(const REAL *logits, const REAL *targets, const double *weights, REAL *grad_out,
                                    int64_t lo, int64_t hi, int64_t cols, double scale, int64_t *correct) {
    double total = 0.0;
    for (int64_t i = lo; i < hi; i++) {
        const double x = (double)logits[i], t = (double)targets[i];
        const double w = weights != NULL ? weights[i / cols] : 1.0;
        *correct += (x > 0) == (t > 0.5);
        const double e = exp(-fabs(x));
        total += w * ((x > 0 ? x : 0.0) - x * t + log1p(e));
        if (grad_out != NULL) {
            const double sig = x >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
            grad_out[i] = (REAL)((sig - t) * scale * w);
        }
    }
    return total;
}

double SFX(bce_logits)(const REAL *logits, const REAL *targets, const double *weights, REAL *grad_out, int64_t n,
                       int64_t cols, double scale, int64_t *n_correct_out, int n_threads) {
    double total = 0.0;
    int64_t correct = 0;
    FNN_LOSS_REDUCE(n, FNN_REDUCE_BLOCK, n_threads, total, correct,
                    SFX(bce_logits_block)(logits, targets, weights, grad_out, lo, hi, cols, scale, &correct));
    if (n_correct_out != NULL) *n_correct_out = correct;
    return total;
}

/* Squared error over n elements laid out as rows of `cols`: loss = sum w_row (p - t)^2,
 * grad = scale * w_row * 2 (p - t). weights (or NULL: all 1): IN per-row weights. */
static double SFX(mse_block)(const REAL *pred, const REAL *targets, const double *weights, REAL *grad_out, int64_t lo,
                             int64_t hi, int64_t cols, double scale) {
    double total = 0.0;
    for (int64_t i = lo; i < hi; i++) {
        const double d = (double)pred[i] - (double)targets[i];
        const double w = weights != NULL ? weights[i / cols] : 1.0;
        total += w * d * d;
        if (grad_out != NULL) grad_out[i] = (REAL)(2.0 * d * scale * w);
    }
    return total;
}

double SFX(mse)(const REAL *pred, const REAL *targets, const double *weights, REAL *grad_out, int64_t n, int64_t cols,
                double scale, int n_threads) {
    double total = 0.0;
    int64_t correct = 0; /* unused: mse counts nothing */
    FNN_LOSS_REDUCE(n, FNN_REDUCE_BLOCK, n_threads, total, correct,
                    SFX(mse_block)(pred, targets, weights, grad_out, lo, hi, cols, scale));
    (void)correct;
    return total;
}
