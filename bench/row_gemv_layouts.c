/* The layout a batch-1 GEMV that skips zero inputs should read (bench/row_gemv_layouts.py compiles and runs
 * this; the design study behind csrc/infer_tmpl.h's row GEMV, bench/RESULTS.md "Session 2026-11-30 (fifth)").
 * 784-512-256-10 (the head padded to 16), float32, AVX-512 vectors (GCC vector extensions), one thread, random
 * weights; the input is each of the 200 images in argv[1] (raw uint8, 784 per image) / 255 in turn, then one
 * random dense row. Kernels (each reads its own copy of the weights):
 *   E  the dense panel tile (32-column panels, 4 FMA chains over k mod 4, a 2 KiB prefetch): reads every row;
 *   A  panels, 4 lists of nonzero k (k mod 4) in lockstep, a prefetch 8 entries ahead;
 *   B  panels, one list, the chains by position in it;
 *   C  a copy of W in 256-column blocks (in, 256), one list, 16 accumulators;
 *   D  the plain (in, out) W in 256-column chunks, one list, 16 accumulators.
 * Prints the best of 7 repeats of 2000 calls, us per call. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <stdint.h>
typedef float V __attribute__((vector_size(64)));
#define P 32
#define WB 256
static double now() {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}
static void store(const V *a, int nv, const float *b, float *y, int nc, int relu) {
    float t[WB];
    for (int v = 0; v < nv; v++) *(V *)(t + 16 * v) = a[v];
    for (int j = 0; j < nc; j++) y[j] = relu && t[j] < 0 ? 0 : t[j];
}
/* the k of the nonzero x[k], in order; returns how many */
static int nonzero_list(const float *x, int in, int32_t *idx) {
    int n = 0;
    for (int k = 0; k < in; k++) {
        idx[n] = k;
        n += x[k] != 0;
    }
    return n;
}
/* chain 0 starts at the bias, chains 1-3 at 0 */
static inline void panel_init(V *a, const float *b) {
    for (int v = 2; v < 8; v++) a[v] = (V){0};
    a[0] = *(const V *)b;
    a[1] = *(const V *)(b + 16);
}
/* a panel row (P floats) times x[k] into chain accumulators a[0], a[1] */
static inline void fma_panel_row(V *a, float xk, const float *row) {
    a[0] += xk * (*(const V *)row);
    a[1] += xk * (*(const V *)(row + 16));
}
/* the 4 chains of a panel tile (a[2c], a[2c+1]) summed, then stored */
static void reduce_store(V *a, const float *b, float *y, int nc, int relu) {
    a[0] += a[4];
    a[2] += a[6];
    a[1] += a[5];
    a[3] += a[7];
    a[0] += a[2];
    a[1] += a[3];
    store(a, 2, b, y, nc, relu);
}
__attribute__((noinline)) static void E_dense(const float *W, const float *b, const float *x, float *y, int in, int out,
                                              int relu) {
    int np = (out + P - 1) / P;
    for (int p = 0; p < np; p++) {
        const float *pan = W + (int64_t)p * in * P;
        V a[8];
        panel_init(a, b + p * P);
        int k = 0;
        for (; k + 4 <= in; k += 4) {
            for (int c = 0; c < 4; c++) __builtin_prefetch((const char *)(pan + k * P) + 2048 + 64 * c);
            for (int c = 0; c < 4; c++) {
                float xc = x[k + c];
                fma_panel_row(a + 2 * c, xc, pan + (k + c) * P);
            }
        }
        for (; k < in; k++) {
            fma_panel_row(a, x[k], pan + k * P);
        }
        reduce_store(a, b, y + p * P, out - p * P < P ? out - p * P : P, relu);
    }
}
__attribute__((noinline)) static void A_lists(const float *W, const float *b, const float *x, float *y, int in, int out,
                                              int relu) {
    int32_t idx[4][1100];
    int n[4] = {0, 0, 0, 0};
    int main_ = in - in % 4;
    for (int k = 0; k < main_; k += 4)
        for (int c = 0; c < 4; c++) {
            idx[c][n[c]] = k + c;
            n[c] += x[k + c] != 0;
        }
    for (int k = main_; k < in; k++) {
        idx[0][n[0]] = k;
        n[0] += x[k] != 0;
    }
    int m = n[0];
    for (int c = 1; c < 4; c++)
        if (n[c] < m) m = n[c];
    int np = (out + P - 1) / P;
    for (int p = 0; p < np; p++) {
        const float *pan = W + (int64_t)p * in * P;
        V a[8];
        panel_init(a, b + p * P);
        for (int i = 0; i < m; i++) {
            if (i + 8 < m)
                for (int c = 0; c < 4; c++) {
                    const char *r = (const char *)(pan + idx[c][i + 8] * P);
                    __builtin_prefetch(r);
                    __builtin_prefetch(r + 64);
                }
            for (int c = 0; c < 4; c++) {
                int k = idx[c][i];
                float xc = x[k];
                fma_panel_row(a + 2 * c, xc, pan + k * P);
            }
        }
        for (int c = 0; c < 4; c++)
            for (int i = m; i < n[c]; i++) {
                int k = idx[c][i];
                float xc = x[k];
                fma_panel_row(a + 2 * c, xc, pan + k * P);
            }
        reduce_store(a, b, y + p * P, out - p * P < P ? out - p * P : P, relu);
    }
}
__attribute__((noinline)) static void B_poslist(const float *W, const float *b, const float *x, float *y, int in,
                                                int out, int relu) {
    int32_t idx[1100];
    const int n = nonzero_list(x, in, idx);
    int np = (out + P - 1) / P;
    for (int p = 0; p < np; p++) {
        const float *pan = W + (int64_t)p * in * P;
        V a[8];
        panel_init(a, b + p * P);
        int i = 0;
        for (; i + 4 <= n; i += 4) {
            for (int c = 0; c < 4; c++) {
                int k = idx[i + c];
                float xc = x[k];
                fma_panel_row(a + 2 * c, xc, pan + k * P);
            }
        }
        for (; i < n; i++) {
            int k = idx[i];
            fma_panel_row(a, x[k], pan + k * P);
        }
        reduce_store(a, b, y + p * P, out - p * P < P ? out - p * P : P, relu);
    }
}
/* C: blocks layout (nb, in, WB); D: plain (in, out) with ld=out, chunks of WB cols. Same code with strides. */
__attribute__((noinline)) static void CD_rows(const float *W, const float *b, const float *x, float *y, int in, int out,
                                              int relu, int plain) {
    int32_t idx[1100];
    const int n = nonzero_list(x, in, idx);
    int nb = (out + WB - 1) / WB;
    for (int p = 0; p < nb; p++) {
        const float *base = plain ? W + p * WB : W + (int64_t)p * in * WB;
        int64_t ld = plain ? out : WB;
        int nc = out - p * WB < WB ? out - p * WB : WB;
        int nv = (nc + 15) / 16;
        V a[16];
        for (int v = 0; v < 16; v++) a[v] = *(V *)(b + p * WB + 16 * v);
        if (nv == 16) {
            for (int i = 0; i < n; i++) {
                int k = idx[i];
                float xc = x[k];
                const float *r = base + k * ld;
                _Pragma("GCC unroll 16") for (int v = 0; v < 16; v++) a[v] += xc * (*(V *)(r + 16 * v));
            }
        } else {
            for (int i = 0; i < n; i++) {
                int k = idx[i];
                float xc = x[k];
                const float *r = base + k * ld;
                for (int v = 0; v < nv; v++) a[v] += xc * (*(V *)(r + 16 * v));
            }
        }
        store(a, nv, b, y + p * WB, nc, relu);
    }
}
int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s IMAGES.u8\n", argv[0]);
        return 2;
    }
    int sz[4] = {784, 512, 256, 16};
    float *Wp[3], *Wb[3], *Wr[3], *B[3];
    srand(1);
    for (int l = 0; l < 3; l++) {
        int np = (sz[l + 1] + P - 1) / P, nb = (sz[l + 1] + WB - 1) / WB;
        Wp[l] = aligned_alloc(64, (size_t)np * sz[l] * P * 4);
        Wb[l] = aligned_alloc(64, (size_t)nb * sz[l] * WB * 4);
        Wr[l] = aligned_alloc(64, (size_t)sz[l] * sz[l + 1] * 4);
        for (int64_t i = 0; i < (int64_t)np * sz[l] * P; i++) Wp[l][i] = ((rand() / (float)RAND_MAX) - 0.5f) * 0.1f;
        for (int64_t i = 0; i < (int64_t)nb * sz[l] * WB; i++) Wb[l][i] = ((rand() / (float)RAND_MAX) - 0.5f) * 0.1f;
        for (int64_t i = 0; i < (int64_t)sz[l] * sz[l + 1]; i++) Wr[l][i] = ((rand() / (float)RAND_MAX) - 0.5f) * 0.1f;
        B[l] = aligned_alloc(64, 1024 * 4);
        for (int i = 0; i < 1024; i++) B[l][i] = (l == 0 ? -0.02f : -0.05f) * (rand() % 3);
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    static unsigned char u[200 * 784];
    fread(u, 1, 200 * 784, f);
    fclose(f);
    static float X[201][784];
    for (int i = 0; i < 200; i++)
        for (int j = 0; j < 784; j++) X[i][j] = u[i * 784 + j] / 255.f;
    for (int j = 0; j < 784; j++) X[200][j] = (rand() / (float)RAND_MAX) - 0.5f;
    const char *names = "EABCD";
    float h1[512], h2[256], o[16];
    volatile float sink = 0;
    for (int dense = 0; dense < 2; dense++) {
        printf(dense ? "gaussian input:" : "fashion images:");
        for (int mode = 0; mode < 5; mode++) {
            double best = 1e9;
            for (int rep = 0; rep < 7; rep++) {
                double t0 = now();
                int N = 2000;
                for (int it = 0; it < N; it++) {
                    const float *x = dense ? X[200] : X[it % 200];
                    switch (mode) {
                    case 0:
                        E_dense(Wp[0], B[0], x, h1, 784, 512, 1);
                        E_dense(Wp[1], B[1], h1, h2, 512, 256, 1);
                        E_dense(Wp[2], B[2], h2, o, 256, 16, 0);
                        break;
                    case 1:
                        A_lists(Wp[0], B[0], x, h1, 784, 512, 1);
                        A_lists(Wp[1], B[1], h1, h2, 512, 256, 1);
                        A_lists(Wp[2], B[2], h2, o, 256, 16, 0);
                        break;
                    case 2:
                        B_poslist(Wp[0], B[0], x, h1, 784, 512, 1);
                        B_poslist(Wp[1], B[1], h1, h2, 512, 256, 1);
                        B_poslist(Wp[2], B[2], h2, o, 256, 16, 0);
                        break;
                    case 3:
                        CD_rows(Wb[0], B[0], x, h1, 784, 512, 1, 0);
                        CD_rows(Wb[1], B[1], h1, h2, 512, 256, 1, 0);
                        CD_rows(Wb[2], B[2], h2, o, 256, 16, 0, 0);
                        break;
                    case 4:
                        CD_rows(Wr[0], B[0], x, h1, 784, 512, 1, 1);
                        CD_rows(Wr[1], B[1], h1, h2, 512, 256, 1, 1);
                        CD_rows(Wr[2], B[2], h2, o, 256, 16, 0, 1);
                        break;
                    }
                    sink += o[it & 7];
                }
                double t = (now() - t0) / N * 1e6;
                if (t < best) best = t;
            }
            printf("  %c %.2f", names[mode], best);
        }
        printf("\n");
    }
}
