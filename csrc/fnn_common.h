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
/* A static-scheduled parallel for over independent elements, serial when n_threads <= 1. */
#define FNN_PARALLEL_FOR(n_threads) FNN_PRAGMA(omp parallel for schedule(static) num_threads(n_threads) if((n_threads) > 1))

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
