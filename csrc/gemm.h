/* fastnn's own matrix product C = A B, deterministic for any thread count.
 *
 * A (M x K) element (i, k) at a[i * rsa + k * csa], B (K x N) element (k, j) at b[k * rsb + j * csb]: any element
 * strides, so transposed and sliced operands need no copy. C (M x N) is row-major with row stride ldc.
 *
 * Why our own kernel (issue 11): numpy's OpenBLAS splits a product between its threads in a way that depends on
 * the thread count, and its pthread pool spins against our OpenMP pool. Here C is cut into fixed tasks (FNN_GEMM_MB
 * rows x FNN_GEMM_NP columns, FNN_GEMM_NP_PACKED_A when A is packed: constants), each computed by ONE thread with a
 * single-threaded packed kernel, handed out dynamically by our one OpenMP pool (a preempted core takes fewer). No
 * task needs another's result, and every element of C is the same chain of multiply-adds over k in the same order
 * (fixed blocks of FNN_GEMM_KC, partial results added in block order) whatever the task, the tile or the thread:
 * the result is the same bits for any thread count. It can differ between CPUs (the SIMD rung, with or without
 * FMA, is the CPU's: fnn_simd.h).
 *
 * Returns 0, or -1 when the per-thread packing buffers cannot be allocated (nothing is written then).
 */
#ifndef FNN_GEMM_H
#define FNN_GEMM_H
#include <stdint.h>

/* An epilogue, called once for every finished task with the block of C it wrote, rows [r0, r1) x columns [c0, c1),
 * on the thread that wrote it, right after its last k block (while the block is in that core's cache); its return
 * values are summed into *count. gemm_epi with epilogue NULL is gemm. The training step applies the optimizer's
 * update to each block of a weight gradient this way (csrc/optim.h, update_rows). */
typedef int64_t (*fnn_gemm_epilogue)(const void *ctx, int64_t r0, int64_t r1, int64_t c0, int64_t c1);

#define FNN_GEMM_DECL(REAL, SFX)                                                                                       \
    int gemm_##SFX(int64_t m, int64_t n, int64_t k, const REAL *a, int64_t rsa, int64_t csa, const REAL *b,            \
                   int64_t rsb, int64_t csb, REAL *c, int64_t ldc, int n_threads);                                     \
    int gemm_epi_##SFX(int64_t m, int64_t n, int64_t k, const REAL *a, int64_t rsa, int64_t csa, const REAL *b,        \
                       int64_t rsb, int64_t csb, REAL *c, int64_t ldc, int n_threads, fnn_gemm_epilogue epilogue,      \
                       const void *ctx, int64_t *count);
FNN_GEMM_DECL(float, f32)
FNN_GEMM_DECL(double, f64)

int fnn_simd_available(void);
void fnn_simd_set_cap(int max_level);
int fnn_simd_level(void);
#endif
