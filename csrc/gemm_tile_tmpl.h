/* One SIMD rung of gemm (included by gemm_tmpl.h with GEMM_VB = vector bytes, GEMM_MR = tile rows, GT(name)).
 *
 * GCC vector extensions: the same source is built for SSE2, AVX2 and AVX-512 by the target of the function it is
 * inlined into; with FMA units `acc += a * b` contracts to one fused multiply-add (fnn_simd.h's fp-contract policy
 * lets this family contract: results are the CPU's, identical for any thread count). */

typedef REAL GT(gemm_vec) __attribute__((vector_size(GEMM_VB)));
typedef REAL GT(gemm_uvec) __attribute__((vector_size(GEMM_VB), aligned(sizeof(REAL)))); /* C rows: any offset */
enum { GT(GEMM_VL) = GEMM_VB / (int)sizeof(REAL), GT(GEMM_NR) = 2 * GEMM_VB / (int)sizeof(REAL) };

/* B[k0 .. k0+kc, j0 .. j0+nr) -> pack (kc x NR, row k at pack + k * NR), zero columns past nr. */
static FNN_INLINE void GT(gemm_pack_b)(const REAL *b, int64_t rsb, int64_t csb, int64_t kc, int64_t nr, REAL *pack) {
    enum { NR = GT(GEMM_NR) };
    if (nr == NR && csb == 1) {
        for (int64_t p = 0; p < kc; p++) memcpy(pack + p * NR, b + p * rsb, NR * sizeof(REAL));
    } else if (csb == 1) {
        for (int64_t p = 0; p < kc; p++) {
            for (int64_t j = 0; j < nr; j++) pack[p * NR + j] = b[p * rsb + j];
            for (int64_t j = nr; j < NR; j++) pack[p * NR + j] = 0;
        }
    } else { /* B's columns are contiguous (a transposed operand): read each column once, in order */
        for (int64_t j = 0; j < nr; j++)
            for (int64_t p = 0; p < kc; p++) pack[p * NR + j] = b[p * rsb + j * csb];
        for (int64_t j = nr; j < NR; j++)
            for (int64_t p = 0; p < kc; p++) pack[p * NR + j] = 0;
    }
}

/* C[0 .. mr, 0 .. nr) = (first ? 0 : C) + sum_{p < kc} A(i, p) P(p, j), A(i, p) at a[i * rsa + p * csa] and
 * P(p, j) at panel[p * ldp + j]: a packed panel (ldp = NR) or B itself read in place (ldp = rsb, unit columns).
 * Either way an element is the same chain of multiply-adds, one accumulator per element. ROWS x VECS accumulators
 * (constants once inlined: mr <= ROWS <= 2 GEMM_MR, nr <= VECS * VL) are live; rows past mr repeat row mr - 1 (read,
 * never stored). Each element's chain is independent of the others, so its bits depend on neither ROWS nor VECS:
 * a one-row product (predict) does one row's work, over 4 vectors of columns to keep the FMA units busy. */
/* Store ROWS x VECS accumulators to C[0 .. mr, 0 .. nr) (C = acc on the first k block, C += acc after it). */
static FNN_INLINE void GT(gemm_store)(const int ROWS, const int VECS, GT(gemm_vec) (*acc)[4], REAL *c, int64_t ldc,
                                      int64_t csc, int64_t mr, int64_t nr, int first) {
    typedef GT(gemm_vec) vec;
    typedef GT(gemm_uvec) uvec;
    enum { VL = GT(GEMM_VL) };
    if (mr == ROWS && nr == VECS * VL && csc == 1) {
#pragma GCC unroll 16
        for (int i = 0; i < ROWS; i++) {
            uvec *ci = (uvec *)(c + i * ldc);
            for (int v = 0; v < VECS; v++) ci[v] = first ? acc[i][v] : ci[v] + acc[i][v];
        }
        return;
    }
    REAL tile[2 * GEMM_MR][4 * VL] __attribute__((aligned(64)));
    for (int i = 0; i < ROWS; i++)
        for (int v = 0; v < VECS; v++) *(vec *)&tile[i][v * VL] = acc[i][v];
    if (ldc == 1) { /* C written transposed (gemm's dX = (W dZ^T)^T): a column of the tile is a run of C */
        for (int64_t j = 0; j < nr; j++)
            for (int64_t i = 0; i < mr; i++) {
                REAL *cij = c + i + j * csc;
                *cij = first ? tile[i][j] : *cij + tile[i][j];
            }
        return;
    }
    for (int64_t i = 0; i < mr; i++)
        for (int64_t j = 0; j < nr; j++) {
            REAL *cij = c + i * ldc + j * csc;
            *cij = first ? tile[i][j] : *cij + tile[i][j];
        }
}

/* C[0 .. mr, 0 .. nr) = (first ? 0 : C) + sum_{p < kc} A(i, p) P(p, j), A(i, p) at a[i * rsa + p * csa] and
 * P(p, j) at panel[p * ldp + j]: a packed panel (ldp = NR) or B itself read in place (ldp = rsb, unit columns).
 * Either way an element is the same chain of multiply-adds, one accumulator per element. ROWS x VECS accumulators
 * (constants once inlined: mr <= ROWS <= 2 GEMM_MR, nr <= VECS * VL) are live; rows past mr repeat row mr - 1 (read,
 * never stored). Each element's chain is independent of the others, so its bits depend on neither ROWS nor VECS:
 * a one-row product (predict) does one row's work, over 4 vectors of columns to keep the FMA units busy. */
static FNN_INLINE void GT(gemm_tile_shape)(const int ROWS, const int VECS, int64_t kc, const REAL *a, int64_t rsa,
                                           int64_t csa, const REAL *panel, int64_t ldp, REAL *c, int64_t ldc,
                                           int64_t csc, int64_t mr, int64_t nr, int first) {
    typedef GT(gemm_vec) vec;
    typedef GT(gemm_uvec) uvec;
    enum { VL = GT(GEMM_VL) };
    const REAL *row[2 * GEMM_MR];
    vec acc[2 * GEMM_MR][4];
    for (int i = 0; i < ROWS; i++) {
        row[i] = a + (i < mr ? i : mr - 1) * rsa;
        for (int v = 0; v < VECS; v++) acc[i][v] = (vec){0};
    }
    int64_t off = 0;
    for (int64_t p = 0; p < kc; p++, off += csa) {
        vec bv[4];
        for (int v = 0; v < VECS; v++) bv[v] = *(const uvec *)(panel + p * ldp + v * VL);
#pragma GCC unroll 16
        for (int i = 0; i < ROWS; i++) {
            const REAL ai = row[i][off];
            for (int v = 0; v < VECS; v++) acc[i][v] += ai * bv[v];
        }
    }
    GT(gemm_store)(ROWS, VECS, acc, c, ldc, csc, mr, nr, first);
}

/* The same tile with A packed (gemm_pack_a): A(i, p) at ap[p * 2 GEMM_MR + i], every row present (the pack pads),
 * so each A value is a load at a constant offset from one pointer (an embedded broadcast), not one pointer a row. */
static FNN_INLINE void GT(gemm_tile_packed)(const int ROWS, const int VECS, int64_t kc, const REAL *ap,
                                            const REAL *panel, int64_t ldp, REAL *c, int64_t ldc, int64_t csc,
                                            int64_t mr, int64_t nr, int first) {
    typedef GT(gemm_vec) vec;
    typedef GT(gemm_uvec) uvec;
    enum { VL = GT(GEMM_VL), PR = 2 * GEMM_MR };
    vec acc[2 * GEMM_MR][4];
    for (int i = 0; i < ROWS; i++)
        for (int v = 0; v < VECS; v++) acc[i][v] = (vec){0};
    for (int64_t p = 0; p < kc; p++, ap += PR) {
        vec bv[4];
        for (int v = 0; v < VECS; v++) bv[v] = *(const uvec *)(panel + p * ldp + v * VL);
#pragma GCC unroll 16
        for (int i = 0; i < ROWS; i++) {
            const REAL ai = ap[i];
            for (int v = 0; v < VECS; v++) acc[i][v] += ai * bv[v];
        }
    }
    GT(gemm_store)(ROWS, VECS, acc, c, ldc, csc, mr, nr, first);
}

/* A[0 .. mr, 0 .. kc) -> ap in micro-panels of PR = 2 GEMM_MR rows: A(i, p) at ap[(i / PR) kc PR + p PR + i % PR];
 * rows past mr in the last micro-panel repeat row mr - 1 (read by a tile, never stored). For an A whose columns are
 * strided (csa != 1, the only A gemm packs): a k step's values are copied together. */
static FNN_INLINE void GT(gemm_pack_a)(const REAL *a, int64_t rsa, int64_t csa, int64_t mr, int64_t kc, REAL *ap) {
    enum { PR = 2 * GEMM_MR };
    for (int64_t i0 = 0; i0 < mr; i0 += PR, ap += PR * kc) {
        const int64_t rows = fnn_min64(PR, mr - i0);
        const REAL *a0 = a + i0 * rsa;
        if (rsa == 1 && rows == PR) { /* A = X^T: a k step's PR values are one run */
            for (int64_t p = 0; p < kc; p++)
                for (int64_t i = 0; i < PR; i++) ap[p * PR + i] = a0[p * csa + i];
        } else {
            for (int64_t p = 0; p < kc; p++)
                for (int64_t i = 0; i < PR; i++) ap[p * PR + i] = a0[p * csa + (i < rows ? i : rows - 1) * rsa];
        }
    }
}

/* Rows [0, mr) of one panel of nr columns with A packed (gemm_pack_a): per micro-panel of PR = 2 GEMM_MR rows, one
 * tile of PR rows x 1 vector for a panel no wider than a vector, else two tiles of GEMM_MR rows x 2 vectors; a last
 * micro-panel's few rows take the fewest live rows that cover them. */
static FNN_INLINE void GT(gemm_rows_packed)(int64_t kc, const REAL *ap, const REAL *panel, REAL *c, int64_t ldc,
                                            int64_t csc, int64_t mr, int64_t nr, int first) {
    enum { VL = GT(GEMM_VL), NR = GT(GEMM_NR), PR = 2 * GEMM_MR };
    for (int64_t i0 = 0; i0 < mr; i0 += PR, ap += PR * kc) {
        const int64_t rows = fnn_min64(PR, mr - i0);
        REAL *ci = c + i0 * ldc;
        if (nr <= VL) { /* mr a constant for a whole micro-panel: its tile inlines the vector stores */
            if (rows == PR)
                GT(gemm_tile_packed)(PR, 1, kc, ap, panel, NR, ci, ldc, csc, PR, nr, first);
            else
                GT(gemm_tile_packed)(PR, 1, kc, ap, panel, NR, ci, ldc, csc, rows, nr, first);
            continue;
        }
        for (int64_t h = 0; h < rows; h += GEMM_MR) {
            const int64_t hr = fnn_min64(GEMM_MR, rows - h);
            if (hr == GEMM_MR)
                GT(gemm_tile_packed)(GEMM_MR, 2, kc, ap + h, panel, NR, ci + h * ldc, ldc, csc, GEMM_MR, nr, first);
            else if (hr > 2)
                GT(gemm_tile_packed)(GEMM_MR, 2, kc, ap + h, panel, NR, ci + h * ldc, ldc, csc, hr, nr, first);
            else
                GT(gemm_tile_packed)(2, 2, kc, ap + h, panel, NR, ci + h * ldc, ldc, csc, hr, nr, first);
        }
    }
}

/* A GEMM_MR x NR tile (2 vectors of columns), or for short tiles the fewest live rows that cover mr: 1, 2 or 4. */
static FNN_INLINE void GT(gemm_tile)(int64_t kc, const REAL *a, int64_t rsa, int64_t csa, const REAL *panel,
                                     int64_t ldp, REAL *c, int64_t ldc, int64_t csc, int64_t mr, int64_t nr,
                                     int first) {
    if (mr >= GEMM_MR || mr > 4)
        GT(gemm_tile_shape)(GEMM_MR, 2, kc, a, rsa, csa, panel, ldp, c, ldc, csc, mr, nr, first);
    else if (mr > 2)
        GT(gemm_tile_shape)(4, 2, kc, a, rsa, csa, panel, ldp, c, ldc, csc, mr, nr, first);
    else if (mr == 2)
        GT(gemm_tile_shape)(2, 2, kc, a, rsa, csa, panel, ldp, c, ldc, csc, mr, nr, first);
    else
        GT(gemm_tile_shape)(1, 2, kc, a, rsa, csa, panel, ldp, c, ldc, csc, mr, nr, first);
}

/* Rows [0, mr) of one panel of nr columns, tile by tile. A panel no wider than one vector (the 10 classes of an
 * output layer) takes tiles of 2 GEMM_MR rows x 1 vector: as many accumulators, twice the rows per load of the
 * panel, and no multiply-adds on the empty second vector (2x on a 256 -> 10 layer's products). */
static FNN_INLINE void GT(gemm_rows)(int64_t kc, const REAL *a, int64_t rsa, int64_t csa, const REAL *panel,
                                     int64_t ldp, REAL *c, int64_t ldc, int64_t csc, int64_t mr, int64_t nr,
                                     int first) {
    enum { VL = GT(GEMM_VL) };
    int64_t i = 0;
    if (nr <= VL) {
        for (; i + 2 * GEMM_MR <= mr; i += 2 * GEMM_MR)
            GT(gemm_tile_shape)(2 * GEMM_MR, 1, kc, a + i * rsa, rsa, csa, panel, ldp, c + i * ldc, ldc, csc,
                                2 * GEMM_MR, nr, first);
        if (i + GEMM_MR <= mr) {
            GT(gemm_tile_shape)(GEMM_MR, 1, kc, a + i * rsa, rsa, csa, panel, ldp, c + i * ldc, ldc, csc, GEMM_MR, nr,
                                first);
            i += GEMM_MR;
        }
    }
    for (; i < mr; i += GEMM_MR)
        GT(gemm_tile)(kc, a + i * rsa, rsa, csa, panel, ldp, c + i * ldc, ldc, csc, fnn_min64(GEMM_MR, mr - i), nr,
                      first);
}

/* The task C[m0 .. m1, n0 .. n1) (n1 - n0 <= FNN_GEMM_NP, or FNN_GEMM_NP_PACKED_A when A is packed) on one thread,
 * B packed per k block into pack (FNN_GEMM_PACK scratch values): each packed panel serves every row tile of the
 * task. A with unit column stride is read in place; any other A is packed per FNN_GEMM_MC rows behind B's block
 * (FNN_GEMM_SCRATCH) and serves every panel. An element's chain of multiply-adds is the same either way. */
static FNN_INLINE void GT(gemm_task_packed)(int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t k, const REAL *a,
                                            int64_t rsa, int64_t csa, const REAL *b, int64_t rsb, int64_t csb, REAL *c,
                                            int64_t ldc, int64_t csc, REAL *pack) {
    enum { NR = GT(GEMM_NR) };
    for (int64_t k0 = 0; k0 < k; k0 += FNN_GEMM_KC) {
        const int64_t kc = fnn_min64(FNN_GEMM_KC, k - k0);
        for (int64_t j = n0; j < n1; j += NR)
            GT(gemm_pack_b)(b + k0 * rsb + j * csb, rsb, csb, kc, fnn_min64(NR, n1 - j), pack + (j - n0) * kc);
        for (int64_t mb = m0; mb < m1; mb += FNN_GEMM_MC) {
            const int64_t me = fnn_min64(m1, mb + FNN_GEMM_MC);
            if (!fnn_gemm_packs_a(csa)) {
                for (int64_t j = n0; j < n1; j += NR)
                    GT(gemm_rows)(kc, a + mb * rsa + k0 * csa, rsa, csa, pack + (j - n0) * kc, NR,
                                  c + mb * ldc + j * csc, ldc, csc, me - mb, fnn_min64(NR, n1 - j), k0 == 0);
                continue;
            }
            GT(gemm_pack_a)(a + mb * rsa + k0 * csa, rsa, csa, me - mb, kc, pack + FNN_GEMM_PACK);
            for (int64_t j = n0; j < n1; j += NR)
                GT(gemm_rows_packed)(kc, pack + FNN_GEMM_PACK, pack + (j - n0) * kc, c + mb * ldc + j * csc, ldc, csc,
                                     me - mb, fnn_min64(NR, n1 - j), k0 == 0);
        }
    }
}

/* The task C[m0 .. m1, n0 .. n1) of a small product (m1 - m0 <= FNN_GEMM_DIRECT_M, B with unit column stride,
 * n1 - n0 <= FNN_GEMM_NP_SMALL): every element of B is read a few times at most, so B is read in place, row segments of up to
 * 4 vectors per pass for one or two rows; only a last panel narrower than NR is packed (zero-padded) into pack. */
static FNN_INLINE void GT(gemm_task_direct)(int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t k, const REAL *a,
                                            int64_t rsa, int64_t csa, const REAL *b, int64_t rsb, REAL *c, int64_t ldc,
                                            int64_t csc, REAL *pack) {
    enum { NR = GT(GEMM_NR) };
    const int64_t mr = m1 - m0, full = n0 + (n1 - n0) / NR * NR;
    for (int64_t k0 = 0; k0 < k; k0 += FNN_GEMM_KC) {
        const int64_t kc = fnn_min64(FNN_GEMM_KC, k - k0);
        const REAL *ak = a + m0 * rsa + k0 * csa, *bk = b + k0 * rsb;
        REAL *cm = c + m0 * ldc;
        int64_t j = n0;
        for (; mr <= 2 && j + 2 * NR <= full; j += 2 * NR) {
            if (mr == 1)
                GT(gemm_tile_shape)(1, 4, kc, ak, rsa, csa, bk + j, rsb, cm + j * csc, ldc, csc, 1, 2 * NR, k0 == 0);
            else
                GT(gemm_tile_shape)(2, 4, kc, ak, rsa, csa, bk + j, rsb, cm + j * csc, ldc, csc, 2, 2 * NR, k0 == 0);
        }
        /* full panels and the narrow last one apart: with nr == NR a constant, the full tiles inline their
         * vector stores (one loop choosing per panel measured 54 -> 61 us for predict at batch 1) */
        for (; j < full; j += NR)
            for (int64_t i = 0; i < mr; i += GEMM_MR)
                GT(gemm_tile)(kc, ak + i * rsa, rsa, csa, bk + j, rsb, cm + i * ldc + j * csc, ldc, csc,
                              fnn_min64(GEMM_MR, mr - i), NR, k0 == 0);
        if (j < n1) {
            GT(gemm_pack_b)(bk + j, rsb, 1, kc, n1 - j, pack);
            GT(gemm_rows)(kc, ak, rsa, csa, pack, NR, cm + j * csc, ldc, csc, mr, n1 - j, k0 == 0);
        }
    }
}

static FNN_INLINE void GT(gemm_task)(int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t k, const REAL *a,
                                     int64_t rsa, int64_t csa, const REAL *b, int64_t rsb, int64_t csb, REAL *c,
                                     int64_t ldc, int64_t csc, REAL *pack) {
    if (fnn_gemm_is_small(m1 - m0, csb))
        GT(gemm_task_direct)(m0, m1, n0, n1, k, a, rsa, csa, b, rsb, c, ldc, csc, pack);
    else
        GT(gemm_task_packed)(m0, m1, n0, n1, k, a, rsa, csa, b, rsb, csb, c, ldc, csc, pack);
}
