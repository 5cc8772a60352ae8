/* Template over REAL / SFX: see fnn_instantiate.h.
 *
 * Inverted dropout: y = x * scale * keep, scale = 1 / (1 - p), keep ~ Bernoulli(1 - p) per element, so
 * E[y] = x and evaluation is the identity.
 *
 * The random bits of element e (its flat index in the batch array) are a pure function of (key, e), from the
 * generator of fnn_random.h:
 *     h = bits(key, e / 2)          (one 64-bit word serves two elements)
 *     u = e even ? low 32 bits of h : high 32 bits of h
 *     keep = u >= threshold,   threshold = round(p * 2^32)  (p = 1 gives 2^32: nothing kept)
 * key = key(seed, step, stream) of fnn_random.h (dropout_key). Nothing depends on the thread count or on how
 * the elements are split between threads, and fastnn/_reference/dropout.py reproduces the masks in numpy.
 */

void SFX(dropout_forward)(const REAL *x, REAL *y_out, uint8_t *mask_out, int64_t n, uint64_t key, uint64_t threshold,
                          double scale, int n_threads) {
    const REAL s = (REAL)scale;
    const int64_t n_blocks = fnn_n_blocks(n, FNN_DROPOUT_BLOCK);
    FNN_THREADED(n_threads, for schedule(static), for (int64_t blk = 0; blk < n_blocks; blk++) {
        int64_t e0, e1;
        fnn_block(blk, FNN_DROPOUT_BLOCK, n, &e0, &e1);
        uint8_t *m = mask_out + e0;
        fnn_dropout_bits(m, e0, e1, key, threshold);
        const REAL *xb = x + e0;
        REAL *yb = y_out + e0;
        const int64_t w = e1 - e0;
        /* a multiply by (mask * scale), not a select: branch-free, so it vectorizes (a random mask would
         * mispredict a branch on every other element) and NaN/inf propagate as in torch's x * mask / (1 - p) */
        for (int64_t e = 0; e < w; e++) yb[e] = xb[e] * ((REAL)m[e] * s);
    });
}

/* dx = dy * mask * scale. dx_out may alias dy. */
void SFX(dropout_backward)(const REAL *dy, const uint8_t *mask, REAL *dx_out, int64_t n, double scale, int n_threads) {
    const REAL s = (REAL)scale;
    const int64_t n_blocks = fnn_n_blocks(n, FNN_DROPOUT_BLOCK);
    FNN_THREADED(n_threads, for schedule(static), for (int64_t blk = 0; blk < n_blocks; blk++) {
        int64_t e0, e1;
        fnn_block(blk, FNN_DROPOUT_BLOCK, n, &e0, &e1);
        const int64_t w = e1 - e0;
        const uint8_t *m = mask + e0;
        if (dx_out == dy) { /* in place: one pointer, so the loop vectorizes */
            REAL *d = dx_out + e0;
            for (int64_t e = 0; e < w; e++) d[e] = d[e] * ((REAL)m[e] * s);
        } else {
            const REAL *g = dy + e0;
            REAL *d = dx_out + e0;
            for (int64_t e = 0; e < w; e++) d[e] = g[e] * ((REAL)m[e] * s);
        }
    });
}
