/* Inference kernels (contract in infer.h): the f32/f64 instantiations of infer_tmpl.h. */
#include "infer.h"

#include "fnn_common.h"

FNN_SIMD_DEFINE_LEVEL

/* Whether the batch-1 row GEMV skips zero inputs (infer_tmpl.h); the results are the same either way (tests compare). */
static int fnn_infer_skip_zeros_ = 1;
int infer_skip_zeros(int on) {
    const int was = fnn_infer_skip_zeros_;
    if (on >= 0) fnn_infer_skip_zeros_ = on != 0;
    return was;
}

int infer_simd_level(void) {
    return fnn_simd_level();
}
void infer_simd_set_cap(int max_level) {
    fnn_simd_set_cap(max_level);
}

#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64)
#define FNN_CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define FNN_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define FNN_CPU_RELAX() ((void)0)
#endif
#ifdef _WIN32 /* SwitchToThread is kernel32's, and the kernels link the C runtime alone: keep spinning */
#define FNN_YIELD() FNN_CPU_RELAX()
#else
#include <sched.h>
#define FNN_YIELD() sched_yield()
#endif

/* A barrier among the threads of one parallel region (every one of them calls it): the last to arrive starts the
 * next generation, the others spin on it, about a cache line's round trip between cores; after
 * FNN_SPIN_BARRIER_SPINS rounds they yield the core (POSIX), so a preempted teammate can run. libgomp's barrier took
 * ~0.45 us here even while its pool spins; with this one a batch-1 call of 784-512-256-10 on 2 threads (two
 * barriers) took 5.95 instead of 6.28 us (relu) and 6.83 instead of 7.19 us (batchnorm), Fashion-MNIST images,
 * 4 alternated runs (bench/RESULTS.md). The writes before the barrier are visible after it: each arrival is a
 * release, the last one's acquire-release increment and release store pass them on to the waiters' acquire
 * loads. */
#define FNN_SPIN_BARRIER_SPINS 20000
typedef struct {
    _Alignas(64) int arrived;
    _Alignas(64) int generation;
} fnn_spin_barrier;

static void fnn_spin_barrier_wait(fnn_spin_barrier *b, int team) {
    const int generation = __atomic_load_n(&b->generation, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&b->arrived, 1, __ATOMIC_ACQ_REL) == team) {
        __atomic_store_n(&b->arrived, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&b->generation, generation + 1, __ATOMIC_RELEASE);
        return;
    }
    for (unsigned spins = 0; __atomic_load_n(&b->generation, __ATOMIC_ACQUIRE) == generation; spins++) {
        if (spins < FNN_SPIN_BARRIER_SPINS)
            FNN_CPU_RELAX();
        else
            FNN_YIELD();
    }
}

#if FNN_X86_DISPATCH /* infer_tmpl.h's nonzero_rows_v4 */
#include <immintrin.h>
#if defined(_MSC_VER) && defined(__clang__)
/* clang-cl's immintrin.h (before clang 19) leaves out the intrinsics of ISAs the whole file is not compiled for,
 * even for functions with a target attribute (as in augment.c). */
#include <smmintrin.h>
#include <avxintrin.h>
#include <avx2intrin.h>
#include <avx512fintrin.h>
#endif
#endif

#define FNN_TEMPLATE "infer_tmpl.h"
#include "fnn_instantiate.h"
