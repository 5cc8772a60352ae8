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
        FNN_PRAGMA(omp parallel for schedule(static) num_threads(nt_) if(nt_ > 1) reduction(+:correct))                \
        for (int64_t b_ = 0; b_ < nb_; b_++) {                                                                         \
            int64_t lo, hi;                                                                                            \
            fnn_block(b_, block, n, &lo, &hi);                                                                         \
            const double s_ = BLOCK_SUM;                                                                               \
            if (part_ != NULL)                                                                                         \
                part_[b_] = s_;                                                                                        \
            else                                                                                                       \
                total += s_; /* serial fallback: the same order */                                                     \
        }                                                                                                              \
        if (part_ != NULL) {                                                                                           \
            total = fnn_sum_in_order(part_, nb_);                                                                      \
            fnn_parts_free(part_, stack_);                                                                             \
        }                                                                                                              \
    } while (0)

/* Cross entropy of softmax(logits) against integer labels, log-sum-exp stable:
 *   loss_i = logsumexp(x_i) - x_i[y_i],   grad_i = scale * (softmax(x_i) - onehot(y_i)).
 * n_correct_out (or NULL): OUT number of rows whose argmax (first maximum) equals the label. */
static double SFX(softmax_xent_rows)(const REAL *logits, const int64_t *labels, REAL *grad_out, int64_t r0, int64_t r1,
                                     int64_t classes, double scale, int64_t *correct) {
    double total = 0.0;
    for (int64_t i = r0; i < r1; i++) {
        const REAL *x = logits + i * classes;
        double m = (double)x[0];
        int64_t arg = 0;
        for (int64_t c = 1; c < classes; c++)
            if ((double)x[c] > m) {
                m = (double)x[c];
                arg = c;
            }
        *correct += arg == labels[i];
        double s = 0.0;
        for (int64_t c = 0; c < classes; c++) s += exp((double)x[c] - m);
        const double lse = m + log(s);
        const int64_t y = labels[i];
        total += lse - (double)x[y];
        if (grad_out != NULL) {
            REAL *g = grad_out + i * classes;
            for (int64_t c = 0; c < classes; c++) g[c] = (REAL)(exp((double)x[c] - lse) * scale);
            g[y] = (REAL)((exp((double)x[y] - lse) - 1.0) * scale);
        }
    }
    return total;
}

double SFX(softmax_xent)(const REAL *logits, const int64_t *labels, REAL *grad_out, int64_t rows, int64_t classes,
                         double scale, int64_t *n_correct_out, int n_threads) {
    double total = 0.0;
    int64_t correct = 0;
    FNN_LOSS_REDUCE(rows, FNN_ROW_REDUCE_BLOCK, n_threads, total, correct,
                    SFX(softmax_xent_rows)(logits, labels, grad_out, lo, hi, classes, scale, &correct));
    if (n_correct_out != NULL) *n_correct_out = correct;
    return total;
}

/* probs_out = softmax(logits) row-wise; may alias logits. */
#include "fnn_softmax_tmpl.h"

void SFX(softmax)(const REAL *logits, REAL *probs_out, int64_t rows, int64_t classes, int n_threads) {
    FNN_PARALLEL_FOR(n_threads)
    for (int64_t i = 0; i < rows; i++) SFX(fnn_softmax_row)(logits + i * classes, probs_out + i * classes, classes);
}

/* Binary cross entropy from logits, as torch.nn.BCEWithLogitsLoss:
 *   loss = max(x, 0) - x t + log1p(exp(-|x|)),   grad = scale * (sigmoid(x) - t).
 * n_correct_out (or NULL): OUT number of elements with (x > 0) == (t > 0.5). */
static double SFX(bce_logits_block)(const REAL *logits, const REAL *targets, REAL *grad_out, int64_t lo, int64_t hi,
                                    double scale, int64_t *correct) {
    double total = 0.0;
    for (int64_t i = lo; i < hi; i++) {
        const double x = (double)logits[i], t = (double)targets[i];
        *correct += (x > 0) == (t > 0.5);
        const double e = exp(-fabs(x));
        total += (x > 0 ? x : 0.0) - x * t + log1p(e);
        if (grad_out != NULL) {
            const double sig = x >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
            grad_out[i] = (REAL)((sig - t) * scale);
        }
    }
    return total;
}

double SFX(bce_logits)(const REAL *logits, const REAL *targets, REAL *grad_out, int64_t n, double scale,
                       int64_t *n_correct_out, int n_threads) {
    double total = 0.0;
    int64_t correct = 0;
    FNN_LOSS_REDUCE(n, FNN_REDUCE_BLOCK, n_threads, total, correct,
                    SFX(bce_logits_block)(logits, targets, grad_out, lo, hi, scale, &correct));
    if (n_correct_out != NULL) *n_correct_out = correct;
    return total;
}

/* Squared error: loss = sum (p - t)^2,  grad = scale * 2 (p - t). */
static double SFX(mse_block)(const REAL *pred, const REAL *targets, REAL *grad_out, int64_t lo, int64_t hi,
                             double scale) {
    double total = 0.0;
    for (int64_t i = lo; i < hi; i++) {
        const double d = (double)pred[i] - (double)targets[i];
        total += d * d;
        if (grad_out != NULL) grad_out[i] = (REAL)(2.0 * d * scale);
    }
    return total;
}

double SFX(mse)(const REAL *pred, const REAL *targets, REAL *grad_out, int64_t n, double scale, int n_threads) {
    double total = 0.0;
    int64_t correct = 0; /* unused: mse counts nothing */
    FNN_LOSS_REDUCE(n, FNN_REDUCE_BLOCK, n_threads, total, correct,
                    SFX(mse_block)(pred, targets, grad_out, lo, hi, scale));
    (void)correct;
    return total;
}
