/* Template over REAL / SFX (fnn_instantiate.h): the task loop of gemm (contract in gemm.h).
 *
 * One register tile per SIMD rung (gemm_tile_tmpl.h, included once per vector width): GEMM_MR rows x 2 vectors of
 * columns, accumulated in registers over a block of k. The rung is chosen once per call (FNN_SIMD_VARIANTS). */
#include <stdlib.h>
#include <string.h>

/* Fixed task and block sizes: they decide the work split, never the arithmetic of an element. */
#define FNN_GEMM_MB 256         /* rows of C per task ... */
#define FNN_GEMM_MB_LONG_K 1024 /* ... when k >= FNN_GEMM_KC / 2 */
#define FNN_GEMM_NP 64          /* columns of C per task: a multiple of every rung's tile width */
#define FNN_GEMM_KC 256         /* k per block: a packed B micro-panel (KC x tile width) stays in L1 */
#define FNN_GEMM_MC 128         /* rows per pass over a packed B block: their A rows stay in L2 */
/* A with a non-unit column stride (x^T of a weight gradient) is packed per FNN_GEMM_MC x FNN_GEMM_KC block
 * (gemm_pack_a): read in place, a tile's rows at each k step are one run of memory, k steps a row of x apart, and
 * those 256 strided lines thrash L1 against the packed B. Wider tasks share each packed A block between more
 * column panels (784x512 dW at batch 1024, 2 threads, Xeon with AVX-512: 4028 us unpacked, 3529 packed in 64-column
 * tasks, 3180 in 128, 2947 in 256, 2861 in 512; numpy's OpenBLAS 2837). */
#define FNN_GEMM_NP_PACKED_A 256
#define FNN_GEMM_PACK (FNN_GEMM_KC * FNN_GEMM_NP_PACKED_A) /* the packed B block of the widest task */
/* scratch per thread: the packed B block, then the packed A block (FNN_GEMM_MC rows, the last micro-panel padded) */
#define FNN_GEMM_SCRATCH (FNN_GEMM_PACK + (FNN_GEMM_MC + 16) * FNN_GEMM_KC)
/* Products of few rows (predict, small batches) read B in place: packing it would copy all of B for a few uses of
 * each element. Up to FNN_GEMM_SMALL_M rows B is read once, in wider column tasks (longer row segments). */
#define FNN_GEMM_DIRECT_M 64
#define FNN_GEMM_SMALL_M 8
#define FNN_GEMM_NP_SMALL 256
#define FNN_GEMM_EPI_BANDS 2 /* tasks per thread of a product with an epilogue (bands of whole rows, gemm_epi) */
#define FNN_GEMM_SWAP_M 128  /* dX = dZ W^T up to this batch: computed as (W dZ^T)^T (see gemm) */
#ifndef FNN_GEMM_IS_SMALL
#define FNN_GEMM_IS_SMALL
static inline int fnn_gemm_is_small(int64_t rows, int64_t csb) {
    return rows <= FNN_GEMM_DIRECT_M && csb == 1;
}
/* Whether a packed task packs A (gemm_task_packed): only an A with strided columns (FNN_GEMM_NP_PACKED_A). */
static inline int fnn_gemm_packs_a(int64_t csa) {
    return csa != 1;
}
/* Columns per task of a product read in place: 128 while that leaves two tasks per thread, else 64 (batch 32,
 * 784x512: 80 -> 66-72 us at 2 threads, 124 -> 117 us at 1; 256 columns: 145 us at 1). Only the work split. */
static inline int64_t fnn_gemm_direct_np(int64_t n, int n_threads) {
    const int64_t per = n / (2 * (int64_t)(n_threads < 1 ? 1 : n_threads)) / FNN_GEMM_NP * FNN_GEMM_NP;
    return per < FNN_GEMM_NP ? FNN_GEMM_NP : per > 2 * FNN_GEMM_NP ? 2 * FNN_GEMM_NP : per;
}
#endif

#define GEMM_VB 16 /* SSE2: 4 floats / 2 doubles per vector */
#define GEMM_MR 4
#define GT(name) SFX(name##_16)
#include "gemm_tile_tmpl.h"
#undef GT
#undef GEMM_MR
#undef GEMM_VB

#define GEMM_VB 32 /* AVX2 + FMA: 16 vector registers, 12 accumulators */
#define GEMM_MR 6
#define GT(name) SFX(name##_32)
#include "gemm_tile_tmpl.h"
#undef GT
#undef GEMM_MR
#undef GEMM_VB

#define GEMM_VB 64 /* AVX-512: 32 vector registers, 16 accumulators */
#define GEMM_MR 8
#define GT(name) SFX(name##_64)
#include "gemm_tile_tmpl.h"
#undef GT
#undef GEMM_MR
#undef GEMM_VB

typedef void (*SFX(gemm_task_fn))(int64_t, int64_t, int64_t, int64_t, int64_t, const REAL *, int64_t, int64_t,
                                  const REAL *, int64_t, int64_t, REAL *, int64_t, int64_t, REAL *);
#define GEMM_TASK_PARAMS                                                                                               \
    (int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t k, const REAL *a, int64_t rsa, int64_t csa,               \
     const REAL *b, int64_t rsb, int64_t csb, REAL *c, int64_t ldc, int64_t csc, REAL *pack)
#define GEMM_TASK_CALL(level)                                                                                          \
    if ((level) == 2)                                                                                                  \
        SFX(gemm_task_64)(m0, m1, n0, n1, k, a, rsa, csa, b, rsb, csb, c, ldc, csc, pack);                             \
    else if ((level) == 1)                                                                                             \
        SFX(gemm_task_32)(m0, m1, n0, n1, k, a, rsa, csa, b, rsb, csb, c, ldc, csc, pack);                             \
    else                                                                                                               \
        SFX(gemm_task_16)(m0, m1, n0, n1, k, a, rsa, csa, b, rsb, csb, c, ldc, csc, pack)
FNN_SIMD_VARIANTS(SFX(gemm_task_fn), gemm_task, GEMM_TASK_PARAMS, GEMM_TASK_CALL)

int SFX(gemm_epi)(int64_t m, int64_t n, int64_t k, const REAL *a, int64_t rsa, int64_t csa, const REAL *b, int64_t rsb,
                  int64_t csb, REAL *c, int64_t ldc, int n_threads, fnn_gemm_epilogue epilogue, const void *ctx,
                  int64_t *count) {
    int64_t total = 0;
    if (count) *count = 0;
    if (m <= 0 || n <= 0) return 0;
    if (k <= 0) { /* an empty sum */
        for (int64_t i = 0; i < m; i++) memset(c + i * ldc, 0, (size_t)n * sizeof(REAL));
        if (epilogue) total = epilogue(ctx, 0, m, 0, n);
        if (count) *count = total;
        return 0;
    }
    int64_t csc = 1;
    int swapped = 0;
    if (csb != 1 && rsb == 1 && m <= FNN_GEMM_SWAP_M && m < n) {
        /* B transposed (dX = dZ W^T): packing it would gather all of B, k x n values, on every call. Compute
         * C^T = B^T A^T instead, whose B operand is A^T (k x m values to pack, fewer) and whose A operand is B^T
         * with unit column stride, written to C through its column stride. Each element is the same products in
         * the same order (a b = b a), so the bits are the same either way. Only up to m = 128: C^T's tiles go to
         * C a tile column at a time, through C's row stride, and from m = 256 on that costs what the gather saves
         * (512x256 dX, 2 threads: batch 64 52 -> 46 us, 128 84 -> 81 us, 256 level). */
        const REAL *t = a;
        a = b, b = t;
        const int64_t rs = rsa, cs = csa, mm = m;
        rsa = csb, csa = 1, rsb = cs, csb = rs;
        m = n, n = mm;
        csc = ldc, ldc = 1;
        swapped = 1;
    }
    const int64_t np = m <= FNN_GEMM_SMALL_M && csb == 1 ? FNN_GEMM_NP_SMALL
                       : fnn_gemm_is_small(m, csb)       ? fnn_gemm_direct_np(n, n_threads)
                       : fnn_gemm_packs_a(csa)           ? FNN_GEMM_NP_PACKED_A
                                                         : FNN_GEMM_NP;
    /* With an epilogue a task is a band of whole rows (all column panels, one after the other), so the block it
     * hands over is contiguous in C: a row-major tensor's update then streams through memory instead of jumping
     * between rows. Only the work split changes, not any element's arithmetic. */
    const int64_t threads = n_threads < 1 ? 1 : n_threads, band = epilogue ? n : np;
    const int64_t col_tasks = fnn_n_blocks(n, band);
    /* A task packs its columns of B for every k block: with a long k that copy is worth sharing between more rows
     * (batch 1024: the step's products 5.5% faster; with k = 32 the shorter tasks balance better) */
    int64_t mb = k >= FNN_GEMM_KC / 2 ? FNN_GEMM_MB_LONG_K : FNN_GEMM_MB;
    if (epilogue)
        mb = (fnn_n_blocks(m, FNN_GEMM_EPI_BANDS * threads) + 7) / 8 * 8;
    else if (fnn_n_blocks(m, mb) * col_tasks < 2 * threads) /* a tall, narrow C (dW of a 10-class layer): */
        mb = (fnn_n_blocks(m, fnn_n_blocks(2 * threads, col_tasks)) + 7) / 8 * 8; /* shorter tasks, all threads */
    const int64_t row_tasks = fnn_n_blocks(m, mb), n_tasks = row_tasks * col_tasks;
    const int nt = n_threads < 1 ? 1 : (int)fnn_min64(n_threads, n_tasks);
    /* per thread: a packed B block of up to np columns (the direct path packs one narrow panel), and behind it the
     * packed A block when A is packed */
    const int64_t scratch = fnn_gemm_packs_a(csa) ? FNN_GEMM_SCRATCH : FNN_GEMM_KC * FNN_GEMM_NP;
    REAL *pack = (REAL *)fnn_aligned_alloc(64, (size_t)nt * (size_t)scratch * sizeof(REAL));
    if (pack == NULL) return -1;
    const SFX(gemm_task_fn) task = SFX(gemm_task_for_cpu)();
    FNN_THREADED(nt, for schedule(dynamic, 1) reduction(+ : total), for (int64_t t = 0; t < n_tasks; t++) {
        int64_t m0, m1, n0, n1;
        fnn_block(t % row_tasks, mb, m, &m0, &m1);
        fnn_block(t / row_tasks, band, n, &n0, &n1);
        for (int64_t j0 = n0; j0 < n1; j0 += np)
            task(m0, m1, j0, fnn_min64(j0 + np, n1), k, a, rsa, csa, b, rsb, csb, c, ldc, csc,
                 pack + (int64_t)fnn_thread_id() * scratch);
        if (epilogue) total += swapped ? epilogue(ctx, n0, n1, m0, m1) : epilogue(ctx, m0, m1, n0, n1);
    });
    fnn_aligned_free(pack);
    if (count) *count = total;
    return 0;
}

int SFX(gemm)(int64_t m, int64_t n, int64_t k, const REAL *a, int64_t rsa, int64_t csa, const REAL *b, int64_t rsb,
              int64_t csb, REAL *c, int64_t ldc, int n_threads) {
    return SFX(gemm_epi)(m, n, k, a, rsa, csa, b, rsb, csb, c, ldc, n_threads, NULL, NULL, NULL);
}
