/* Fused optimizer kernels (contract in optim.h, code in optim_tmpl.h).
 *
 * Code generation, both safe for NaN/inf (this is not -ffast-math):
 *  - sqrt/sqrtf are redeclared `const`: they set errno only for a negative argument, which nothing here
 *    reads. With the default -fmath-errno GCC treats each call as a memory side effect and will not vectorise
 *    the loop (and `#pragma GCC optimize("no-math-errno")` does not reach the builtin's declaration). The
 *    results are unchanged: the instruction and the libm function are both correctly rounded.
 *  - a bitwise family (fnn_simd.h's fp-contract policy): no silent a*b+c -> fma contraction, so every ISA build
 *    rounds identically and results are the same bits whichever build the CPU selects.
 * The elementwise loops are memory-bound at AVX-512 width but compute-bound (sqrt + div) at the SSE2 baseline
 * that a portable build targets, so the per-chunk functions are FNN_CLONES; the OpenMP region stays outside them.
 */
#define FNN_REQUIRE_FP_CONTRACT_OFF
#include <math.h>
#include "optim.h"
#include "fnn_common.h"

#if defined(__GNUC__)
extern float sqrtf(float) __attribute__((const, nothrow));
extern double sqrt(double) __attribute__((const, nothrow));
#endif

/* One parallel region per step: each thread takes its share of [0, n) (fnn_thread_range) and runs CHUNK (which
 * may use `lo`, `hi`, `s`) on the part of every segment s that falls inside it; CHUNK returns a count summed into
 * ACC. The partition never changes a result: every update is elementwise. */
#define FNN_SEGMENT_LOOP(n_threads, seg_bounds, n_seg, ACC, CHUNK)                                                     \
    FNN_THREADED(n_threads, reduction(+ : ACC), {                                                                      \
        int64_t r0, r1;                                                                                                \
        fnn_thread_range(seg_bounds[n_seg], &r0, &r1);                                                                 \
        for (int64_t s = 0; s < (n_seg); s++) {                                                                        \
            const int64_t lo = seg_bounds[s] > r0 ? seg_bounds[s] : r0;                                                \
            const int64_t hi = seg_bounds[s + 1] < r1 ? seg_bounds[s + 1] : r1;                                        \
            if (lo < hi) ACC += CHUNK;                                                                                 \
        }                                                                                                              \
    });

/* The clipping constants segment s reads (see clip_mode in optim.h): its own scale, or the one [lo, hi] pair. */
#define FNN_SEGMENT_CLIP(clip_mode, clip_args, s) ((clip_mode) == FNN_CLIP_VALUE ? (clip_args) : (clip_args) + (s))

#define FNN_TEMPLATE "optim_tmpl.h"
#include "fnn_instantiate.h"
