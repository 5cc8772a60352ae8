/* Template over REAL / SFX (fnn_instantiate.h): the inference program of infer.h.
 *
 * Dense layers are a register-tiled GEMM over packed panels: a tile of R rows by one panel of P columns keeps
 * its R accumulators (one P-wide vector each, GCC vector extensions lowered to the CPU's registers) in
 * registers while it streams the panel's `in` rows once, starting from the bias; then the activation, and the
 * valid columns are stored. R is a compile-time constant per SIMD level (FNN_SIMD_VARIANTS), as many rows as
 * the level's registers hold next to the panel: 8 with AVX-512, 2 with AVX2, 1 with SSE2. A one-row tile (the
 * batch-1 GEMV) splits the dot products over k mod 4 (AVX-512; k mod 2 with AVX2), so that many FMA chains
 * overlap. A panel whose valid columns fit one vector (a classifier's last layer) runs tiles of R * NV rows
 * (AVX-512: 16, AVX2: 8) that read that vector alone.
 * Sums run in REAL (as BLAS does), in k order; contraction to FMA is allowed (fnn_simd.h), so results can
 * differ from another CPU's in the last bits, never between runs or thread counts.
 *
 * Threads: one parallel region for the whole program; each dense layer's panels are split in contiguous
 * ranges over the team (the same thread reads the same panels every call, so each core keeps its share in its
 * own L2 cache), the row-wise layers (LayerNorm, scale-shift, activation, output map) over rows, with a
 * barrier between layers; a last dense layer of one panel and the output map are thread 0's alone, so the
 * other threads go straight to the join. From FNN_INFER_SPLIT_ROWS rows the team splits the rows instead: the
 * compute then outweighs reading the weights twice, and there is no barrier. Every element is computed by one
 * thread from the same data, with the same tile: the thread count never changes a result.
 *
 * One row (batch 1) through a dense layer: a row GEMV over W in its plain (in, out) layout, each row padded to
 * whole cache lines (w_rows, infer.h), that reads the rows of the nonzero x[k] only (SFX(row_gemv)): pixels and
 * the outputs of a ReLU are often 0, and a batch-1 call's time is the time to stream the weights (784-512-256-10
 * on Fashion-MNIST images: half the pixels and a half to three quarters of the hidden units are 0). Each output
 * element is one FMA chain, bias first, then x[k] W[k, j] in k order (NB vectors of columns side by side cover
 * the FMA latency); the weights and x are finite (Program and the NaN scan check), so a skipped term +-0 changes
 * no sum: the result is the same with skipping on or off (infer_skip_zeros), for any thread count. The SSE2 level
 * (12 accumulators of 16 bytes: eleven passes over a 512-wide layer's rows, 24.5 -> 32 us at batch 1 on dense
 * inputs, measured) takes the one-row tile below, which reads every panel row.
 *
 * Panel order: every other call of a thread reads each layer's panels back to front. Streaming more weights
 * than the L2 cache holds evicts the lines read first; reversed, the next call starts with the lines the last
 * one read last, which are still there (bench/roofline_inference.py measures the effect on plain reads).
 */
#include "fnn_act_tmpl.h"
#include "fnn_softmax_tmpl.h"
#include "fnn_ln_scale_tmpl.h"

#define P_ (FNN_INFER_PANEL_BYTES / (int64_t)sizeof(REAL))
/* From this many rows a team splits the rows (each thread runs the whole program on its share, no barrier)
 * instead of each layer's panels; shares start at multiples of the widest tile's rows, so every row is computed
 * by the same tile as on one thread (a one-row tile sums in another order than the others). */
#define FNN_INFER_SPLIT_ROWS 64
#define FNN_INFER_TILE_ROWS 8
#ifndef FNN_INFER_PREFETCH
#define FNN_INFER_PREFETCH 2048
#endif
/* A row GEMV keeps its nonzero k on the stack: layers with more inputs read every row. */
#define FNN_INFER_ROW_GEMV_MAX_IN 8192
/* The row GEMV prefetches its chunk of the row this many listed rows ahead: 784-512-256-10 at batch 1, one
 * thread, Fashion-MNIST images / dense inputs: none 10.2 / 21.6 us, 1 row 9.2 / 18.0, 4 rows 9.0 / 17.7, 8 rows
 * 9.3 / 19.4 (bench/RESULTS.md); the hardware prefetchers do not follow rows that skip. */
#ifndef FNN_INFER_ROW_PREFETCH
#define FNN_INFER_ROW_PREFETCH 4
#endif

/* v[0:n] = act(v[0:n]) in place, the switch hoisted so each loop vectorizes. */
static FNN_INLINE void SFX(act_inplace)(REAL *v, int64_t n, int act, REAL a) {
    switch (act) {
    case FNN_IDENTITY:
        break;
    case FNN_RELU:
        for (int64_t j = 0; j < n; j++) v[j] = v[j] < 0 ? (REAL)0 : v[j];
        break;
    case FNN_LEAKY_RELU:
        for (int64_t j = 0; j < n; j++) v[j] = v[j] > 0 ? v[j] : a * v[j];
        break;
    default:
        for (int64_t j = 0; j < n; j++) v[j] = SFX(fnn_act)(v[j], act, a);
    }
}

/* R rows of x (stride ldx) times the first NVU vectors of one panel (in, P) plus its bias, activated, into the
 * first `ncols` columns at y (stride ldy). A panel row is NV vectors of VB bytes, the level's register width:
 * every accumulator is a register (a vector type wider than the hardware's would live in memory). NVU < NV
 * reads a narrow panel's valid part only (ncols <= NVU lanes: the last layer of a classifier), with up to
 * 8 * NV / NVU rows in the same registers. A one-row tile (the GEMV) splits k over CH chains (k mod CH, in the
 * accumulator rows the other tiles use for rows) so CH * NV FMAs are in flight: a chain alone waits an FMA
 * latency per k, which caps a GEMV below the L2 cache's bandwidth. Every multi-row tile computes an element
 * alike (bias, then one FMA per k in k order), whatever its R and NVU. */
#define FNN_PANEL_TILE_DEF(NAME, VB)                                                                                   \
    static FNN_INLINE void NAME(const REAL *FNN_RESTRICT x, int64_t ldx, const REAL *FNN_RESTRICT panel, int64_t in,   \
                                const REAL *bias, REAL *FNN_RESTRICT y, int64_t ldy, int64_t ncols, int act,           \
                                REAL alpha, const int R, const int NVU) {                                              \
        typedef REAL V __attribute__((vector_size(VB)));                                                               \
        typedef REAL Vu __attribute__((vector_size(VB), aligned(sizeof(REAL))));                                       \
        enum { NV = FNN_INFER_PANEL_BYTES / (VB), LANES = (VB) / (int)sizeof(REAL) };                                  \
        enum { CH = NV <= 2 ? 4 : NV <= 4 ? 2 : 1 };                                                                   \
        const int chains = R == 1 ? CH : 1, width = NVU * LANES;                                                       \
        V acc[8 * NV]; /* acc[r * NVU + v]: row r's (a one-row tile: chain r's) vector v */                            \
        _Pragma("GCC unroll 16") for (int r = 0; r < (R > chains ? R : chains); r++) {                                 \
            _Pragma("GCC unroll 8") for (int v = 0; v < NVU; v++) acc[r * NVU + v] =                                   \
                r == 0 || r < R ? *(const Vu *)(bias + v * LANES) : (V){0};                                            \
        }                                                                                                              \
        int64_t k = 0;                                                                                                 \
        if (chains > 1) {                                                                                              \
            for (; k + CH <= in; k += CH) {                                                                            \
                _Pragma("GCC unroll 8") for (int c = 0; c < CH * (int)sizeof(REAL) * P_ / 64; c++)                     \
                    __builtin_prefetch((const char *)(panel + k * P_) + FNN_INFER_PREFETCH + 64 * c);                  \
                _Pragma("GCC unroll 8") for (int c = 0; c < CH; c++) {                                                 \
                    const REAL xc = x[k + c];                                                                          \
                    _Pragma("GCC unroll 8") for (int v = 0; v < NVU; v++) acc[c * NVU + v] +=                          \
                        xc * *(const Vu *)(panel + (k + c) * P_ + v * LANES);                                          \
                }                                                                                                      \
            }                                                                                                          \
        }                                                                                                              \
        for (; k < in; k++) {                                                                                          \
            V w[NV];                                                                                                   \
            _Pragma("GCC unroll 8") for (int v = 0; v < NVU; v++) w[v] = *(const Vu *)(panel + k * P_ + v * LANES);    \
            _Pragma("GCC unroll 16") for (int r = 0; r < R; r++) {                                                     \
                const REAL xr = x[r * ldx + k];                                                                        \
                _Pragma("GCC unroll 8") for (int v = 0; v < NVU; v++) acc[r * NVU + v] += xr * w[v];                   \
            }                                                                                                          \
        }                                                                                                              \
        if (chains > 1) {                                                                                              \
            _Pragma("GCC unroll 8") for (int v = 0; v < NVU; v++) {                                                    \
                if (CH == 4) {                                                                                         \
                    acc[v] += acc[2 * NVU + v];                                                                        \
                    acc[NVU + v] += acc[3 * NVU + v];                                                                  \
                }                                                                                                      \
                acc[v] += acc[NVU + v];                                                                                \
            }                                                                                                          \
        }                                                                                                              \
        /* all accumulators to memory first: none is live across the activation or a copy's call */                    \
        REAL tmp[8 * P_] __attribute__((aligned(FNN_INFER_PANEL_BYTES)));                                              \
        _Pragma("GCC unroll 16") for (int r = 0; r < R; r++) {                                                         \
            _Pragma("GCC unroll 8") for (int v = 0; v < NVU; v++) * (V *)(tmp + (r * NVU + v) * LANES) =               \
                acc[r * NVU + v];                                                                                      \
        }                                                                                                              \
        for (int r = 0; r < R; r++) {                                                                                  \
            REAL *t = tmp + r * width, *yr = y + r * ldy;                                                              \
            if (ncols == width) { /* fixed-length loops and vector stores */                                           \
                SFX(act_inplace)(t, width, act, alpha);                                                                \
                _Pragma("GCC unroll 8") for (int v = 0; v < NVU; v++) * (Vu *)(yr + v * LANES) =                       \
                    *(const V *)(t + v * LANES);                                                                       \
            } else {                                                                                                   \
                SFX(act_inplace)(t, ncols, act, alpha);                                                                \
                for (int64_t j = 0; j < ncols; j++) yr[j] = t[j];                                                      \
            }                                                                                                          \
        }                                                                                                              \
    }
FNN_PANEL_TILE_DEF(SFX(panel_tile_16), 16)
FNN_PANEL_TILE_DEF(SFX(panel_tile_32), 32)
FNN_PANEL_TILE_DEF(SFX(panel_tile_64), 64)
#undef FNN_PANEL_TILE_DEF

/* The k of the nonzero x[k] for k in [k0, in), in increasing order, into ks from ks[count]; returns the new count.
 * Branch-free: every k is written, and the count moves past it when x[k] != 0. */
static FNN_INLINE int64_t SFX(nonzero_rows_from)(const REAL *x, int64_t k0, int64_t in, int32_t *ks, int64_t count) {
    for (int64_t k = k0; k < in; k++) {
        ks[count] = (int32_t)k;
        count += x[k] != 0;
    }
    return count;
}

#if FNN_X86_DISPATCH
/* The same with AVX-512: a compare and a compress store per vector, 784 floats in ~50 ns instead of ~300 ns. */
FNN_TARGET_V4 static int64_t SFX(nonzero_rows_v4)(const REAL *x, int64_t in, int32_t *ks) {
    enum { LANES = 64 / (int)sizeof(REAL) };
    __m512i k = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15); /* LANES of them used */
    int64_t count = 0, i = 0;
    for (; i + LANES <= in; i += LANES) {
#if REAL_IS_FLOAT
        const __mmask16 nonzero = _mm512_cmp_ps_mask(_mm512_loadu_ps(x + i), _mm512_setzero_ps(), _CMP_NEQ_UQ);
#else
        /* the 8-bit mask widened explicitly: left implicit, gcc 12 (-O3 with -fsanitize-recover) spilled it as one
         * byte and reloaded two, so garbage upper bits stored indices past the row and miscounted (review 11) */
        const __mmask16 nonzero =
            (__mmask16)_cvtmask8_u32(_mm512_cmp_pd_mask(_mm512_loadu_pd(x + i), _mm512_setzero_pd(), _CMP_NEQ_UQ));
#endif
        _mm512_mask_compressstoreu_epi32(ks + count, nonzero, k);
        count += __builtin_popcount(nonzero);
        k = _mm512_add_epi32(k, _mm512_set1_epi32(LANES));
    }
    return SFX(nonzero_rows_from)(x, i, in, ks, count);
}
#endif

/* The k of the nonzero x[k], in increasing order, into ks; returns their count (level 2, vb 64: AVX-512). */
static FNN_INLINE int64_t SFX(nonzero_rows)(const REAL *x, int64_t in, int32_t *ks, const int vb) {
#if FNN_X86_DISPATCH
    if (vb == 64) return SFX(nonzero_rows_v4)(x, in, ks);
#endif
    return SFX(nonzero_rows_from)(x, 0, in, ks, 0);
}

/* The first ncols (<= NVC * LANES) columns at y of one row: act(bias + sum over the listed k (ks NULL: every
 * k < nk) of x[k] W[k, :]), W's rows ld elements apart (whole cache lines, padded with zeros: the last vector may
 * read past the layer's columns); one accumulator vector per VB bytes of columns. */
#define FNN_ROW_CHUNK_DEF(NAME, VB)                                                                                    \
    static FNN_INLINE void NAME(const REAL *FNN_RESTRICT x, const int32_t *ks, int64_t nk, const REAL *W, int64_t ld,  \
                                const REAL *bias, REAL *FNN_RESTRICT y, int64_t ncols, int act, REAL alpha,            \
                                const int NVC) {                                                                       \
        typedef REAL V __attribute__((vector_size(VB)));                                                               \
        typedef REAL Vu __attribute__((vector_size(VB), aligned(sizeof(REAL))));                                       \
        enum { LANES = (VB) / (int)sizeof(REAL) };                                                                     \
        V acc[16];                                                                                                     \
        _Pragma("GCC unroll 16") for (int v = 0; v < NVC; v++) acc[v] = *(const Vu *)(bias + v * LANES);               \
        for (int64_t i = 0; i < nk; i++) {                                                                             \
            const int64_t k = ks != NULL ? ks[i] : i;                                                                  \
            const REAL xk = x[k], *row = W + k * ld;                                                                   \
            if (i + FNN_INFER_ROW_PREFETCH < nk) {                                                                     \
                const int64_t ahead = i + FNN_INFER_ROW_PREFETCH;                                                      \
                const char *next = (const char *)(W + (ks != NULL ? ks[ahead] : ahead) * ld);                          \
                _Pragma("GCC unroll 16") for (int l = 0; l < NVC * (VB) / 64; l++) __builtin_prefetch(next + 64 * l);  \
            }                                                                                                          \
            _Pragma("GCC unroll 16") for (int v = 0; v < NVC; v++) acc[v] += xk * *(const Vu *)(row + v * LANES);      \
        }                                                                                                              \
        REAL tmp[16 * LANES] __attribute__((aligned(VB)));                                                             \
        _Pragma("GCC unroll 16") for (int v = 0; v < NVC; v++) * (V *)(tmp + v * LANES) = acc[v];                      \
        if (ncols == NVC * LANES) { /* fixed-length loops and vector stores */                                         \
            SFX(act_inplace)(tmp, NVC * LANES, act, alpha);                                                            \
            _Pragma("GCC unroll 16") for (int v = 0; v < NVC; v++) * (Vu *)(y + v * LANES) =                           \
                *(const V *)(tmp + v * LANES);                                                                         \
        } else {                                                                                                       \
            SFX(act_inplace)(tmp, ncols, act, alpha);                                                                  \
            for (int64_t j = 0; j < ncols; j++) y[j] = tmp[j];                                                         \
        }                                                                                                              \
    }
FNN_ROW_CHUNK_DEF(SFX(row_chunk_32), 32)
FNN_ROW_CHUNK_DEF(SFX(row_chunk_64), 64)
#undef FNN_ROW_CHUNK_DEF

/* Columns [c0, c1) (c0 a multiple of the vector width) of one row through a dense layer's w_rows, in chunks of up
 * to NB vectors (AVX-512: 16 of its 32 registers; AVX2: 14 of 16, next to x[k]: 12 left it 6-11% slower than the
 * panel tile on dense inputs, 14 level with it, measured), the last chunk's remainder in chunks of 8, 4, 2, 1
 * vectors (the last one partly stored); backwards: the chunks from the last. Only the rows of the nonzero x[k]
 * are read (every row when skipping is off or the layer has more than FNN_INFER_ROW_GEMV_MAX_IN inputs). */
#define FNN_ROW_GEMV_DEF(NAME, CHUNK, VB)                                                                              \
    static FNN_INLINE void NAME(const fnn_infer_layer *L, const REAL *x, REAL *y, int64_t c0, int64_t c1,              \
                                int backwards) {                                                                       \
        enum { LANES = (VB) / (int)sizeof(REAL), NB = (VB) == 64 ? 16 : 14 };                                          \
        const REAL *W = (const REAL *)L->w_rows, *B = (const REAL *)L->b;                                              \
        const int64_t in = L->in, ld = L->ld_rows;                                                                     \
        const REAL alpha = (REAL)L->alpha;                                                                             \
        int32_t ks[FNN_INFER_ROW_GEMV_MAX_IN];                                                                         \
        int64_t nk = in;                                                                                               \
        const int skip = fnn_infer_skip_zeros_ && in <= FNN_INFER_ROW_GEMV_MAX_IN;                                     \
        if (skip) nk = SFX(nonzero_rows)(x, in, ks, VB);                                                               \
        const int32_t *list = skip ? ks : NULL;                                                                        \
        const int64_t n_full = (c1 - c0) / (NB * LANES), n_chunks = n_full + ((c1 - c0) % (NB * LANES) != 0);          \
        for (int64_t i = 0; i < n_chunks; i++) {                                                                       \
            const int64_t chunk = backwards ? n_chunks - 1 - i : i;                                                    \
            int64_t j = c0 + chunk * NB * LANES;                                                                       \
            if (chunk < n_full) {                                                                                      \
                CHUNK(x, list, nk, W + j, ld, B + j, y + j, NB * LANES, L->act, alpha, NB);                            \
                continue;                                                                                              \
            }                                                                                                          \
            while (j < c1) {                                                                                           \
                const int64_t left = fnn_n_blocks(c1 - j, LANES);                                                      \
                const int nv = left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;                                      \
                const int64_t cols = fnn_min64(c1 - j, nv * LANES);                                                    \
                if (nv == 8)                                                                                           \
                    CHUNK(x, list, nk, W + j, ld, B + j, y + j, cols, L->act, alpha, 8);                               \
                else if (nv == 4)                                                                                      \
                    CHUNK(x, list, nk, W + j, ld, B + j, y + j, cols, L->act, alpha, 4);                               \
                else if (nv == 2)                                                                                      \
                    CHUNK(x, list, nk, W + j, ld, B + j, y + j, cols, L->act, alpha, 2);                               \
                else                                                                                                   \
                    CHUNK(x, list, nk, W + j, ld, B + j, y + j, cols, L->act, alpha, 1);                               \
                j += cols;                                                                                             \
            }                                                                                                          \
        }                                                                                                              \
    }
FNN_ROW_GEMV_DEF(SFX(row_gemv_l1), SFX(row_chunk_32), 32)
FNN_ROW_GEMV_DEF(SFX(row_gemv_l2), SFX(row_chunk_64), 64)
#undef FNN_ROW_GEMV_DEF
#define FNN_NO_ROW_GEMV(...) ((void)0) /* SSE2 (see the top of the file) */

/* Panels [p0, p1) of a dense layer for all rows (one row of a layer with w_rows, AVX2 and AVX-512: those columns
 * by ROW_GEMV), R rows per tile, the rest in tiles of 4, 2, 1 (the level's tile function TILE of VB-byte vectors,
 * R its rows); a narrow panel (its valid columns in one vector) first in tiles of R * NV and R rows of that vector
 * alone. The rows left to one-row tiles are the same either way (the last of an odd count). From p1 - 1 down to
 * p0 when `backwards`. */
#define FNN_DENSE_PANELS_DEF(NAME, TILE, ROW_GEMV, R, VB)                                                              \
    static FNN_INLINE void NAME(const fnn_infer_layer *L, const REAL *x, REAL *y, int64_t rows, int64_t p0,            \
                                int64_t p1, int backwards) {                                                           \
        enum { NV = FNN_INFER_PANEL_BYTES / (VB), LANES = (VB) / (int)sizeof(REAL) };                                  \
        const REAL *W = (const REAL *)L->w, *B = (const REAL *)L->b;                                                   \
        const int64_t in = L->in, out = L->out;                                                                        \
        const REAL alpha = (REAL)L->alpha;                                                                             \
        if ((VB) != 16 && rows == 1 && L->w_rows != NULL) {                                                            \
            ROW_GEMV(L, x, y, p0 * P_, fnn_min64(p1 * P_, out), backwards);                                            \
            return;                                                                                                    \
        }                                                                                                              \
        for (int64_t i = 0; i < p1 - p0; i++) {                                                                        \
            const int64_t p = backwards ? p1 - 1 - i : p0 + i;                                                         \
            const REAL *panel = W + p * in * P_;                                                                       \
            const int64_t c0 = p * P_, nc = fnn_min64(P_, out - c0);                                                   \
            int64_t r = 0;                                                                                             \
            if ((R) > 1 && NV > 1 && nc <= LANES) {                                                                    \
                for (; r + (R) * NV <= rows; r += (R) * NV)                                                            \
                    TILE(x + r * in, in, panel, in, B + c0, y + r * out + c0, out, nc, L->act, alpha, (R) * NV, 1);    \
                for (; r + (R) <= rows; r += (R))                                                                      \
                    TILE(x + r * in, in, panel, in, B + c0, y + r * out + c0, out, nc, L->act, alpha, R, 1);           \
            }                                                                                                          \
            for (; r + (R) <= rows; r += (R))                                                                          \
                TILE(x + r * in, in, panel, in, B + c0, y + r * out + c0, out, nc, L->act, alpha, R, NV);              \
            if ((R) > 4)                                                                                               \
                for (; r + 4 <= rows; r += 4)                                                                          \
                    TILE(x + r * in, in, panel, in, B + c0, y + r * out + c0, out, nc, L->act, alpha, 4, NV);          \
            if ((R) > 2)                                                                                               \
                for (; r + 2 <= rows; r += 2)                                                                          \
                    TILE(x + r * in, in, panel, in, B + c0, y + r * out + c0, out, nc, L->act, alpha, 2, NV);          \
            for (; r < rows; r++)                                                                                      \
                TILE(x + r * in, in, panel, in, B + c0, y + r * out + c0, out, nc, L->act, alpha, 1, NV);              \
        }                                                                                                              \
    }
FNN_DENSE_PANELS_DEF(SFX(dense_panels_l0), SFX(panel_tile_16), FNN_NO_ROW_GEMV, 1, 16)
FNN_DENSE_PANELS_DEF(SFX(dense_panels_l1), SFX(panel_tile_32), SFX(row_gemv_l1), 2, 32)
FNN_DENSE_PANELS_DEF(SFX(dense_panels_l2), SFX(panel_tile_64), SFX(row_gemv_l2), 8, 64)
#undef FNN_DENSE_PANELS_DEF
#undef FNN_NO_ROW_GEMV

typedef void (*SFX(dense_panels_fn))(const fnn_infer_layer *L, const REAL *x, REAL *y, int64_t rows, int64_t p0,
                                     int64_t p1, int backwards);
#define FNN_DENSE_PANELS_ARGS                                                                                          \
    const fnn_infer_layer *L, const REAL *x, REAL *y, int64_t rows, int64_t p0, int64_t p1, int backwards
#define FNN_DENSE_PANELS_CALL(level) SFX(dense_panels_l##level)(L, x, y, rows, p0, p1, backwards)
FNN_SIMD_VARIANTS(SFX(dense_panels_fn), dense_panels, (FNN_DENSE_PANELS_ARGS), FNN_DENSE_PANELS_CALL)

/* The mean of a row of n values, summed in double. */
static double SFX(row_mean)(const REAL *xr, int64_t n) {
    double s = 0.0;
    for (int64_t j = 0; j < n; j++) s += (double)xr[j];
    return s / (double)n;
}

/* ln_row_moments (declared in fnn_ln_scale_tmpl.h): sums in double shifted by the row's first value, as
 * norm_tmpl.h's, summed in order. */
static inline double SFX(ln_row_moments)(const REAL *xr, int64_t n, double s, double *mean) {
    const double shift = (double)xr[0] * s;
    double s1 = 0.0, s2 = 0.0;
    for (int64_t j = 0; j < n; j++) {
        const double d = (double)xr[j] * s - shift;
        s1 += d;
        s2 += d * d;
    }
    const double m1 = s1 / (double)n;
    *mean = shift + m1;
    return s2 / (double)n - m1 * m1;
}

/* The mean of a row's deviations from its first value *shift, in double, as SampleCenter's centered_rows: those
 * deviations are exact near it, so a constant row is 0 and the sum sees only the spread, not the magnitude a
 * rounded row mean leaves in every centred value; nearly constant rows agree with numpy's pairwise sums and
 * ONNX Runtime to rounding. */
static double SFX(row_deviation_mean)(const REAL *xr, int64_t n, double *shift) {
    *shift = (double)xr[0];
    double s = 0.0;
    for (int64_t j = 0; j < n; j++) s += (double)xr[j] - *shift;
    return s / (double)n;
}

/* Rows [r0, r1) of a row-wise layer (every kind but dense) from x into y (may alias). */
static void SFX(rowwise)(const fnn_infer_layer *L, const REAL *x, REAL *y, int64_t r0, int64_t r1) {
    const int64_t n = L->out;
    const REAL *w = (const REAL *)L->w, *b = (const REAL *)L->b;
    const REAL alpha = (REAL)L->alpha;
    for (int64_t i = r0; i < r1; i++) {
        const REAL *xr = x + i * n;
        REAL *yr = y + i * n;
        if (L->kind == FNN_INFER_SCALE_SHIFT) {
            for (int64_t j = 0; j < n; j++) yr[j] = xr[j] * w[j] + b[j];
        } else if (L->kind == FNN_INFER_LAYERNORM) {
            /* as norm_tmpl.h's ln_forward (the same driver, fnn_ln_scale_tmpl.h) */
            double invstd;
            const REAL mu = (REAL)SFX(fnn_ln_stats)(xr, n, L->eps, &invstd), is = (REAL)invstd;
            if (w != NULL) {
                for (int64_t j = 0; j < n; j++) yr[j] = (xr[j] - mu) * is * w[j] + b[j];
            } else {
                for (int64_t j = 0; j < n; j++) yr[j] = (xr[j] - mu) * is;
            }
        } else if (L->kind == FNN_INFER_CENTER && sizeof(REAL) == sizeof(float)) {
            /* float32, as SampleCenter: the row mean (exact in double far below float's rounding) rounded to
             * float and subtracted in it */
            const REAL mu = (REAL)SFX(row_mean)(xr, n);
            for (int64_t j = 0; j < n; j++) yr[j] = xr[j] - mu;
        } else if (L->kind == FNN_INFER_CENTER) {
            /* double, as SampleCenter (scalers.centered_rows): the deviations less their mean, rounded once */
            double shift;
            const double m = SFX(row_deviation_mean)(xr, n, &shift);
            for (int64_t j = 0; j < n; j++) yr[j] = (REAL)((double)xr[j] - shift - m);
        } else if (L->kind == FNN_INFER_CENTER_STD) {
            /* as SampleCenter (scalers.standardized_rows), in double, rounded once: the centred deviations over
             * their population std */
            double shift;
            const double m = SFX(row_deviation_mean)(xr, n, &shift);
            double q = 0.0;
            for (int64_t j = 0; j < n; j++) q += ((double)xr[j] - shift - m) * ((double)xr[j] - shift - m);
            double sd = sqrt(q / (double)n);
            if (sd < DBL_MIN) sd = 1.0; /* a std of 0: a constant row (stays at 0), or squares that underflowed */
            for (int64_t j = 0; j < n; j++) yr[j] = (REAL)(((double)xr[j] - shift - m) / sd);
        } else if (yr != xr) {
            for (int64_t j = 0; j < n; j++) yr[j] = xr[j];
        }
        SFX(act_inplace)(yr, n, L->act, alpha);
    }
}

/* Rows [r0, r1) of the output map, in place: the softmax of loss_tmpl.h, or an elementwise sigmoid. */
static void SFX(output_rows)(REAL *y, int64_t r0, int64_t r1, int64_t cols, int output) {
    for (int64_t i = r0; i < r1; i++) {
        REAL *p = y + i * cols;
        if (output == FNN_INFER_OUT_SOFTMAX) {
            SFX(fnn_softmax_row)(p, p, cols);
        } else if (output == FNN_INFER_OUT_SIGMOID) {
            SFX(act_inplace)(p, cols, FNN_SIGMOID, 0);
        }
    }
}

/* 1 when every x[i] is finite: x * 0 is 0 for a finite x, NaN for inf and NaN, and a sum of such terms is 0
 * exactly when all are finite (a branch-free scan in four 64-byte accumulators, one FMA per vector).
 * Multiversioned: the SSE2 build of a plain loop took 2.6% of a 784-512-256-10 call at 128 and 1024 rows. */
FNN_CLONES int SFX(infer_all_finite)(const REAL *x, int64_t n) {
    typedef REAL V __attribute__((vector_size(64)));
    typedef REAL Vu __attribute__((vector_size(64), aligned(sizeof(REAL))));
    enum { LANES = 64 / (int)sizeof(REAL) };
    V acc[4] = {{0}, {0}, {0}, {0}};
    int64_t i = 0;
    for (; i + 4 * LANES <= n; i += 4 * LANES)
        for (int a = 0; a < 4; a++) acc[a] += *(const Vu *)(x + i + a * LANES) * (REAL)0;
    REAL rest = 0;
    for (; i < n; i++) rest += x[i] * (REAL)0;
    const V sum = acc[0] + acc[1] + acc[2] + acc[3];
    int bad = rest != 0;
    for (int l = 0; l < LANES; l++) bad |= sum[l] != 0;
    return !bad;
}

/* The whole program on rows [r0, r1), serially: a team's share when it splits the rows (big batches). The share's
 * rows of every layer lie in its own slice of each scratch buffer, [r0, r1) x widest: the team runs without
 * barriers, and at a layer's own width the shares of two layers of different widths would overlap, one thread
 * overwriting rows another has not read yet. */
static void SFX(program_rows)(const fnn_infer_layer *layers, int n_layers, const REAL *x, REAL *y_out, REAL *bufs[2],
                              int64_t widest, int64_t r0, int64_t r1, int output, SFX(dense_panels_fn) dense,
                              int backwards) {
    const int64_t rows = r1 - r0, out_cols = layers[n_layers - 1].out;
    const REAL *src = x + r0 * layers[0].in;
    for (int l = 0; l < n_layers; l++) {
        const fnn_infer_layer *L = &layers[l];
        REAL *dst = l + 1 == n_layers ? y_out + r0 * out_cols : bufs[l & 1] + r0 * widest;
        if (L->kind == FNN_INFER_DENSE)
            dense(L, src, dst, rows, 0, fnn_n_blocks(L->out, P_), backwards);
        else
            SFX(rowwise)(L, src, dst, 0, rows);
        src = dst;
    }
    if (output != FNN_INFER_OUT_NONE) SFX(output_rows)(y_out, r0, r1, out_cols, output);
}

/* The program with each dense layer's panels split over the team (called by every thread of the team): a
 * barrier between layers (fnn_spin_barrier, infer.c); a last dense layer of one panel and the output map are
 * thread 0's alone. */
static void SFX(program_panels)(const fnn_infer_layer *layers, int n_layers, const REAL *x, REAL *y_out, REAL *bufs[2],
                                int64_t rows, int output, SFX(dense_panels_fn) dense, int backwards,
                                fnn_spin_barrier *barrier) {
    const int64_t me = fnn_thread_id(), out_cols = layers[n_layers - 1].out;
    const int solo_tail = layers[n_layers - 1].kind == FNN_INFER_DENSE && out_cols <= P_;
    const REAL *src = x;
    for (int l = 0; l < n_layers; l++) {
        const fnn_infer_layer *L = &layers[l];
        const int last = l + 1 == n_layers;
        const int64_t team = last && solo_tail ? 1 : fnn_team_size();
        const int64_t part = me < team ? me : team, end = me < team ? me + 1 : team; /* none past the team */
        REAL *dst = last ? y_out : bufs[l & 1];
        if (L->kind == FNN_INFER_DENSE) {
            const int64_t np = fnn_n_blocks(L->out, P_);
            dense(L, src, dst, rows, np * part / team, np * end / team, backwards);
        } else {
            SFX(rowwise)(L, src, dst, rows * part / team, rows * end / team);
        }
        src = dst;
        if (team > 1 && barrier != NULL && !(last && output == FNN_INFER_OUT_NONE)) { /* NULL: a serial call */
            fnn_spin_barrier_wait(barrier, (int)fnn_team_size());
        }
        if (last && output != FNN_INFER_OUT_NONE)
            SFX(output_rows)(y_out, rows * part / team, rows * end / team, out_cols, output);
    }
}

static __thread unsigned SFX(infer_calls);

int SFX(infer_forward)(const fnn_infer_layer *layers, int n_layers, const REAL *x, REAL *y_out, REAL *scratch,
                       int64_t rows, int output, int n_threads) {
    if (!SFX(infer_all_finite)(x, rows * layers[0].in)) return 1;
    const SFX(dense_panels_fn) dense = SFX(dense_panels_for_cpu)();
    int64_t widest = 0;
    for (int l = 0; l + 1 < n_layers; l++) widest = layers[l].out > widest ? layers[l].out : widest;
    REAL *bufs[2] = {scratch, scratch + rows * widest};
    const int backwards = (int)(SFX(infer_calls)++ & 1);
    if (n_threads <= 1) { /* no parallel region: entering one, even of one thread, costs a few hundred ns */
        SFX(program_panels)(layers, n_layers, x, y_out, bufs, rows, output, dense, backwards, NULL);
        return 0;
    }
    fnn_spin_barrier barrier = {0, 0};
#pragma omp parallel num_threads(n_threads)
    {
        const int64_t me = fnn_thread_id(), team = fnn_team_size();
        if (rows >= FNN_INFER_SPLIT_ROWS && team > 1) {
            const int64_t r0 = rows * me / team / FNN_INFER_TILE_ROWS * FNN_INFER_TILE_ROWS;
            const int64_t r1 =
                me + 1 == team ? rows : rows * (me + 1) / team / FNN_INFER_TILE_ROWS * FNN_INFER_TILE_ROWS;
            SFX(program_rows)(layers, n_layers, x, y_out, bufs, widest, r0, r1, output, dense, backwards);
        } else {
            SFX(program_panels)(layers, n_layers, x, y_out, bufs, rows, output, dense, backwards, &barrier);
        }
    }
    return 0;
}

/* One layer's work after the matmul for the BLAS path: dense: y = act(x + b) (x is x W, y may alias it); any
 * other kind: the whole layer. Rows in blocks over the threads. */
void SFX(infer_epilogue)(const fnn_infer_layer *layer, const REAL *x, REAL *y_out, int64_t rows, int n_threads) {
    const int64_t n_blocks = fnn_n_blocks(rows, 16), n = layer->out;
    const REAL *b = (const REAL *)layer->b;
    FNN_THREADED(n_threads, for schedule(static), for (int64_t blk = 0; blk < n_blocks; blk++) {
        int64_t r0, r1;
        fnn_block(blk, 16, rows, &r0, &r1);
        if (layer->kind != FNN_INFER_DENSE) {
            SFX(rowwise)(layer, x, y_out, r0, r1);
            continue;
        }
        for (int64_t i = r0; i < r1; i++) {
            REAL *yr = y_out + i * n;
            for (int64_t j = 0; j < n; j++) yr[j] = x[i * n + j] + b[j];
            SFX(act_inplace)(yr, n, layer->act, (REAL)layer->alpha);
        }
    });
}

void SFX(infer_output)(REAL *y, int64_t rows, int64_t cols, int output, int n_threads) {
    const int64_t n_blocks = fnn_n_blocks(rows, 16);
    FNN_THREADED(n_threads, for schedule(static), for (int64_t blk = 0; blk < n_blocks; blk++) {
        int64_t r0, r1;
        fnn_block(blk, 16, rows, &r0, &r1);
        SFX(output_rows)(y, r0, r1, cols, output);
    });
}

#undef P_
