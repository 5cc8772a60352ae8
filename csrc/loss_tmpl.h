/* Template over REAL / SFX: see fnn_instantiate.h. Sums run in double for both dtypes. grad_out may be NULL
 * (evaluation only). `scale` multiplies the gradient: 1/batch for a mean loss. */

/* Cross entropy of softmax(logits) against integer labels, log-sum-exp stable:
 *   loss_i = logsumexp(x_i) - x_i[y_i],   grad_i = scale * (softmax(x_i) - onehot(y_i)).
 * n_correct_out (or NULL): OUT number of rows whose argmax (first maximum) equals the label. */
double SFX(softmax_xent)(const REAL *logits, const int64_t *labels, REAL *grad_out, int64_t rows,
                         int64_t classes, double scale, int64_t *n_correct_out, int n_threads) {
    double total = 0.0;
    int64_t correct = 0;
    FNN_PRAGMA(omp parallel for schedule(static) num_threads(n_threads) if(n_threads > 1) reduction(+:total, correct))
    for (int64_t i = 0; i < rows; i++) {
        const REAL *x = logits + i * classes;
        double m = (double)x[0];
        int64_t arg = 0;
        for (int64_t c = 1; c < classes; c++) if ((double)x[c] > m) { m = (double)x[c]; arg = c; }
        correct += arg == labels[i];
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
    if (n_correct_out != NULL) *n_correct_out = correct;
    return total;
}

/* probs_out = softmax(logits) row-wise; may alias logits. */
void SFX(softmax)(const REAL *logits, REAL *probs_out, int64_t rows, int64_t classes, int n_threads) {
    FNN_PARALLEL_FOR(n_threads)
    for (int64_t i = 0; i < rows; i++) {
        const REAL *x = logits + i * classes;
        REAL *p = probs_out + i * classes;
        double m = (double)x[0];
        for (int64_t c = 1; c < classes; c++) m = (double)x[c] > m ? (double)x[c] : m;
        double s = 0.0;
        for (int64_t c = 0; c < classes; c++) s += exp((double)x[c] - m);
        const double inv = 1.0 / s;
        for (int64_t c = 0; c < classes; c++) p[c] = (REAL)(exp((double)x[c] - m) * inv);
    }
}

/* Binary cross entropy from logits, as torch.nn.BCEWithLogitsLoss:
 *   loss = max(x, 0) - x t + log1p(exp(-|x|)),   grad = scale * (sigmoid(x) - t).
 * n_correct_out (or NULL): OUT number of elements with (x > 0) == (t > 0.5). */
double SFX(bce_logits)(const REAL *logits, const REAL *targets, REAL *grad_out, int64_t n, double scale,
                       int64_t *n_correct_out, int n_threads) {
    double total = 0.0;
    int64_t correct = 0;
    FNN_PRAGMA(omp parallel for schedule(static) num_threads(n_threads) if(n_threads > 1) reduction(+:total, correct))
    for (int64_t i = 0; i < n; i++) {
        const double x = (double)logits[i], t = (double)targets[i];
        correct += (x > 0) == (t > 0.5);
        const double e = exp(-fabs(x));
        total += (x > 0 ? x : 0.0) - x * t + log1p(e);
        if (grad_out != NULL) {
            const double sig = x >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
            grad_out[i] = (REAL)((sig - t) * scale);
        }
    }
    if (n_correct_out != NULL) *n_correct_out = correct;
    return total;
}

/* Squared error: loss = sum (p - t)^2,  grad = scale * 2 (p - t). */
double SFX(mse)(const REAL *pred, const REAL *targets, REAL *grad_out, int64_t n, double scale, int n_threads) {
    double total = 0.0;
    FNN_PRAGMA(omp parallel for schedule(static) num_threads(n_threads) if(n_threads > 1) reduction(+:total))
    for (int64_t i = 0; i < n; i++) {
        const double d = (double)pred[i] - (double)targets[i];
        total += d * d;
        if (grad_out != NULL) grad_out[i] = (REAL)(2.0 * d * scale);
    }
    return total;
}
