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

/* C[0 .. mr, 0 .. nr) = (first ? 0 : C) + sum_{p < kc} A(i, p) pack(p, j), A(i, p) at a[i * rsa + p * csa].
 * Rows past mr repeat row mr - 1 (read, never stored), so a short tile does the same arithmetic per element. */
static FNN_INLINE void GT(gemm_tile)(int64_t kc, const REAL *a, int64_t rsa, int64_t csa, const REAL *pack, REAL *c,
                                     int64_t ldc, int64_t mr, int64_t nr, int first) {
    typedef GT(gemm_vec) vec;
    typedef GT(gemm_uvec) uvec;
    enum { VL = GT(GEMM_VL), NR = GT(GEMM_NR) };
    const REAL *row[GEMM_MR];
    vec lo[GEMM_MR], hi[GEMM_MR];
    for (int i = 0; i < GEMM_MR; i++) {
        row[i] = a + (i < mr ? i : mr - 1) * rsa;
        lo[i] = (vec){0};
        hi[i] = (vec){0};
    }
    int64_t off = 0;
    for (int64_t p = 0; p < kc; p++, off += csa) {
        const vec b0 = *(const vec *)(pack + p * NR), b1 = *(const vec *)(pack + p * NR + VL);
#pragma GCC unroll 16
        for (int i = 0; i < GEMM_MR; i++) {
            const REAL ai = row[i][off];
            lo[i] += ai * b0;
            hi[i] += ai * b1;
        }
    }
    if (mr == GEMM_MR && nr == NR) {
#pragma GCC unroll 16
        for (int i = 0; i < GEMM_MR; i++) {
            uvec *ci = (uvec *)(c + i * ldc);
            if (first) {
                ci[0] = lo[i];
                ci[1] = hi[i];
            } else {
                ci[0] += lo[i];
                ci[1] += hi[i];
            }
        }
        return;
    }
    REAL tile[GEMM_MR][NR] __attribute__((aligned(64)));
    for (int i = 0; i < GEMM_MR; i++) {
        *(vec *)&tile[i][0] = lo[i];
        *(vec *)&tile[i][VL] = hi[i];
    }
    for (int64_t i = 0; i < mr; i++)
        for (int64_t j = 0; j < nr; j++) c[i * ldc + j] = first ? tile[i][j] : c[i * ldc + j] + tile[i][j];
}

/* The task C[m0 .. m1, n0 .. n1) (n1 - n0 <= FNN_GEMM_NP) on one thread; pack: FNN_GEMM_PACK scratch values. */
static FNN_INLINE void GT(gemm_task)(int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t k, const REAL *a,
                                     int64_t rsa, int64_t csa, const REAL *b, int64_t rsb, int64_t csb, REAL *c,
                                     int64_t ldc, REAL *pack) {
    enum { NR = GT(GEMM_NR) };
    for (int64_t k0 = 0; k0 < k; k0 += FNN_GEMM_KC) {
        const int64_t kc = fnn_min64(FNN_GEMM_KC, k - k0);
        for (int64_t j = n0; j < n1; j += NR)
            GT(gemm_pack_b)(b + k0 * rsb + j * csb, rsb, csb, kc, fnn_min64(NR, n1 - j), pack + (j - n0) * kc);
        for (int64_t mb = m0; mb < m1; mb += FNN_GEMM_MC) {
            const int64_t me = fnn_min64(m1, mb + FNN_GEMM_MC);
            for (int64_t j = n0; j < n1; j += NR)
                for (int64_t i = mb; i < me; i += GEMM_MR)
                    GT(gemm_tile)(kc, a + i * rsa + k0 * csa, rsa, csa, pack + (j - n0) * kc, c + i * ldc + j, ldc,
                                  fnn_min64(GEMM_MR, me - i), fnn_min64(NR, n1 - j), k0 == 0);
        }
    }
}
