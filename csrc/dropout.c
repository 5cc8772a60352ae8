#include "dropout.h"
#include "fnn_common.h"

/* Elements per parallel block (even, so the two elements of one hash stay in one block). */
#define FNN_DROPOUT_BLOCK 4096

static inline uint64_t fnn_splitmix64(uint64_t z) {
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* keep[e - e0] = 1 if element e in [e0, e1) is kept (e0 even). See dropout_tmpl.h for the definition.
 * Compiled also for AVX2 and AVX-512 (picked at load time): AVX-512DQ multiplies 64-bit lanes, so the hash
 * vectorizes. Integer arithmetic: every variant gives the same bits. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && !defined(FNN_NO_CLONES)
__attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#endif
static void fnn_dropout_bits(uint8_t *keep, int64_t e0, int64_t e1, uint64_t key, uint64_t threshold) {
    const uint64_t golden = UINT64_C(0x9E3779B97F4A7C15);
    const int64_t w = e1 - e0;
    const int64_t pairs = w / 2;
    uint64_t ctr = key + ((uint64_t)(e0 / 2) + 1) * golden;
    for (int64_t k = 0; k < pairs; k++, ctr += golden) {
        const uint64_t h = fnn_splitmix64(ctr);
        keep[2 * k] = (h & UINT64_C(0xFFFFFFFF)) >= threshold;
        keep[2 * k + 1] = (h >> 32) >= threshold;
    }
    if (w & 1) keep[w - 1] = (fnn_splitmix64(ctr) & UINT64_C(0xFFFFFFFF)) >= threshold;
}

#define FNN_TEMPLATE "dropout_tmpl.h"
#include "fnn_instantiate.h"

/* The mask alone (for tests and for layers that keep only the mask). */
void dropout_mask(uint8_t *mask_out, int64_t n, uint64_t key, uint64_t threshold, int n_threads) {
    const int64_t n_blocks = (n + FNN_DROPOUT_BLOCK - 1) / FNN_DROPOUT_BLOCK;
    FNN_PARALLEL_FOR(n_threads)
    for (int64_t blk = 0; blk < n_blocks; blk++) {
        const int64_t e0 = blk * FNN_DROPOUT_BLOCK;
        fnn_dropout_bits(mask_out + e0, e0, e0 + FNN_DROPOUT_BLOCK < n ? e0 + FNN_DROPOUT_BLOCK : n, key,
                         threshold);
    }
}
