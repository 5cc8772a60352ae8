/* Shared helpers for fastnn's C kernels.
 *
 * Kernels are plain C99 with no Python.h. Each family is written once in NAME_tmpl.h over REAL / SFX(name) and
 * instantiated twice (float -> name_f32, double -> name_f64) by including fnn_instantiate.h.
 * OpenMP pragmas are ignored by a serial build; the few OpenMP API calls go through the wrappers below so a
 * serial build still links. Parallel loops take `n_threads` from the caller, which already decided (from a
 * measured work threshold) whether threads pay; `if(n_threads > 1)` keeps small calls serial and never wakes
 * the thread pool.
 * The rest of the toolkit: fnn_simd.h (SIMD builds, FNN_INLINE, fp-contract policy), fnn_blocks.h (fixed
 * blocks, thread partitions, ordered reductions), fnn_random.h (the counter-based generator).
 */
#ifndef FNN_COMMON_H
#define FNN_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <math.h>

#ifdef _OPENMP
#include <omp.h>
static inline int fnn_openmp_enabled(void) {
    return 1;
}
static inline int fnn_omp_max_threads(void) {
    return omp_get_max_threads();
}
static inline int fnn_thread_id(void) {
    return omp_get_thread_num();
}
static inline int fnn_team_size(void) {
    return omp_get_num_threads();
}
#else
static inline int fnn_openmp_enabled(void) {
    return 0;
}
static inline int fnn_omp_max_threads(void) {
    return 1;
}
static inline int fnn_thread_id(void) {
    return 0;
}
static inline int fnn_team_size(void) {
    return 1;
}
#endif

#define FNN_STR(x) #x
#define FNN_PRAGMA(x) _Pragma(FNN_STR(x))
/* FNN_THREADED(n_threads, CLAUSES, STATEMENT): STATEMENT under `omp parallel CLAUSES num_threads(n_threads)` when
 * n_threads > 1, as it is otherwise. Entering a region costs 0.3-0.4 us even for a team of one (libgomp builds and
 * frees the team; bench/omp_region_cost.c), as much as a small batch's elementwise work, and a small network's
 * training step makes a dozen such calls. Outside a region the thread number is 0 and the team size 1, as in a
 * team of one, and a worksharing construct inside runs all its iterations alone: STATEMENT computes the same
 * either way. STATEMENT holds no preprocessing directive (it is a macro argument: _Pragma only). */
#define FNN_THREADED(n_threads, CLAUSES, ...)                                                                          \
    do {                                                                                                               \
        if ((n_threads) > 1) {                                                                                         \
            FNN_PRAGMA(omp parallel CLAUSES num_threads(n_threads))                                                    \
            __VA_ARGS__                                                                                                \
        } else {                                                                                                       \
            __VA_ARGS__                                                                                                \
        }                                                                                                              \
    } while (0)

#define FNN_RESTRICT restrict

/* Aligned scratch blocks (`alignment` a power of two, `size` a multiple of it). The Windows C runtime has no C11
 * aligned_alloc: its aligned blocks come from _aligned_malloc and must go back through _aligned_free. */
#ifdef _WIN32
#include <malloc.h>
static inline void *fnn_aligned_alloc(size_t alignment, size_t size) {
    return _aligned_malloc(size, alignment);
}
static inline void fnn_aligned_free(void *p) {
    _aligned_free(p);
}
#else
#include <stdlib.h>
static inline void *fnn_aligned_alloc(size_t alignment, size_t size) {
    return aligned_alloc(alignment, size);
}
static inline void fnn_aligned_free(void *p) {
    free(p);
}
#endif

#include "fnn_simd.h"
#include "fnn_blocks.h"

#endif
