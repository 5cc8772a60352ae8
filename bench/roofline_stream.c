/* The batch-1 roofline of bench/roofline_inference.py: how fast can this machine read a plan's weight bytes?
 *
 * A batch-1 forward pass reads every weight once and does one FMA per weight: far below the cores' FMA rate,
 * so its floor is the time to stream the weights through the cores from wherever they live (L2, L3). These
 * functions read n floats with 4 independent AVX-512 sums (the sum is returned so the loads are not elided)
 * and time each repetition with CLOCK_MONOTONIC:
 *
 *   stream_1core    one thread reads buf[0:n] per repetition;
 *   stream_2cores   two threads, pinned to CPUs 0 and 1 (a worker pthread spinning on a generation counter, the
 *                   cheapest fork-join there is), each reads its own half per repetition: the time from the
 *                   fork to the join, so the hand-off is included (n = 0 measures the hand-off alone);
 * `nt_bytes` > 0: the last nt_bytes of each thread's share are read after a PREFETCHNTA (non-temporal hint),
 * to ask the cache not to keep them, so the rest can stay in the core's L2 between repetitions.
 * `zigzag`: odd repetitions read each share back to front, so they start with the lines the previous
 * repetition read last (still in L2 if the cache evicts the least recently used lines first).
 *
 * fma_peak          the other roof, for batches large enough to reuse each weight from registers: the rate of
 *                   independent AVX-512 FMAs on one core (16 chains, more than latency x throughput).
 *
 * Built at bench time: gcc -O2 -mavx512f -pthread -shared -fPIC (bench/roofline_inference.py).
 */
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* sum of p[0:n] back to front (n a multiple of 64) */
static float read_span_reversed(const float *p, int64_t n) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t i = n - 64; i >= 0; i -= 64) {
        a0 = _mm512_add_ps(a0, _mm512_load_ps(p + i));
        a1 = _mm512_add_ps(a1, _mm512_load_ps(p + i + 16));
        a2 = _mm512_add_ps(a2, _mm512_load_ps(p + i + 32));
        a3 = _mm512_add_ps(a3, _mm512_load_ps(p + i + 48));
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

/* sum of p[0:n] (n a multiple of 64); from element nt_from on, each line is prefetched non-temporally 1 KiB
 * ahead first; reversed: back to front (no prefetch) */
static float read_span(const float *p, int64_t n, int64_t nt_from, int reversed) {
    if (reversed) return read_span_reversed(p, n);
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i < nt_from && i < n; i += 64) {
        a0 = _mm512_add_ps(a0, _mm512_load_ps(p + i));
        a1 = _mm512_add_ps(a1, _mm512_load_ps(p + i + 16));
        a2 = _mm512_add_ps(a2, _mm512_load_ps(p + i + 32));
        a3 = _mm512_add_ps(a3, _mm512_load_ps(p + i + 48));
    }
    for (; i < n; i += 64) {
        _mm_prefetch((const char *)(p + i + 256), _MM_HINT_NTA);
        _mm_prefetch((const char *)(p + i + 272), _MM_HINT_NTA);
        _mm_prefetch((const char *)(p + i + 288), _MM_HINT_NTA);
        _mm_prefetch((const char *)(p + i + 304), _MM_HINT_NTA);
        a0 = _mm512_add_ps(a0, _mm512_load_ps(p + i));
        a1 = _mm512_add_ps(a1, _mm512_load_ps(p + i + 16));
        a2 = _mm512_add_ps(a2, _mm512_load_ps(p + i + 32));
        a3 = _mm512_add_ps(a3, _mm512_load_ps(p + i + 48));
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

float stream_1core(const float *buf, int64_t n, int64_t nt_bytes, int zigzag, int reps, double *times_ns) {
    float s = 0;
    const int64_t nt_from = n - nt_bytes / 4;
    for (int r = 0; r < reps; r++) {
        const double t0 = now_ns();
        s += read_span(buf, n, nt_from, zigzag && (r & 1));
        times_ns[r] = now_ns() - t0;
    }
    return s;
}

typedef struct {
    const float *p;
    int64_t n, nt_from;
    int zigzag, reps;
    atomic_int go, done;
    float sum;
} worker_job;

static void *worker(void *arg) {
    worker_job *job = arg;
    pin(1);
    float s = 0;
    for (int r = 1; r <= job->reps; r++) {
        while (atomic_load_explicit(&job->go, memory_order_acquire) < r) _mm_pause();
        s += read_span(job->p, job->n, job->nt_from, job->zigzag && (r & 1));
        atomic_store_explicit(&job->done, r, memory_order_release);
    }
    job->sum = s;
    return NULL;
}

float stream_2cores(const float *buf, int64_t n, int64_t nt_bytes, int zigzag, int reps, double *times_ns) {
    const int64_t half = n / 2 / 64 * 64;
    worker_job job = {.p = buf + half, .n = n - half, .nt_from = n - half - nt_bytes / 8, .zigzag = zigzag,
                      .reps = reps};
    atomic_init(&job.go, 0);
    atomic_init(&job.done, 0);
    cpu_set_t saved;
    pthread_getaffinity_np(pthread_self(), sizeof saved, &saved);
    pin(0);
    pthread_t th;
    pthread_create(&th, NULL, worker, &job);
    float s = 0;
    for (int r = 1; r <= reps; r++) {
        const double t0 = now_ns();
        atomic_store_explicit(&job.go, r, memory_order_release);
        s += read_span(buf, half, half - nt_bytes / 8, zigzag && (r & 1));
        while (atomic_load_explicit(&job.done, memory_order_acquire) < r) _mm_pause();
        times_ns[r - 1] = now_ns() - t0;
    }
    pthread_join(th, NULL);
    pthread_setaffinity_np(pthread_self(), sizeof saved, &saved);
    return s + job.sum;
}

/* seconds per repetition of n_iter x 16 independent 16-lane FMAs on one core; the sum is written to sink */
float fma_peak(int64_t n_iter, int reps, double *times_ns) {
    __m512 acc[16];
    const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(1e-6f);
    for (int i = 0; i < 16; i++) acc[i] = _mm512_set1_ps((float)i);
    for (int r = 0; r < reps; r++) {
        const double t0 = now_ns();
        for (int64_t it = 0; it < n_iter; it++) {
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
        }
        times_ns[r] = now_ns() - t0;
    }
    __m512 s = acc[0];
    for (int i = 1; i < 16; i++) s = _mm512_add_ps(s, acc[i]);
    return _mm512_reduce_add_ps(s);
}
