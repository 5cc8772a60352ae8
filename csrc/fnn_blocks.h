/* Fixed blocks and thread partitions: how every kernel splits its work.
 *
 * Two kinds of split, and which one a kernel uses decides what its result may depend on:
 *   fixed blocks       [b * B, min((b + 1) * B, n)) for a constant B. Reductions sum within a block, store one
 *                      partial per block (in double) and add the partials in block order (fnn_sum_in_order), so
 *                      the result is the same bits for any thread count. Elementwise kernels use blocks as
 *                      units of work for `omp for`.
 *   thread ranges      one contiguous share per thread (fnn_team_range, fnn_thread_range, fnn_part_range), for
 *                      work whose result cannot depend on the split (every element or feature is computed by one
 *                      thread from its own data); the split only keeps threads off each other's cache lines.
 */
#ifndef FNN_BLOCKS_H
#define FNN_BLOCKS_H
#include <stdint.h>
#include <stdlib.h>

/* Elements per block of the elementwise reductions (sum of squares, weight penalty, element losses). */
#define FNN_REDUCE_BLOCK 4096
/* Rows per block of the row-wise reductions (softmax cross entropy). */
#define FNN_ROW_REDUCE_BLOCK 64

static inline int64_t fnn_min64(int64_t a, int64_t b) {
    return a < b ? a : b;
}
static inline int64_t fnn_n_blocks(int64_t n, int64_t block) {
    return (n + block - 1) / block;
}
/* [*lo, *hi) of block b of n items in blocks of `block`. */
static inline void fnn_block(int64_t b, int64_t block, int64_t n, int64_t *lo, int64_t *hi) {
    *lo = b * block;
    *hi = fnn_min64(n, *lo + block);
}

/* Per-block partial sums: a caller's stack buffer of FNN_STACK_PARTS when it is large enough, else the heap
 * (NULL if that fails: the caller then runs serially into the stack buffer block by block). */
#define FNN_STACK_PARTS 256
static inline double *fnn_parts_alloc(int64_t nb, double *stack) {
    return nb <= FNN_STACK_PARTS ? stack : (double *)malloc((size_t)nb * sizeof(double));
}
static inline void fnn_parts_free(double *parts, double *stack) {
    if (parts != stack) free(parts);
}
/* sum of part[0 .. nb) left to right: the fixed combine order of a blocked reduction */
static inline double fnn_sum_in_order(const double *part, int64_t nb) {
    double total = 0.0;
    for (int64_t b = 0; b < nb; b++) total += part[b];
    return total;
}

/* Inside a parallel region: this thread's share [*b0, *b1) of n blocks (the whole range when serial). */
static inline void fnn_team_range(int64_t n, int64_t *b0, int64_t *b1) {
    const int64_t t = fnn_thread_id(), nt = fnn_team_size();
    *b0 = n * t / nt;
    *b1 = n * (t + 1) / nt;
}

/* Inside a parallel region: this thread's share [*lo, *hi) of n elements, cut at multiples of 16 elements (a
 * 64-byte line of floats) so two threads never write the same cache line. */
static inline void fnn_thread_range(int64_t n, int64_t *lo, int64_t *hi) {
    const int64_t nt = fnn_team_size(), tid = fnn_thread_id();
    int64_t per = (n + nt - 1) / nt;
    per = (per + 15) & ~(int64_t)15;
    *lo = fnn_min64(n, tid * per);
    *hi = fnn_min64(n, *lo + per);
}

/* Contiguous feature range [c0, c1) of part p of n_parts. Boundaries fall on 64-byte lines of `out` (the array
 * the parts write) when its row stride allows it, so two threads never write into the same cache line (false
 * sharing costs a line transfer per row). `esize` = sizeof(REAL). */
static inline void fnn_part_range(int64_t cols, int64_t p, int64_t n_parts, const void *out, int64_t esize, int64_t *c0,
                                  int64_t *c1) {
    const int64_t step = 64 / esize;
    const int64_t lead = (int64_t)(((64 - (uintptr_t)out % 64) % 64) / (uintptr_t)esize) % step;
    int64_t a = cols * p / n_parts, b = cols * (p + 1) / n_parts;
    a = p == 0 ? 0 : fnn_min64(cols, a <= lead ? lead : lead + (a - lead) / step * step);
    b = p + 1 == n_parts ? cols : fnn_min64(cols, b <= lead ? lead : lead + (b - lead) / step * step);
    *c0 = a;
    *c1 = b;
}
#endif
