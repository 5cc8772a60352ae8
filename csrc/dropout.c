#include "dropout.h"
#include "fnn_common.h"
#include "fnn_random.h"

/* Elements per parallel block (even, so the two elements of one hash stay in one block). */
#define FNN_DROPOUT_BLOCK 4096

/* keep[e - e0] = 1 if element e in [e0, e1) is kept (e0 even): element e reads the low (e even) or high (e odd)
 * 32 bits of bits(key, e / 2) of fnn_random.h. The counter advances by G per pair instead of being multiplied:
 * the same words. FNN_CLONES: AVX-512DQ multiplies 64-bit lanes, so the hash vectorizes; integer arithmetic,
 * so every build gives the same bits. */
FNN_CLONES
static void fnn_dropout_bits(uint8_t *keep, int64_t e0, int64_t e1, uint64_t key, uint64_t threshold) {
    const int64_t w = e1 - e0;
    const int64_t pairs = w / 2;
    uint64_t ctr = key + ((uint64_t)(e0 / 2) + 1) * FNN_GOLDEN;
    for (int64_t k = 0; k < pairs; k++, ctr += FNN_GOLDEN) {
        const uint64_t h = fnn_mix64(ctr);
        keep[2 * k] = (h & UINT64_C(0xFFFFFFFF)) >= threshold;
        keep[2 * k + 1] = (h >> 32) >= threshold;
    }
    if (w & 1) keep[w - 1] = (fnn_mix64(ctr) & UINT64_C(0xFFFFFFFF)) >= threshold;
}

#define FNN_TEMPLATE "dropout_tmpl.h"
#include "fnn_instantiate.h"

/* The mask alone (for tests and for layers that keep only the mask). */
void dropout_mask(uint8_t *mask_out, int64_t n, uint64_t key, uint64_t threshold, int n_threads) {
    const int64_t n_blocks = fnn_n_blocks(n, FNN_DROPOUT_BLOCK);
    FNN_THREADED(n_threads, for schedule(static), for (int64_t blk = 0; blk < n_blocks; blk++) {
        int64_t e0, e1;
        fnn_block(blk, FNN_DROPOUT_BLOCK, n, &e0, &e1);
        fnn_dropout_bits(mask_out + e0, e0, e1, key, threshold);
    });
}

uint64_t dropout_key(uint64_t seed, uint64_t step, uint64_t stream) {
    return fnn_dropout_key(seed, step, stream);
}
