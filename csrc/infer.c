/* Inference kernels (contract in infer.h): the f32/f64 instantiations of infer_tmpl.h. */
#include "infer.h"

#include <float.h> /* DBL_MIN: SampleCenter's zero-std floor (infer_tmpl.h) */
#include <time.h>

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

/* The GIL hand-off. A Python thread that finishes its kernel while another thread holds the GIL blocks in CPython's
 * take_gil on a condition variable, and waking it costs more than a batch-1 call: on this 2-vCPU VM, two threads
 * calling a plan in a loop slept in 7-10% of their calls (getrusage), a call's 99th percentile grew from ~14 to
 * ~45 us, and they made x1.54-1.58 of one thread's calls per second where the same kernel on two C threads makes
 * x1.95 (bench/RESULTS.md). So a caller that takes the GIL back stamps the time (holder_since); its next kernel call
 * clears the stamp once it has released the GIL. A caller that finishes its kernel while another's stamp is younger
 * than the bound spins until that stamp is cleared or replaced (the holder released the GIL) or the bound has passed
 * since it was set, then takes the GIL: usually free by then, so it does not sleep. The stamp is a hint, never a
 * result: a holder that releases the GIL in any other way (a lock or queue wait, sleep, I/O, another extension's
 * nogil call, the end of its thread) leaves its stamp, and a caller whose kernel ends within the bound of it spins
 * on a free GIL until the bound has passed. So a thread whose last stretch from taking the GIL back to its next
 * kernel outlasted the bound (it waited somewhere) sets no stamp until a stretch is short again, and the bound is
 * short (fastnn/_config.py: 20 us by default; 0, never spin, with one usable CPU, where the holder could not run
 * while we spin, and without a GIL). */
#if !defined(_WIN32)
#define FNN_GIL_CLOCK 1
static int64_t fnn_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}
#elif defined(TIME_UTC) /* the UCRT's <time.h> (C11 timespec_get: the wall clock, see before_take) */
#define FNN_GIL_CLOCK 1
static int64_t fnn_now_ns(void) {
    struct timespec t;
    timespec_get(&t, TIME_UTC);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}
#else /* a C runtime without timespec_get (Wine's copy of the MSVC headers, which tests/test_windows_build.py uses) */
#define FNN_GIL_CLOCK 0
#endif

int infer_gil_spin_supported(void) {
    return FNN_GIL_CLOCK;
}

#if FNN_GIL_CLOCK
static int64_t fnn_gil_spin_ns_ = 0;
static int64_t fnn_gil_holder_since_ = 0;  /* when a caller took the GIL back; 0: none since one released it */
static __thread int64_t fnn_gil_my_stamp_; /* the stamp this thread set, 0: none */
static __thread int64_t fnn_gil_my_taken_; /* when this thread last took the GIL back after a kernel, 0: never */
/* Whether this thread's last stretch from taking the GIL back to its next kernel was shorter than the bound: a
 * thread that waited in between (a queue, sleep, I/O) took longer, and its next stamp would make others spin on a
 * GIL it may again not hold, so it sets none until a stretch is short again. */
static __thread int fnn_gil_quick_ = 1;

int64_t infer_gil_spin(int64_t ns) {
    const int64_t was = __atomic_load_n(&fnn_gil_spin_ns_, __ATOMIC_RELAXED);
    if (ns >= 0) __atomic_store_n(&fnn_gil_spin_ns_, ns, __ATOMIC_RELAXED);
    return was;
}

void infer_gil_released(void) {
    int64_t mine = fnn_gil_my_stamp_;
    if (mine != 0) /* clear my own stamp only: a later holder's stays */
        __atomic_compare_exchange_n(&fnn_gil_holder_since_, &mine, 0, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED);
    if (fnn_gil_my_taken_ != 0)
        fnn_gil_quick_ = fnn_now_ns() - fnn_gil_my_taken_ < __atomic_load_n(&fnn_gil_spin_ns_, __ATOMIC_RELAXED);
}

void infer_gil_before_take(void) {
    const int64_t bound = __atomic_load_n(&fnn_gil_spin_ns_, __ATOMIC_RELAXED);
    const int64_t since = __atomic_load_n(&fnn_gil_holder_since_, __ATOMIC_ACQUIRE);
    if (bound == 0 || since == 0) return; /* (never this thread's stamp: released cleared it) */
    /* A stamp from the future (the wall clock stepped back, Windows) counts as expired. The rounds end the spin if
     * the clock stalls, after a few times the bound: a round, a clock read and a pause, took 41 ns here (20 without
     * the pause), well over the 8 ns that would make the cap end a spin before the bound on a working clock. */
    for (int64_t rounds = 0; rounds < bound / 8; rounds++) {
        const int64_t age = fnn_now_ns() - since;
        if (age < 0 || age >= bound || __atomic_load_n(&fnn_gil_holder_since_, __ATOMIC_ACQUIRE) != since) return;
        FNN_CPU_RELAX();
    }
}

void infer_gil_taken(void) {
    if (__atomic_load_n(&fnn_gil_spin_ns_, __ATOMIC_RELAXED) == 0) { /* nobody spins: no clock read, no stamp */
        fnn_gil_my_stamp_ = fnn_gil_my_taken_ = 0;
        return;
    }
    const int64_t now = fnn_now_ns() | 1; /* never 0, "no holder" */
    fnn_gil_my_taken_ = now;
    fnn_gil_my_stamp_ = fnn_gil_quick_ ? now : 0;
    if (fnn_gil_quick_) __atomic_store_n(&fnn_gil_holder_since_, now, __ATOMIC_RELEASE);
}
#else /* no clock to bound a spin by: the hand-off is off */
int64_t infer_gil_spin(int64_t ns) {
    (void)ns;
    return 0;
}
void infer_gil_released(void) {}
void infer_gil_before_take(void) {}
void infer_gil_taken(void) {}
#endif

#if FNN_X86_DISPATCH /* infer_tmpl.h's nonzero_rows_v4 */
#include <immintrin.h>
#if defined(_MSC_VER) && defined(__clang__)
/* clang-cl's immintrin.h (before clang 19) leaves out the intrinsics of ISAs the whole file is not compiled for,
 * even for functions with a target attribute (as in augment.c). */
#include <smmintrin.h>
#include <avxintrin.h>
#include <avx2intrin.h>
#include <avx512fintrin.h>
#include <avx512dqintrin.h> /* _cvtmask8_u32 */
#endif
#endif

#define FNN_TEMPLATE "infer_tmpl.h"
#include "fnn_instantiate.h"
