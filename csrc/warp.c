/* Augmentation kernels (see warp.h): the counter-based generator, the per-image matrices, and the f32/f64
 * instantiations of warp_tmpl.h (bilinear affine warp, Gaussian noise).
 *
 * Random numbers. Every random quantity is a pure function of (seed, step, image index, op slot, counter):
 *   mix64(z)                 splitmix64's finaliser (a bijection on 64-bit words)
 *   absorb(k, v)             mix64(k ^ mix64(v + G)),             G = 0x9E3779B97F4A7C15
 *   key(seed, step, i, slot) absorb(absorb(absorb(mix64(seed + G), step), i), slot)
 *   bits(key, j)             mix64(key + (j + 1) * G)             (splitmix64's j-th output from state key)
 *   uniform(key, j)          (bits >> 11) * 2^-53                 in [0, 1)
 *   noise_hash(key, j)       fmix32((j ^ lo32(key)) + hi32(key))   (murmur3's 32-bit finaliser; all 64 key
 *                            bits select the stream, and two images share inputs only if both halves of
 *                            their keys do. 32-bit multiplies vectorize, 64-bit ones do not before AVX-512)
 *   normal(key, j)           float32, inverse-CDF method on h = noise_hash(key, j): bit 31 is the sign, bits
 *                            0..30 give t = |u - 1/2| = b 2^-32 in [0, 1/2), and z = Phi^-1(1/2 + t) by linear
 *                            interpolation z = val[i] + f slope[i] in a float table with knots every 2^-12 for
 *                            t < 31/64 (i = b >> 20, f = (b & 0xFFFFF) 2^-20) and every 2^-17 up to
 *                            1/2 - 2^-10 (i = 1984 + ((b - 31/64 2^32) >> 15), f = (b & 0x7FFF) 2^-15): error
 *                            below 1e-5 (sigma units); the last 0.2% (t >= 1/2 - 2^-10) use Wichura's AS241
 *                            PPND16 rounded to float. |z| <= 6.23. The 31 KB table stays in L1; it is built
 *                            from AS241 when the library loads.
 * No generator state is carried between images, so the result never depends on how images are split between
 * threads. fastnn/_reference/augment.py mirrors all of it in Python/numpy.
 */
#include <stdlib.h>
#include <string.h>

#include "warp.h"
#include "fnn_common.h"

#define FNN_G 0x9E3779B97F4A7C15ULL
/* Helpers of the warp are force-inlined: GCC does not inline plain functions into the AVX2 clone (different
 * target options), and a call per pixel would cost more than the pixel. */
#define FNN_INLINE __attribute__((always_inline))

static inline FNN_INLINE uint64_t fnn_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static inline FNN_INLINE uint64_t fnn_absorb(uint64_t k, uint64_t v) { return fnn_mix64(k ^ fnn_mix64(v + FNN_G)); }

static inline FNN_INLINE uint64_t fnn_key(uint64_t seed, uint64_t step, uint64_t index, uint64_t slot) {
    return fnn_absorb(fnn_absorb(fnn_absorb(fnn_mix64(seed + FNN_G), step), index), slot);
}

static inline FNN_INLINE uint64_t fnn_bits(uint64_t key, uint64_t j) { return fnn_mix64(key + (j + 1) * FNN_G); }

static inline FNN_INLINE double fnn_unit(uint64_t key, uint64_t j) {
    return (double)(int64_t)(fnn_bits(key, j) >> 11) * 0x1.0p-53; /* signed: x86 converts it in one step */
}


/* Inverse of the standard normal CDF, Wichura (1988) AS241 PPND16, for 0 < p < 1. */
static inline FNN_INLINE double fnn_ppf(double p) {
    double q = p - 0.5, r, val;
    if (fabs(q) <= 0.425) {
        r = 0.180625 - q * q;
        return q * (((((((2.5090809287301226727e+3 * r + 3.3430575583588128105e+4) * r + 6.7265770927008700853e+4) * r
                        + 4.5921953931549871457e+4) * r + 1.3731693765509461125e+4) * r + 1.9715909503065514427e+3) * r
                     + 1.3314166789178437745e+2) * r + 3.3871328727963666080e+0)
               / (((((((5.2264952788528545610e+3 * r + 2.8729085735721942674e+4) * r + 3.9307895800092710610e+4) * r
                      + 2.1213794301586595867e+4) * r + 5.3941960214247511077e+3) * r + 6.8718700749205790830e+2) * r
                   + 4.2313330701600911252e+1) * r + 1.0);
    }
    r = q < 0 ? p : 1.0 - p;
    r = sqrt(-log(r));
    if (r <= 5.0) {
        r -= 1.6;
        val = (((((((7.74545014278341407640e-4 * r + 2.27238449892691845833e-2) * r + 2.41780725177450611770e-1) * r
                   + 1.27045825245236838258e+0) * r + 3.64784832476320460504e+0) * r + 5.76949722146069140550e+0) * r
                + 4.63033784615654529590e+0) * r + 1.42343711074968357734e+0)
              / (((((((1.05075007164441684324e-9 * r + 5.47593808499534494600e-4) * r + 1.51986665636164571966e-2) * r
                     + 1.48103976427480074590e-1) * r + 6.89767334985100004550e-1) * r + 1.67638483018380384940e+0) * r
                  + 2.05319162663775882187e+0) * r + 1.0);
    } else {
        r -= 5.0;
        val = (((((((2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) * r + 1.24266094738807843860e-3) * r
                   + 2.65321895265761230930e-2) * r + 2.96560571828504891230e-1) * r + 1.78482653991729133580e+0) * r
                + 5.46378491116411436990e+0) * r + 6.65790464350110377720e+0)
              / (((((((2.04426310338993978564e-15 * r + 1.42151175831644588870e-7) * r + 1.84631831751005468180e-5) * r
                     + 7.86869131145613259100e-4) * r + 1.48753612908506148525e-2) * r + 1.36929880922735805310e-1) * r
                  + 5.99832206555887937690e-1) * r + 1.0);
    }
    return q < 0 ? -val : val;
}

/* Normal deviates (see the top of the file): knots val[i] = Phi^-1(1/2 + t_i) rounded to float and
 * slope[i] = val[i + 1] - val[i] (exact in float: neighbours are within a factor of two), for the coarse knots
 * t_i = i 2^-12 (i < 1984) followed by the fine knots t = 31/64 + (i - 1984) 2^-17 (i < 1984 + 1920). */
#define FNN_NT_COARSE 1984          /* coarse bins: t < 31/64 */
#define FNN_NT_FINE 1920            /* fine bins: 31/64 <= t < 1/2 - 2^-10 */
#define FNN_NT_FINE_START 0x7C000000u /* 31/64 in units of 2^-32 */
#define FNN_NT_TAIL_START 0x7FC00000u /* 1/2 - 2^-10 in units of 2^-32 */
static float fnn_nt_val[FNN_NT_COARSE + FNN_NT_FINE + 1], fnn_nt_slope[FNN_NT_COARSE + FNN_NT_FINE];

__attribute__((constructor)) static void fnn_norm_table_init(void) {
    for (int i = 0; i <= FNN_NT_COARSE + FNN_NT_FINE; i++) {
        const double t = i < FNN_NT_COARSE ? (double)i * 0x1.0p-12
                                           : 31.0 / 64.0 + (double)(i - FNN_NT_COARSE) * 0x1.0p-17;
        fnn_nt_val[i] = (float)fnn_ppf(0.5 + t);
    }
    for (int i = 0; i < FNN_NT_COARSE + FNN_NT_FINE; i++) fnn_nt_slope[i] = fnn_nt_val[i + 1] - fnn_nt_val[i];
}

static inline FNN_INLINE uint32_t fnn_fmix32(uint32_t h) {
    h ^= h >> 16;
    h *= 0x85EBCA6BU;
    h ^= h >> 13;
    h *= 0xC2B2AE35U;
    return h ^ (h >> 16);
}

static inline FNN_INLINE uint32_t fnn_noise_hash(uint32_t lo, uint32_t hi, uint32_t j) {
    return fnn_fmix32((j ^ lo) + hi);
}

/* The table branch of normal(): branch-free so a loop of it vectorizes. *tail is set when h falls in the
 * tails, where the returned value is meaningless and fnn_normal_tail gives the deviate. */
static inline FNN_INLINE float fnn_normal_table(uint32_t h, int *tail) {
    const uint32_t b = h & 0x7FFFFFFFu;
    const int fine = b >= FNN_NT_FINE_START;
    *tail = b >= FNN_NT_TAIL_START;
    const int ic = (int)(b >> 20), ifn = FNN_NT_COARSE + (int)((b - FNN_NT_FINE_START) >> 15);
    const int i = fine ? (*tail ? FNN_NT_COARSE + FNN_NT_FINE - 1 : ifn) : ic;
    const int fb = fine ? (int)(b & 0x7FFFu) : (int)(b & 0xFFFFFu);
    const float scale = fine ? 0x1.0p-15f : 0x1.0p-20f;
    const float f = (float)fb * scale;
    float z = fnn_nt_val[i] + f * fnn_nt_slope[i];
    uint32_t zb;
    memcpy(&zb, &z, sizeof zb);
    zb ^= h & 0x80000000u; /* the sign, on the bit pattern (no branch, exactly a negation) */
    memcpy(&z, &zb, sizeof z);
    return z;
}

static inline FNN_INLINE float fnn_normal_tail(uint32_t h) {
    const double t = (double)(h & 0x7FFFFFFFu) * 0x1.0p-32; /* 1/2 - t is exact */
    const float z = (float)(-fnn_ppf(0.5 - t));
    return (h >> 31) ? -z : z;
}

static inline FNN_INLINE float fnn_normal(uint64_t key, uint64_t j) {
    const uint32_t h = fnn_noise_hash((uint32_t)key, (uint32_t)(key >> 32), (uint32_t)j);
    int tail;
    const float z = fnn_normal_table(h, &tail);
    return tail ? fnn_normal_tail(h) : z;
}

/* SIMD clones of the warp and the noise: level 0 portable, 1 AVX2, 2 AVX-512 (F/BW/DQ/VL); the CPU's best one
 * is used unless capped (tests compare every level: they round identically). */
static int fnn_warp_simd_cap = 2;
void fnn_warp_set_simd(int max_level) { fnn_warp_simd_cap = max_level < 0 ? 0 : max_level; }

#if defined(__x86_64__) && defined(__GNUC__)
#define FNN_X86_DISPATCH 1
/* GCC's generic tuning emulates gathers with scalar loads; the hardware gather is about twice as fast for the
 * warp's four taps (measured, bench/RESULTS.md), so the clones are tuned for CPUs with fast gathers. GCC's
 * x86-64-v4 tuning also keeps vectors at 256 bits; the warp wants all 16 lanes. */
#if defined(__clang__)
#define FNN_AVX2_TARGET __attribute__((target("avx2")))
#define FNN_AVX512_TARGET __attribute__((target("avx2,avx512f,avx512bw,avx512dq,avx512vl")))
#else
#define FNN_AVX2_TARGET __attribute__((target("avx2,tune=haswell")))
#define FNN_AVX512_TARGET \
    __attribute__((target("avx2,avx512f,avx512bw,avx512dq,avx512vl,tune=icelake-server,prefer-vector-width=512")))
#endif
int fnn_warp_simd_available(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return 2;
    return __builtin_cpu_supports("avx2") ? 1 : 0;
}
#else
#define FNN_X86_DISPATCH 0
int fnn_warp_simd_available(void) { return 0; }
#endif
static inline int fnn_warp_simd_level(void) {
    const int best = fnn_warp_simd_available();
    return best < fnn_warp_simd_cap ? best : fnn_warp_simd_cap;
}

/* Pixel tables of the single-channel fast path (warp_tmpl.h): a block of `rows` whole rows of width w, pixel k
 * at column col[k] and row row[k] of the block. One table serves every image of a call. */
#define FNN_FLAT_PIXELS 1024
typedef struct { int32_t *col, *row; int rows; } fnn_flat_tab;

static void fnn_flat_tab_init(fnn_flat_tab *t, int64_t h, int64_t w) {
    t->col = t->row = NULL;
    t->rows = 0;
    if (w > (1 << 20)) return; /* the fast path is then skipped */
    int64_t rows = FNN_FLAT_PIXELS / w;
    rows = rows < 1 ? 1 : (rows > h ? h : rows);
    const size_t npix = (size_t)(rows * w);
    t->col = (int32_t *)malloc(npix * sizeof(int32_t));
    t->row = (int32_t *)malloc(npix * sizeof(int32_t));
    if (t->col == NULL || t->row == NULL) {
        free(t->col);
        free(t->row);
        t->col = t->row = NULL;
        return;
    }
    for (size_t k = 0; k < npix; k++) {
        t->col[k] = (int32_t)(k % (size_t)w);
        t->row[k] = (int32_t)(k / (size_t)w);
    }
    t->rows = (int)rows;
}

static void fnn_flat_tab_free(fnn_flat_tab *t) {
    free(t->col);
    free(t->row);
    t->col = t->row = NULL;
}

/* Index of a bilinear tap after the fill mode, or -1 when the tap reads the constant fill value. */
static inline FNN_INLINE int64_t fnn_tap(int64_t i, int64_t n, int mode) {
    if (i >= 0 && i < n) return i;
    if (mode == FNN_FILL_NEAREST) return i < 0 ? 0 : n - 1;
    if (mode == FNN_FILL_REFLECT) { /* half-sample symmetric: (d c b a | a b c d | d c b a), period 2n */
        int64_t p = 2 * n, m = i % p;
        if (m < 0) m += p;
        return m < n ? m : p - 1 - m;
    }
    return -1;
}

static inline uint64_t fnn_noise_key(const fnn_noise_spec *s, int64_t i) {
    return fnn_key(s->seed, s->step, (uint64_t)(s->index0 + i), (uint64_t)s->slot);
}

#define FNN_TEMPLATE "warp_tmpl.h"
#include "fnn_instantiate.h"

/* sin and cos of an angle in degrees, exact at multiples of 90 so that rotations by 90/180/270 degrees map
 * pixel centres onto pixel centres exactly. */
static void fnn_sincos_deg(double deg, double *s, double *c) {
    double r = fmod(deg, 360.0);
    if (r < 0) r += 360.0;
    if (r == 0.0) { *s = 0.0; *c = 1.0; }
    else if (r == 90.0) { *s = 1.0; *c = 0.0; }
    else if (r == 180.0) { *s = 0.0; *c = -1.0; }
    else if (r == 270.0) { *s = -1.0; *c = 0.0; }
    else { double a = r * (3.14159265358979323846 / 180.0); *s = sin(a); *c = cos(a); }
}

/* M <- M @ B  for 2x2 row-major matrices */
static inline void fnn_mat2_mul(double *M, const double *B) {
    double m0 = M[0] * B[0] + M[1] * B[2], m1 = M[0] * B[1] + M[1] * B[3];
    double m2 = M[2] * B[0] + M[3] * B[2], m3 = M[2] * B[1] + M[3] * B[3];
    M[0] = m0; M[1] = m1; M[2] = m2; M[3] = m3;
}

/* codes (n_ops), params (n_ops, 4), slots (n_ops): the geometric ops of one warp, in the order they act on the
 * image. mats_out (n, 6): per image the INVERSE map from output pixel (x = column, y = row) to input position,
 *   x_in = m0 * x + m1 * y + m2,   y_in = m3 * x + m4 * y + m5.
 * Each op acts about the image centre ((w-1)/2, (h-1)/2) with y pointing down; the forward ops are
 *   rotate by theta (counter-clockwise as displayed):  x' = cos x + sin y,  y' = -sin x + cos y
 *   zoom by s (s > 1 magnifies):                       p' = s p
 *   flip horizontal / vertical:                        x' = -x / y' = -y
 *   shift by (dx, dy) pixels (dx > 0 moves right):     p' = p + (dx, dy)
 * and the inverse of their composition is accumulated as G <- G o F_k^-1, so the sampler needs no inversion. */
void augment_matrices(const int32_t *codes, const double *params, const int64_t *slots, int64_t n_ops,
                      uint64_t seed, uint64_t step, int64_t index0, int64_t n, int64_t h, int64_t w,
                      double *mats_out) {
    const double cx = 0.5 * (double)(w - 1), cy = 0.5 * (double)(h - 1);
    for (int64_t i = 0; i < n; i++) {
        double M[4] = {1.0, 0.0, 0.0, 1.0}, t[2] = {0.0, 0.0};
        for (int64_t k = 0; k < n_ops; k++) {
            const double *pa = params + 4 * k;
            uint64_t key = fnn_key(seed, step, (uint64_t)(index0 + i), (uint64_t)slots[k]);
            switch (codes[k]) {
            case FNN_AUG_ROTATE: {
                double deg = pa[0] + (pa[1] - pa[0]) * fnn_unit(key, 0), s, c;
                fnn_sincos_deg(deg, &s, &c);
                double B[4] = {c, -s, s, c};
                fnn_mat2_mul(M, B);
                break;
            }
            case FNN_AUG_FLIP: {
                double uh = fnn_unit(key, 0), uv = fnn_unit(key, 1);
                double B[4] = {(pa[0] != 0.0 && uh < pa[2]) ? -1.0 : 1.0, 0.0,
                               0.0, (pa[1] != 0.0 && uv < pa[2]) ? -1.0 : 1.0};
                fnn_mat2_mul(M, B);
                break;
            }
            case FNN_AUG_ZOOM: {
                double s = pa[0] + (pa[1] - pa[0]) * fnn_unit(key, 0), inv = 1.0 / s;
                double B[4] = {inv, 0.0, 0.0, inv};
                fnn_mat2_mul(M, B);
                break;
            }
            case FNN_AUG_SHIFT: {
                double mx = pa[2] != 0.0 ? pa[0] * (double)w : pa[0];
                double my = pa[2] != 0.0 ? pa[1] * (double)h : pa[1];
                double dx = mx * (2.0 * fnn_unit(key, 0) - 1.0), dy = my * (2.0 * fnn_unit(key, 1) - 1.0);
                /* t <- M (-d) + t */
                double t0 = t[0] - (M[0] * dx + M[1] * dy), t1 = t[1] - (M[2] * dx + M[3] * dy);
                t[0] = t0; t[1] = t1;
                break;
            }
            default: break;
            }
        }
        double *m = mats_out + 6 * i;
        m[0] = M[0]; m[1] = M[1]; m[2] = cx + t[0] - (M[0] * cx + M[1] * cy);
        m[3] = M[2]; m[4] = M[3]; m[5] = cy + t[1] - (M[2] * cx + M[3] * cy);
    }
}

uint64_t fnn_stream_key(uint64_t seed, uint64_t step, uint64_t index, uint64_t slot) {
    return fnn_key(seed, step, index, slot);
}
double fnn_uniform(uint64_t key, uint64_t counter) { return fnn_unit(key, counter); }
double fnn_norm_ppf(double p) { return fnn_ppf(p); }
double fnn_normal_value(uint64_t key, uint64_t counter) { return (double)fnn_normal(key, counter); }
