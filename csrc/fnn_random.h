/* The counter-based generator of dropout and augmentation: the key derivations, one stream of 64-bit words,
 * and the uniform and normal deviates drawn from it. Every random quantity is a pure function of
 * (seed, step, a path of integers naming the draw, counter), so nothing depends on how the work is split
 * between threads. fastnn/_reference/random.py mirrors every function here.
 *
 *   mix64(z)                 splitmix64's finaliser (a bijection on 64-bit words), G = 0x9E3779B97F4A7C15
 *   root(seed)               mix64(seed + G)
 *   Keys are a chain from the root through (step, path...), one absorb per word:
 *                            absorb(k, v) = mix64((k ^ v) + G)
 *   dropout_key(seed, step, stream)       absorb(absorb(root(seed), step), stream)          stream = layer index
 *   augment_key(seed, step, image, slot)  absorb(absorb(absorb(root(seed), step), image), slot)
 *   The root is mixed once more before the step enters, so (seed, step) and (step, seed) give different keys.
 *   bits(key, j)             mix64(key + (j + 1) G)        (splitmix64's j-th output from state key)
 *   uniform(key, j)          (bits >> 11) 2^-53            in [0, 1)
 *   noise_hash(key, j)       fmix32((j ^ lo32(key)) + hi32(key))   (murmur3's 32-bit finaliser; all 64 key bits
 *                            select the stream. 32-bit multiplies vectorize, 64-bit ones do not before AVX-512)
 *   normal(key, j)           float32, inverse-CDF method on h = noise_hash(key, j): bit 31 is the sign, and the
 *                            low 31 bits b give z = Phi^-1(1/2 + b 2^-32) = -Phi^-1(u), u = v 2^-32 with
 *                            v = 2^31 - b in [1, 2^31]. v is rounded to float, f = m 2^e (e in [0, 31], m in
 *                            [1, 2)), and z = P_e(m - 3/2) with one degree-6 polynomial per octave e
 *                            (csrc/fnn_normal_poly.h, fitted by tools/gen_normal_poly.py), evaluated in float
 *                            by Horner's rule without fused multiply-adds. Error below 1.5e-6 (sigma units)
 *                            for every b; |z| <= 6.234.
 * Dropout draws 32 bits per element: element e reads the low (e even) or high (e odd) half of bits(key, e / 2).
 */
#ifndef FNN_RANDOM_H
#define FNN_RANDOM_H
#include <stdint.h>
#include <string.h>

#include "fnn_simd.h"
#include "fnn_normal_poly.h"

#define FNN_GOLDEN 0x9E3779B97F4A7C15ULL

static FNN_INLINE uint64_t fnn_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static FNN_INLINE uint64_t fnn_root_key(uint64_t seed) {
    return fnn_mix64(seed + FNN_GOLDEN);
}
static FNN_INLINE uint64_t fnn_absorb(uint64_t k, uint64_t v) {
    return fnn_mix64((k ^ v) + FNN_GOLDEN);
}

static FNN_INLINE uint64_t fnn_dropout_key(uint64_t seed, uint64_t step, uint64_t stream) {
    return fnn_absorb(fnn_absorb(fnn_root_key(seed), step), stream);
}

static FNN_INLINE uint64_t fnn_augment_key(uint64_t seed, uint64_t step, uint64_t index, uint64_t slot) {
    return fnn_absorb(fnn_absorb(fnn_absorb(fnn_root_key(seed), step), index), slot);
}

static FNN_INLINE uint64_t fnn_bits(uint64_t key, uint64_t j) {
    return fnn_mix64(key + (j + 1) * FNN_GOLDEN);
}

static FNN_INLINE double fnn_unit(uint64_t key, uint64_t j) {
    return (double)(int64_t)(fnn_bits(key, j) >> 11) * 0x1.0p-53; /* signed: x86 converts it in one step */
}

static FNN_INLINE uint32_t fnn_fmix32(uint32_t h) {
    h ^= h >> 16;
    h *= 0x85EBCA6BU;
    h ^= h >> 13;
    h *= 0xC2B2AE35U;
    return h ^ (h >> 16);
}

static FNN_INLINE uint32_t fnn_noise_hash(uint32_t lo, uint32_t hi, uint32_t j) {
    return fnn_fmix32((j ^ lo) + hi);
}

/* normal() from its hash; branch-free, so a loop of it vectorizes. */
static FNN_INLINE float fnn_normal_from_hash(uint32_t h) {
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

static FNN_INLINE float fnn_normal(uint64_t key, uint64_t j) {
    return fnn_normal_from_hash(fnn_noise_hash((uint32_t)key, (uint32_t)(key >> 32), (uint32_t)j));
}
#endif
