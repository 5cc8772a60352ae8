/* Shared helpers for fastnn's C kernels.
 *
 * Kernels are plain C99 with no Python.h. Each family is written once in NAME_tmpl.h over REAL / SFX(name) and
 * instantiated twice (float -> name_f32, double -> name_f64) by including fnn_instantiate.h.
 * OpenMP pragmas are ignored by a serial build; the few OpenMP API calls go through the wrappers below so a
 * serial build still links. Parallel loops take `n_threads` from the caller, which already decided (from a
 * measured work threshold) whether threads pay; `if(n_threads > 1)` keeps small calls serial and never wakes
 * the thread pool.
 */
#ifndef FNN_COMMON_H
#define FNN_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <math.h>

#ifdef _OPENMP
#include <omp.h>
static inline int fnn_openmp_enabled(void) { return 1; }
static inline int fnn_omp_max_threads(void) { return omp_get_max_threads(); }
static inline int fnn_thread_id(void) { return omp_get_thread_num(); }
#else
static inline int fnn_openmp_enabled(void) { return 0; }
static inline int fnn_omp_max_threads(void) { return 1; }
static inline int fnn_thread_id(void) { return 0; }
#endif

#define FNN_STR(x) #x
#define FNN_PRAGMA(x) _Pragma(FNN_STR(x))
/* A static-scheduled parallel for over independent elements, serial when n_threads <= 1. */
#define FNN_PARALLEL_FOR(n_threads) FNN_PRAGMA(omp parallel for schedule(static) num_threads(n_threads) if((n_threads) > 1))

#define FNN_RESTRICT restrict

/* Function multiversioning: compile a hot function for baseline x86-64, x86-64-v3 (AVX2/FMA) and x86-64-v4
 * (AVX-512) and pick one at load time, since distributed builds cannot use -march=native. Mainly for the
 * float<->double conversions of double accumulation, which are 4-8x cheaper with wide vectors. Results can differ
 * between CPUs in the last bits (FMA contraction), never between runs or thread counts on one machine. Put it
 * on functions without OpenMP regions (call them from the parallel loop). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && !defined(FNN_NO_CLONES)
#define FNN_CLONES __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#else
#define FNN_CLONES
#endif

/* Block size of deterministic reductions: the sum is formed per fixed block, then the block sums are added in
 * order, so the result is the same for any thread count. */
#define FNN_REDUCE_BLOCK 4096

#endif
