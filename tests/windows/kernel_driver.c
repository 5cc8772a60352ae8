/* The bitwise kernel families (augment, optim: csrc/fnn_simd.h's fp-contract policy) on fixed inputs, every output
 * written to the file argv[1], once per SIMD level cap 0, 1, 2 (blocks of equal size); argv[2] is the thread count
 * the kernels are given. tests/test_windows_build.py builds it for Windows (the kernels compiled by clang-cl, run
 * under Wine) and for Linux (gcc, setup.py's flags, OpenMP) and compares the files byte for byte. The inputs are
 * made here with integer arithmetic only, and the scalars the kernels take are literals, so nothing but the
 * kernels (and augment_matrices' sin and cos) can differ between the two C runtimes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "augment.h"
#include "optim.h"

#define N_IMG 5
#define N_SRC 7
#define H 13
#define W 17
#define C 3
#define N_PAR 1000

static FILE *out_file;
static uint64_t rng_state = 0x243F6A8885A308D3ULL;

static void emit(const void *p, size_t bytes) {
    fwrite(p, 1, bytes, out_file);
}

/* a multiple of 2^-24 in [lo, lo + span): exact in float and double */
static double next_value(double lo, double span) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return lo + span * (double)(z >> 40) / 16777216.0;
}

static void emit_matrices(double *mats) {
    const int32_t codes[4] = {FNN_AUG_ROTATE, FNN_AUG_FLIP, FNN_AUG_ZOOM, FNN_AUG_SHIFT};
    const double params[16] = {-30, 30, 0, 0, 1, 1, 0.5, 0, 0.8, 1.25, 0, 0, 3, 2, 0, 0};
    const int64_t slots[4] = {0, 1, 2, 3};
    augment_matrices(codes, params, slots, 4, 7, 3, 11, N_IMG, H, W, mats);
    emit(mats, N_IMG * 6 * sizeof(double));
}

#define AUGMENT_RUN(REAL, SFX)                                                                                         \
    static void augment_##SFX(const double *mats, int n_threads) {                                                     \
        static REAL x[N_SRC * H * W * C], y[N_IMG * H * W * C];                                                        \
        const int64_t rows[N_IMG] = {6, 0, 3, 2, 5};                                                                   \
        for (int64_t i = 0; i < N_SRC * H * W * C; i++) x[i] = (REAL)next_value(-1.0, 2.0);                            \
        for (int c = 1; c <= C; c += C - 1)                                                                            \
            for (int fill = FNN_FILL_CONSTANT; fill <= FNN_FILL_REFLECT; fill++) {                                     \
                const fnn_noise_spec noise = {0.3, -0.75, 0.875, 5, 9, 2, 1};                                          \
                warp_affine_##SFX(x, fill == FNN_FILL_NEAREST ? NULL : rows, mats, y, N_IMG, H, W, c, fill, 0.25,      \
                                  c == 1 ? &noise : NULL, n_threads);                                                  \
                emit(y, N_IMG * H * W * (size_t)c * sizeof(REAL));                                                     \
            }                                                                                                          \
        const fnn_noise_spec noise = {0.5, -0.5, 0.75, 3, 4, 0, 0};                                                    \
        gaussian_noise_##SFX(x, y, N_IMG, H * W * C, &noise, n_threads);                                               \
        emit(y, N_IMG * H * W * C * sizeof(REAL));                                                                     \
    }
AUGMENT_RUN(float, f32)
AUGMENT_RUN(double, f64)

/* Three steps of every optimizer over two segments (different hyperparameters), clipped by scale then by value. */
#define OPTIM_RUN(REAL, SFX)                                                                                           \
    static void optim_##SFX(int n_threads) {                                                                           \
        static REAL g[N_PAR], p[N_PAR], s1[N_PAR], s2[N_PAR], s3[N_PAR];                                               \
        const int64_t seg[3] = {0, 600, N_PAR};                                                                        \
        double block[1];                                                                                               \
        for (int opt = 0; opt < 5; opt++) {                                                                            \
            for (int i = 0; i < N_PAR; i++) {                                                                          \
                p[i] = (REAL)next_value(-1.0, 2.0);                                                                    \
                s1[i] = s2[i] = s3[i] = 0;                                                                             \
            }                                                                                                          \
            for (int t = 0; t < 3; t++) {                                                                              \
                for (int i = 0; i < N_PAR; i++) g[i] = (REAL)next_value(-0.125, 0.25);                                 \
                const int mode = t == 1 ? FNN_CLIP_VALUE : FNN_CLIP_SCALE;                                             \
                const double scales[2] = {0.875, 0.875}, bounds[2] = {-0.05, 0.05};                                    \
                const double *arg = t == 1 ? bounds : scales; /* the clip constants: [lo, hi] or one per segment */    \
                int64_t clamped = 0;                                                                                   \
                if (opt == 0) {                                                                                        \
                    const double hp[2][FNN_SGD_HP] = {{0.1, 0.01, 0.9, 1.0, 1.0, t == 0},                              \
                                                      {0.05, 0, 0.5, 0.75, 0, t == 0}};                                \
                    clamped = sgd_step_##SFX(g, seg, &hp[0][0], p, s1, 2, mode, arg, n_threads);                       \
                } else if (opt == 1) {                                                                                 \
                    const double hp[2][FNN_ADAGRAD_HP] = {{0.1, 0.01, 1e-10}, {0.05, 0, 1e-8}};                        \
                    clamped = adagrad_step_##SFX(g, seg, &hp[0][0], p, s1, 2, mode, arg, n_threads);                   \
                } else if (opt == 2) {                                                                                 \
                    const double hp[2][FNN_RMSPROP_HP] = {{0.01, 0.01, 0.99, 1e-8, 0.9, 1},                            \
                                                          {0.02, 0, 0.9, 1e-6, 0, 0}};                                 \
                    clamped = rmsprop_step_##SFX(g, seg, &hp[0][0], p, s1, s2, s3, 2, mode, arg, n_threads);           \
                } else if (opt == 3) {                                                                                 \
                    const double hp[2][FNN_ADADELTA_HP] = {{1.0, 0.01, 0.9, 1e-6}, {0.5, 0, 0.95, 1e-5}};              \
                    clamped = adadelta_step_##SFX(g, seg, &hp[0][0], p, s1, s2, 2, mode, arg, n_threads);              \
                } else {                                                                                               \
                    const double hp[2][FNN_ADAM_HP] = {{0.001, 0.01, 1.0, 0.9, 0.999, 1e-8, 0.0625, 1},                \
                                                       {0.002, 0, 0.999, 0.8, 0.99, 1e-6, 0.25, 0}};                   \
                    clamped = adam_step_##SFX(g, seg, &hp[0][0], p, s1, s2, s3, 2, mode, arg, n_threads);              \
                }                                                                                                      \
                emit(&clamped, sizeof clamped);                                                                        \
            }                                                                                                          \
            emit(p, sizeof p);                                                                                         \
            emit(s1, sizeof s1);                                                                                       \
            emit(s2, sizeof s2);                                                                                       \
            emit(s3, sizeof s3);                                                                                       \
        }                                                                                                              \
        const double norm2 = sumsq_##SFX(g, block, N_PAR, n_threads);                                                  \
        emit(&norm2, sizeof norm2);                                                                                    \
    }
OPTIM_RUN(float, f32)
OPTIM_RUN(double, f64)

int main(int argc, char **argv) {
    if (argc != 3 || (out_file = fopen(argv[1], "wb")) == NULL) return 2;
    const int n_threads = atoi(argv[2]);
    double mats[N_IMG * 6];
    for (int cap = 0; cap <= 2; cap++) {
        rng_state = 0x243F6A8885A308D3ULL;
        fnn_simd_set_cap(cap);
        emit_matrices(mats);
        augment_f32(mats, n_threads);
        augment_f64(mats, n_threads);
        optim_f32(n_threads);
        optim_f64(n_threads);
    }
    printf("simd level %d\n", fnn_simd_available());
    return fclose(out_file) == 0 ? 0 : 1;
}
