/* One row's softmax, p = exp(x - max x) / sum exp(x - max x), max, sums and exp in double; p may be x. A template
 * piece over REAL / SFX shared by the families that apply it (loss: predictions; infer: the output map). An empty
 * row (n = 0) has nothing to write, and no x[0] to read. */
static inline void SFX(fnn_softmax_row)(const REAL *x, REAL *p, int64_t n) {
    if (n <= 0) return;
    double m = (double)x[0];
    for (int64_t c = 1; c < n; c++) m = (double)x[c] > m ? (double)x[c] : m;
    double s = 0.0;
    enum { KEPT = 64 }; /* a row this short keeps its exps: one exp per element instead of two */
    double e[KEPT];
    if (n <= KEPT) {
        for (int64_t c = 0; c < n; c++) s += e[c] = exp((double)x[c] - m);
        const double inv = 1.0 / s;
        for (int64_t c = 0; c < n; c++) p[c] = (REAL)(e[c] * inv);
        return;
    }
    for (int64_t c = 0; c < n; c++) s += exp((double)x[c] - m);
    const double inv = 1.0 / s;
    for (int64_t c = 0; c < n; c++) p[c] = (REAL)(exp((double)x[c] - m) * inv);
}
