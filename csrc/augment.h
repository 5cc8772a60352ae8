/* Image augmentation kernels: counter-based random numbers, per-image affine matrices, one bilinear warp per
 * image, additive Gaussian noise. Images are (n, h, w, c) C-contiguous (c = 1 for grey images and for rows
 * that hold h*w pixels). */
#ifndef FNN_AUGMENT_H
#define FNN_AUGMENT_H
#include <stdint.h>

/* fill modes of the warp: what a bilinear tap outside the image reads */
enum fnn_fill_mode { FNN_FILL_CONSTANT = 0, FNN_FILL_NEAREST = 1, FNN_FILL_REFLECT = 2 };

/* geometric ops of an augmentation program (one row of 4 doubles of parameters each) */
enum fnn_aug_op {
    FNN_AUG_ROTATE = 1, /* params: lo_degrees, hi_degrees */
    FNN_AUG_FLIP = 2,   /* params: horizontal (0/1), vertical (0/1), p */
    FNN_AUG_ZOOM = 3,   /* params: lo_factor, hi_factor */
    FNN_AUG_SHIFT = 4   /* params: max_dx_pixels, max_dy_pixels */
};

/* Additive Gaussian noise: image i of a call gets clip(x + std * z), z from the stream
 * key(seed, step, index0 + i, slot) (csrc/fnn_random.h). */
typedef struct {
    double std, clip_lo, clip_hi;
    uint64_t seed, step;
    int64_t index0, slot;
} fnn_noise_spec;

/* warp_affine warps image rows[i] of x (rows NULL: image i) into out[i], and adds `noise` (NULL: none) to each
 * image right after warping it. */
#define FNN_WARP_DECL(REAL, SFX)                                                                                       \
    void warp_affine_##SFX(const REAL *x, const int64_t *rows, const double *mats, REAL *out, int64_t n, int64_t h,    \
                           int64_t w, int64_t c, int fill_mode, double fill_value, const fnn_noise_spec *noise,        \
                           int n_threads);                                                                             \
    void gaussian_noise_##SFX(const REAL *x, REAL *out, int64_t n, int64_t size, const fnn_noise_spec *noise,          \
                              int n_threads);
FNN_WARP_DECL(float, f32)
FNN_WARP_DECL(double, f64)

/* out row i = x row rows[i], for rows of row_bytes bytes (any dtype): the gather of a shuffled batch. Its rows lie
 * anywhere in x and the hardware prefetchers do not follow rows that skip, so each copy also prefetches the row
 * FNN_PREFETCH_AHEAD places ahead (a 128 x 784 float32 batch of a 160 MB x: 63 -> 34 us). */
void fnn_gather_rows(const char *x, int64_t row_bytes, const int64_t *rows, int64_t n, char *out, int n_threads);

/* Inverse maps (n, 6) of a random augmentation program; doubles only (a few per image, serial). */
void augment_matrices(const int32_t *codes, const double *params, const int64_t *slots, int64_t n_ops, uint64_t seed,
                      uint64_t step, int64_t index0, int64_t n, int64_t h, int64_t w, double *mats_out);
/* Exposed for tests and the numpy reference: the counter-based generator (csrc/fnn_random.h). */
uint64_t fnn_stream_key(uint64_t seed, uint64_t step, uint64_t index, uint64_t slot);
uint64_t fnn_random_bits(uint64_t key, uint64_t counter);
double fnn_uniform(uint64_t key, uint64_t counter);
double fnn_normal_value(uint64_t key, uint64_t counter);
/* The (degree + 1, 32) float coefficients of normal()'s per-octave polynomials (csrc/fnn_normal_poly.h). */
void fnn_normal_poly_coefficients(float *out);
/* The best SIMD build of the warp and noise this CPU runs (0 portable, 1 AVX2, 2 AVX-512), and a cap on the
 * level used (for tests and benchmarks): fnn_simd_available / fnn_simd_set_cap of fnn_simd.h. */
int fnn_simd_available(void);
void fnn_simd_set_cap(int max_level);
#endif
