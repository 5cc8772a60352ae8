/* Augmentation kernels (contract in augment.h): the f32/f64 instantiations of augment_tmpl.h (bilinear affine
 * warp, Gaussian noise), their SIMD builds (fnn_simd.h: FNN_SIMD_VARIANTS, every level compared bit for bit by
 * the tests), and the noise's normal deviates (the generator is csrc/fnn_random.h). The per-image matrices are
 * in augment_matrices.c.
 */
#define FNN_REQUIRE_FP_CONTRACT_OFF
#include <stdlib.h>
#include <string.h>

#include "augment.h"
#include "fnn_common.h"
#include "fnn_random.h"

FNN_SIMD_DEFINE_LEVEL

/* z[j] = normal() of hashes fnn_noise_hash(klo, khi, j0 + j) for j < n: the portable loop, and AVX2 and
 * AVX-512 ones whose permutes read the coefficients from registers instead of memory. Same arithmetic, same
 * results. */
static FNN_INLINE void fnn_normals_c(uint32_t klo, uint32_t khi, uint32_t j0, int n, float *FNN_RESTRICT z) {
    for (int j = 0; j < n; j++) z[j] = fnn_normal_from_hash(fnn_noise_hash(klo, khi, j0 + (uint32_t)j));
}

#if FNN_X86_DISPATCH
#include <immintrin.h>
#if defined(_MSC_VER) && defined(__clang__)
/* clang-cl's immintrin.h (before clang 19) leaves out the intrinsics of ISAs the whole file is not compiled for,
 * even for functions with a target attribute: include the ones used here directly. */
#include <smmintrin.h> /* _MM_FROUND_*, which avx512fintrin.h uses */
#include <avxintrin.h>
#include <avx2intrin.h>
#include <avx512fintrin.h>
#endif

/* AVX2 permutes reach 8 floats, so its registers hold the 16 octaves e >= 16 (two per coefficient) and a
 * vector with a lane in a lower octave (u < 2^-16, a chance of 8 in 2^15) takes the portable path. */
FNN_TARGET_V3 static void fnn_normals_avx2(uint32_t klo, uint32_t khi, uint32_t j0, int n, float *z) {
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
        __m256 acc =
            _mm256_blendv_ps(_mm256_permutevar8x32_ps(lo[0], idx), _mm256_permutevar8x32_ps(hi[0], idx), upper);
        for (int k = 1; k <= FNN_NP_DEGREE; k++) {
            const __m256 c =
                _mm256_blendv_ps(_mm256_permutevar8x32_ps(lo[k], idx), _mm256_permutevar8x32_ps(hi[k], idx), upper);
            acc = _mm256_add_ps(_mm256_mul_ps(acc, s), c);
        }
        acc = _mm256_castsi256_ps(_mm256_xor_si256(_mm256_castps_si256(acc), _mm256_and_si256(h, sign)));
        _mm256_storeu_ps(z + j, acc);
    }
    const int done = n & ~7;
    if (done < n) fnn_normals_c(klo, khi, j0 + (uint32_t)done, n - done, z + done);
}

FNN_TARGET_V4 static void fnn_normals_avx512(uint32_t klo, uint32_t khi, uint32_t j0, int n, float *z) {
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

/* rows ahead that the warp and the gather prefetch when they read rows by index */
#define FNN_PREFETCH_AHEAD 2

void fnn_gather_rows(const char *x, int64_t row_bytes, const int64_t *rows, int64_t n, char *out, int n_threads) {
    FNN_THREADED(n_threads, for schedule(static), for (int64_t i = 0; i < n; i++) {
        if (i + FNN_PREFETCH_AHEAD < n) {
            const char *next = x + rows[i + FNN_PREFETCH_AHEAD] * row_bytes;
            for (int64_t b = 0; b < row_bytes; b += 64) __builtin_prefetch(next + b, 0, 3);
        }
        memcpy(out + i * row_bytes, x + rows[i] * row_bytes, (size_t)row_bytes);
    });
}

/* Pixel tables of the single-channel fast path (augment_tmpl.h): a block of `rows` whole rows of width w, pixel k
 * at column col[k] and row row[k] of the block. One table serves every image of a call. */
#define FNN_FLAT_PIXELS 1024
typedef struct {
    int32_t *col, *row;
    int rows;
} fnn_flat_tab;

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
static FNN_INLINE int64_t fnn_tap(int64_t i, int64_t n, int mode) {
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
    return fnn_augment_key(s->seed, s->step, (uint64_t)(s->index0 + i), (uint64_t)s->slot);
}

#define FNN_TEMPLATE "augment_tmpl.h"
#include "fnn_instantiate.h"

double fnn_normal_value(uint64_t key, uint64_t counter) {
    return (double)fnn_normal(key, counter);
}
void fnn_normal_poly_coefficients(float *out) {
    memcpy(out, fnn_np_coef, sizeof fnn_np_coef);
}
