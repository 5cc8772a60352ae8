/* Fused optimizer kernels (contract in optim.h, code in optim_tmpl.h).
 *
 * Two code-generation settings for this file, both safe for NaN/inf (this is not -ffast-math):
 *  - sqrt/sqrtf are redeclared `const`: they set errno only for a negative argument, which nothing here
 *    reads. With the default -fmath-errno GCC treats each call as a memory side effect and will not vectorise
 *    the loop (and `#pragma GCC optimize("no-math-errno")` does not reach the builtin's declaration). The
 *    results are unchanged: the instruction and the libm function are both correctly rounded.
 *  - fp-contract=off: no silent a*b+c -> fma contraction, so every ISA variant below rounds identically and
 *    results are the same bits whichever variant the CPU selects.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <math.h>
#include "optim.h"
#include "fnn_common.h"

#if defined(__GNUC__)
extern float sqrtf(float) __attribute__((const, nothrow));
extern double sqrt(double) __attribute__((const, nothrow));
#endif

/* The elementwise loops are memory-bound at AVX-512 width but compute-bound (sqrt + div) at the SSE2 baseline
 * that a portable build targets, so the per-chunk functions are compiled for three ISAs and the loader picks
 * one (GCC function multiversioning; needs ifunc, i.e. glibc on x86-64). The OpenMP region stays outside them. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(FASTNN_NO_MULTIVERSION)
#define FNN_MULTIVERSION __attribute__((noinline, target_clones("default", "avx2", "avx512f")))
#else
#define FNN_MULTIVERSION __attribute__((noinline))
#endif
#define FNN_INLINE inline __attribute__((always_inline))

/* [*lo, *hi): this thread's share of n elements, cut at multiples of 16 elements (a 64-byte line for float) so
 * two threads never write the same cache line. One fixed partition: the result does not depend on it anyway
 * (every update is elementwise). */
static inline void fnn_thread_range(int64_t n, int64_t *lo, int64_t *hi) {
#ifdef _OPENMP
    const int64_t nt = omp_get_num_threads(), tid = omp_get_thread_num();
#else
    const int64_t nt = 1, tid = 0;
#endif
    int64_t per = (n + nt - 1) / nt;
    per = (per + 15) & ~(int64_t)15;
    const int64_t a = tid * per < n ? tid * per : n;
    *lo = a;
    *hi = a + per < n ? a + per : n;
}

/* One parallel region per step: each thread takes its share of [0, n) and runs CHUNK (which may use `lo`,
 * `hi`, `s`) on the part of every segment s that falls inside it; CHUNK returns a count summed into ACC. */
#define FNN_SEGMENT_LOOP(n_threads, seg_bounds, n_seg, ACC, CHUNK)                                             \
    FNN_PRAGMA(omp parallel num_threads(n_threads) if ((n_threads) > 1) reduction(+ : ACC))                    \
    {                                                                                                          \
        int64_t r0, r1;                                                                                        \
        fnn_thread_range(seg_bounds[n_seg], &r0, &r1);                                                         \
        for (int64_t s = 0; s < (n_seg); s++) {                                                                \
            const int64_t lo = seg_bounds[s] > r0 ? seg_bounds[s] : r0;                                        \
            const int64_t hi = seg_bounds[s + 1] < r1 ? seg_bounds[s + 1] : r1;                                \
            if (lo < hi) ACC += CHUNK;                                                                         \
        }                                                                                                      \
    }

#define FNN_TEMPLATE "optim_tmpl.h"
#include "fnn_instantiate.h"
