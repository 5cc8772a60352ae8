/* What entering an OpenMP region costs when it runs on one thread (csrc/fnn_common.h FNN_THREADED): the same tiny
 * loop called 2,000,000 times in a `parallel for ... if (0)` region (libgomp still builds and frees a team of one),
 * with a dynamic schedule as gemm's, and with no region at all; also an aligned_alloc + free of gemm's packing
 * block (409,600 bytes), for scale.
 *
 *     gcc -O2 -fopenmp bench/omp_region_cost.c -o /tmp/omp_region_cost && /tmp/omp_region_cost
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static volatile double sink;

__attribute__((noinline)) static void region_static(int nt, const double *x) {
    double s = 0;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1) reduction(+ : s)
    for (int i = 0; i < 8; i++) s += x[i];
    sink = s;
}

__attribute__((noinline)) static void region_dynamic(int nt, const double *x) {
    double s = 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (nt > 1) reduction(+ : s)
    for (int i = 0; i < 8; i++) s += x[i];
    sink = s;
}

__attribute__((noinline)) static void no_region(const double *x) {
    double s = 0;
    for (int i = 0; i < 8; i++) s += x[i];
    sink = s;
}

int main(void) {
    const double x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const int n = 2000000;
    region_static(2, x); /* start the pool, as a process that trained on two threads has */
    double t = now();
    for (int i = 0; i < n; i++) region_static(1, x);
    const double a = now() - t;
    t = now();
    for (int i = 0; i < n; i++) region_dynamic(1, x);
    const double d = now() - t;
    t = now();
    for (int i = 0; i < n; i++) no_region(x);
    const double b = now() - t;
    t = now();
    for (int i = 0; i < n; i++) {
        void *p = aligned_alloc(64, 409600);
        ((volatile char *)p)[0] = 1;
        free(p);
    }
    const double c = now() - t;
    printf("one-thread region, static: %.0f ns; dynamic: %.0f ns; no region: %.0f ns; 400 KB alloc + free: %.0f ns\n",
           a / n * 1e9, d / n * 1e9, b / n * 1e9, c / n * 1e9);
    return 0;
}
