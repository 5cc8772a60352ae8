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
 *   normal(key, j)           float32, inverse-CDF method on h = noise_hash(key, j): bit 31 is the sign, and the
 *                            low 31 bits b give z = Phi^-1(1/2 + b 2^-32) = -Phi^-1(u), u = v 2^-32 with
 *                            v = 2^31 - b in [1, 2^31]. v is rounded to float, f = m 2^e (e in [0, 31], m in
 *                            [1, 2)), and z = P_e(m - 3/2) with one degree-6 polynomial per octave e
 *                            (csrc/warp_normal_poly.h, fitted by tools/gen_normal_poly.py), evaluated in float
 *                            by Horner's rule without fused multiply-adds. Error below 1.5e-6 (sigma units)
 *                            for every b; |z| <= 6.234. No table lookups in memory: in the AVX-512 build the
 *                            32-entry coefficient tables sit in registers (vpermi2ps).
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


#include "warp_normal_poly.h"

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

/* normal() from its hash (see the top of the file); branch-free, so a loop of it vectorizes. */
static inline FNN_INLINE float fnn_normal_from_hash(uint32_t h) {
    const float f = (float)(0x80000000u - (h & 0x7FFFFFFFu));
    uint32_t fb, mb, zb;
    memcpy(&fb, &f, sizeof fb);
    const int e = (int)(fb >> 23) - 127;
    mb = (fb & 0x007FFFFFu) | 0x3F800000u;
    float m, z;
    memcpy(&m, &mb, sizeof m);
    const float s = m - 1.5f;
    z = fnn_np_coef[0][e];
    for (int k = 1; k <= FNN_NP_DEGREE; k++) z = z * s + fnn_np_coef[k][e];
    memcpy(&zb, &z, sizeof zb);
    zb ^= h & 0x80000000u; /* the sign, on the bit pattern (no branch, exactly a negation) */
    memcpy(&z, &zb, sizeof z);
    return z;
}

static inline FNN_INLINE float fnn_normal(uint64_t key, uint64_t j) {
    return fnn_normal_from_hash(fnn_noise_hash((uint32_t)key, (uint32_t)(key >> 32), (uint32_t)j));
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
/* z[j] = normal() of hashes fnn_noise_hash(klo, khi, j0 + j) for j < n: the portable loop, and AVX2 and
 * AVX-512 ones whose permutes read the coefficients from registers instead of memory. Same arithmetic, same
 * results. */
static inline FNN_INLINE void fnn_normals_c(uint32_t klo, uint32_t khi, uint32_t j0, int n, float *FNN_RESTRICT z) {
    for (int j = 0; j < n; j++) z[j] = fnn_normal_from_hash(fnn_noise_hash(klo, khi, j0 + (uint32_t)j));
}

#if FNN_X86_DISPATCH
#include <immintrin.h>

/* AVX2 permutes reach 8 floats, so its registers hold the 16 octaves e >= 16 (two per coefficient) and a
 * vector with a lane in a lower octave (u < 2^-16, a chance of 8 in 2^15) takes the portable path. */
FNN_AVX2_TARGET static void fnn_normals_avx2(uint32_t klo, uint32_t khi, uint32_t j0, int n, float *z) {
    __m256 lo[FNN_NP_DEGREE + 1], hi[FNN_NP_DEGREE + 1];
    for (int k = 0; k <= FNN_NP_DEGREE; k++) {
        lo[k] = _mm256_loadu_ps(fnn_np_coef[k] + 16);
        hi[k] = _mm256_loadu_ps(fnn_np_coef[k] + 24);
    }
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i vklo = _mm256_set1_epi32((int)klo), vkhi = _mm256_set1_epi32((int)khi);
    const __m256i m1 = _mm256_set1_epi32((int)0x85EBCA6Bu), m2 = _mm256_set1_epi32((int)0xC2B2AE35u);
    const __m256i low31 = _mm256_set1_epi32(0x7FFFFFFF), sign = _mm256_set1_epi32((int)0x80000000u);
    const __m256i mant = _mm256_set1_epi32(0x007FFFFF), one = _mm256_set1_epi32(0x3F800000);
    const __m256i bias = _mm256_set1_epi32(127 + 16), low_octave = _mm256_set1_epi32(-1);
    const __m256 half3 = _mm256_set1_ps(1.5f), two31 = _mm256_set1_ps(2147483648.0f);
    for (int j = 0; j + 8 <= n; j += 8) {
        const __m256i jj = _mm256_add_epi32(_mm256_set1_epi32((int)(j0 + (uint32_t)j)), iota);
        __m256i h = _mm256_add_epi32(_mm256_xor_si256(jj, vklo), vkhi);
        h = _mm256_xor_si256(h, _mm256_srli_epi32(h, 16));
        h = _mm256_mullo_epi32(h, m1);
        h = _mm256_xor_si256(h, _mm256_srli_epi32(h, 13));
        h = _mm256_mullo_epi32(h, m2);
        h = _mm256_xor_si256(h, _mm256_srli_epi32(h, 16));
        const __m256i v = _mm256_sub_epi32(sign, _mm256_and_si256(h, low31));
        /* v < 2^31 converts exactly as signed; v = 2^31 reads as negative and is 2^31 */
        const __m256 f = _mm256_blendv_ps(_mm256_cvtepi32_ps(v), two31, _mm256_castsi256_ps(v));
        const __m256i fb = _mm256_castps_si256(f);
        const __m256i idx = _mm256_sub_epi32(_mm256_srli_epi32(fb, 23), bias); /* octave - 16 */
        if (!_mm256_testz_si256(_mm256_cmpgt_epi32(_mm256_setzero_si256(), idx), low_octave)) {
            fnn_normals_c(klo, khi, j0 + (uint32_t)j, 8, z + j);
            continue;
        }
        const __m256 upper = _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)); /* bit 3 of idx as the sign */
        const __m256 s = _mm256_sub_ps(_mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(fb, mant), one)), half3);
        __m256 acc = _mm256_blendv_ps(_mm256_permutevar8x32_ps(lo[0], idx), _mm256_permutevar8x32_ps(hi[0], idx),
                                      upper);
        for (int k = 1; k <= FNN_NP_DEGREE; k++) {
            const __m256 c = _mm256_blendv_ps(_mm256_permutevar8x32_ps(lo[k], idx),
                                              _mm256_permutevar8x32_ps(hi[k], idx), upper);
            acc = _mm256_add_ps(_mm256_mul_ps(acc, s), c);
        }
        acc = _mm256_castsi256_ps(_mm256_xor_si256(_mm256_castps_si256(acc), _mm256_and_si256(h, sign)));
        _mm256_storeu_ps(z + j, acc);
    }
    const int done = n & ~7;
    if (done < n) fnn_normals_c(klo, khi, j0 + (uint32_t)done, n - done, z + done);
}

FNN_AVX512_TARGET static void fnn_normals_avx512(uint32_t klo, uint32_t khi, uint32_t j0, int n, float *z) {
    __m512 lo[FNN_NP_DEGREE + 1], hi[FNN_NP_DEGREE + 1];
    for (int k = 0; k <= FNN_NP_DEGREE; k++) {
        lo[k] = _mm512_load_ps(fnn_np_coef[k]);
        hi[k] = _mm512_load_ps(fnn_np_coef[k] + 16);
    }
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i vklo = _mm512_set1_epi32((int)klo), vkhi = _mm512_set1_epi32((int)khi);
    const __m512i m1 = _mm512_set1_epi32((int)0x85EBCA6Bu), m2 = _mm512_set1_epi32((int)0xC2B2AE35u);
    const __m512i low31 = _mm512_set1_epi32(0x7FFFFFFF), sign = _mm512_set1_epi32((int)0x80000000u);
    const __m512i mant = _mm512_set1_epi32(0x007FFFFF), one = _mm512_set1_epi32(0x3F800000);
    const __m512i bias = _mm512_set1_epi32(127);
    const __m512 half3 = _mm512_set1_ps(1.5f);
    for (int j = 0; j < n; j += 16) {
        const __m512i jj = _mm512_add_epi32(_mm512_set1_epi32((int)(j0 + (uint32_t)j)), iota);
        __m512i h = _mm512_add_epi32(_mm512_xor_si512(jj, vklo), vkhi); /* fmix32((j ^ lo) + hi) */
        h = _mm512_xor_si512(h, _mm512_srli_epi32(h, 16));
        h = _mm512_mullo_epi32(h, m1);
        h = _mm512_xor_si512(h, _mm512_srli_epi32(h, 13));
        h = _mm512_mullo_epi32(h, m2);
        h = _mm512_xor_si512(h, _mm512_srli_epi32(h, 16));
        const __m512i v = _mm512_sub_epi32(sign, _mm512_and_si512(h, low31)); /* 2^31 - b, as unsigned */
        const __m512i fb = _mm512_castps_si512(_mm512_cvtepu32_ps(v));
        const __m512i e = _mm512_sub_epi32(_mm512_srli_epi32(fb, 23), bias);
        const __m512 s = _mm512_sub_ps(_mm512_castsi512_ps(_mm512_or_si512(_mm512_and_si512(fb, mant), one)), half3);
        __m512 acc = _mm512_permutex2var_ps(lo[0], e, hi[0]);
        for (int k = 1; k <= FNN_NP_DEGREE; k++) /* multiply, then add: two roundings, as in the C loop */
            acc = _mm512_add_ps(_mm512_mul_ps(acc, s), _mm512_permutex2var_ps(lo[k], e, hi[k]));
        acc = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(acc), _mm512_and_si512(h, sign)));
        const __mmask16 keep = n - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - j)) - 1u);
        _mm512_mask_storeu_ps(z + j, keep, acc);
    }
}
#endif

#if FNN_X86_DISPATCH
/* The float32 padded-image block loop of warp_tmpl.h (block_padded) for AVX-512, by hand: the same operations
 * in the same order (so the same roundings; tests compare every level bitwise), with floor as one rounding
 * instruction instead of truncate-and-fix, and each row's two taps as one 64-bit gather. GCC's vectorization
 * of the C loop needs about 1.4x the instructions. */
FNN_AVX512_TARGET static void fnn_block_padded_avx512_f32(
        const float *padded, float *out, const int32_t *tcol, const int32_t *trow, int npix, int r0,
        const float *mm, int wi, int hi_, int pad, float fill, int check_outside) {
    const int st = wi + 2 * pad;
    const __m512 m0 = _mm512_set1_ps(mm[0]), m1 = _mm512_set1_ps(mm[1]), m2 = _mm512_set1_ps(mm[2]);
    const __m512 m3 = _mm512_set1_ps(mm[3]), m4 = _mm512_set1_ps(mm[4]), m5 = _mm512_set1_ps(mm[5]);
    const __m512 one = _mm512_set1_ps(1.0f), minus_one = _mm512_set1_ps(-1.0f);
    const __m512 wr = _mm512_set1_ps((float)wi), hr = _mm512_set1_ps((float)hi_), vfill = _mm512_set1_ps(fill);
    const __m512i vr0 = _mm512_set1_epi32(r0), vst = _mm512_set1_epi32(st);
    const __m512i lo_clamp = _mm512_set1_epi32(-pad);
    const __m512i xmax = _mm512_set1_epi32(wi + pad - 2), ymax = _mm512_set1_epi32(hi_ + pad - 2);
    const __m512i origin = _mm512_set1_epi32(pad * st + pad); /* index of pixel (0, 0) in the padded copy */
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    for (int k = 0; k < npix; k += 16) {
        const __mmask16 live = npix - k >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (npix - k)) - 1u);
        const __m512 cf = _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(live, tcol + k));
        const __m512 rf = _mm512_cvtepi32_ps(_mm512_add_epi32(vr0, _mm512_maskz_loadu_epi32(live, trow + k)));
        const __m512 xs = _mm512_add_ps(_mm512_mul_ps(m0, cf), _mm512_add_ps(_mm512_mul_ps(m1, rf), m2));
        const __m512 ys = _mm512_add_ps(_mm512_mul_ps(m3, cf), _mm512_add_ps(_mm512_mul_ps(m4, rf), m5));
        const __m512 x0f = _mm512_roundscale_ps(xs, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
        const __m512 y0f = _mm512_roundscale_ps(ys, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
        const __m512 fx = _mm512_sub_ps(xs, x0f), fy = _mm512_sub_ps(ys, y0f);
        const __m512 gx = _mm512_sub_ps(one, fx), gy = _mm512_sub_ps(one, fy);
        const __mmask16 sx = _mm512_cmp_ps_mask(xs, x0f, _CMP_GT_OQ), sy = _mm512_cmp_ps_mask(ys, y0f, _CMP_GT_OQ);
        const __m512i cx = _mm512_min_epi32(_mm512_max_epi32(_mm512_cvttps_epi32(x0f), lo_clamp), xmax);
        const __m512i cy = _mm512_min_epi32(_mm512_max_epi32(_mm512_cvttps_epi32(y0f), lo_clamp), ymax);
        const __m512i i00 = _mm512_add_epi32(_mm512_add_epi32(_mm512_mullo_epi32(cy, vst), cx), origin);
        const __m512i i10 = _mm512_mask_add_epi32(i00, sy, i00, vst);
        /* (p[i], p[i + 1]) pairs, 8 lanes per 64-bit gather, then split into left and right taps */
        const __m512 t_lo = _mm512_castsi512_ps(_mm512_i32gather_epi64(_mm512_castsi512_si256(i00), padded, 4));
        const __m512 t_hi = _mm512_castsi512_ps(_mm512_i32gather_epi64(_mm512_extracti64x4_epi64(i00, 1), padded, 4));
        const __m512 b_lo = _mm512_castsi512_ps(_mm512_i32gather_epi64(_mm512_castsi512_si256(i10), padded, 4));
        const __m512 b_hi = _mm512_castsi512_ps(_mm512_i32gather_epi64(_mm512_extracti64x4_epi64(i10, 1), padded, 4));
        const __m512 p00 = _mm512_permutex2var_ps(t_lo, even, t_hi), p01 = _mm512_permutex2var_ps(t_lo, odd, t_hi);
        const __m512 p10 = _mm512_permutex2var_ps(b_lo, even, b_hi), p11 = _mm512_permutex2var_ps(b_lo, odd, b_hi);
        const __m512 lt = _mm512_add_ps(_mm512_mul_ps(gx, p00), _mm512_mul_ps(fx, p01));
        const __m512 lb = _mm512_add_ps(_mm512_mul_ps(gx, p10), _mm512_mul_ps(fx, p11));
        const __m512 top = _mm512_mask_blend_ps(sx, p00, lt), bot = _mm512_mask_blend_ps(sx, p10, lb);
        const __m512 lv = _mm512_add_ps(_mm512_mul_ps(gy, top), _mm512_mul_ps(fy, bot));
        __m512 v = _mm512_mask_blend_ps(sy, top, lv);
        if (check_outside) {
            const __mmask16 outside = _mm512_cmp_ps_mask(xs, minus_one, _CMP_LE_OQ) |
                                      _mm512_cmp_ps_mask(ys, minus_one, _CMP_LE_OQ) |
                                      _mm512_cmp_ps_mask(xs, wr, _CMP_GE_OQ) | _mm512_cmp_ps_mask(ys, hr, _CMP_GE_OQ);
            v = _mm512_mask_blend_ps(outside, v, vfill);
        }
        _mm512_mask_storeu_ps(out + k, live, v);
    }
}
#endif

static inline int fnn_warp_simd_level(void) {
    const int best = fnn_warp_simd_available();
    return best < fnn_warp_simd_cap ? best : fnn_warp_simd_cap;
}

/* One kernel body in every SIMD build: BASE_generic, BASE_avx2 and BASE_avx512 (with the template's SFX
 * suffix) run CALL(level) with level 0, 1, 2 as a constant (the body picks its loops from it), and
 * BASE_for_cpu() returns the one this CPU runs (FN_T: their pointer type). The same source, compiled for AVX2
 * (8 floats a vector) and AVX-512 (16), with hardware gathers; the extension is built with -ffp-contract=off,
 * so their FMA units never change a rounding. */
#if FNN_X86_DISPATCH
#define FNN_SIMD_VARIANTS(FN_T, BASE, PARAMS, CALL)                                                            \
    static void SFX(BASE##_generic) PARAMS { CALL(0); }                                                       \
    FNN_AVX2_TARGET static void SFX(BASE##_avx2) PARAMS { CALL(1); }                                          \
    FNN_AVX512_TARGET static void SFX(BASE##_avx512) PARAMS { CALL(2); }                                      \
    static FN_T SFX(BASE##_for_cpu)(void) {                                                                   \
        switch (fnn_warp_simd_level()) {                                                                      \
        case 2: return SFX(BASE##_avx512);                                                                    \
        case 1: return SFX(BASE##_avx2);                                                                      \
        default: return SFX(BASE##_generic);                                                                  \
        }                                                                                                     \
    }
#else
#define FNN_SIMD_VARIANTS(FN_T, BASE, PARAMS, CALL)                                                            \
    static void SFX(BASE##_generic) PARAMS { CALL(0); }                                                       \
    static FN_T SFX(BASE##_for_cpu)(void) { return SFX(BASE##_generic); }
#endif

/* Pixel tables of the single-channel fast path (warp_tmpl.h): a block of `rows` whole rows of width w, pixel k
 * at column col[k] and row row[k] of the block. One table serves every image of a call. */
#define FNN_FLAT_PIXELS 1024
/* images ahead whose rows the warp prefetches when it reads rows by index */
#define FNN_PREFETCH_AHEAD 2
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
double fnn_normal_value(uint64_t key, uint64_t counter) { return (double)fnn_normal(key, counter); }
void fnn_normal_poly_coefficients(float *out) { memcpy(out, fnn_np_coef, sizeof fnn_np_coef); }
