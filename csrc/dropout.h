/* Inverted dropout with masks from a counter-based generator (csrc/fnn_random.h). */
#ifndef FNN_DROPOUT_H
#define FNN_DROPOUT_H
#include <stdint.h>

#define FNN_DROPOUT_DECL(REAL, SFX)                                                                                    \
    void dropout_forward_##SFX(const REAL *x, REAL *y_out, uint8_t *mask_out, int64_t n, uint64_t key,                 \
                               uint64_t threshold, double scale, int n_threads);                                       \
    void dropout_backward_##SFX(const REAL *dy, const uint8_t *mask, REAL *dx_out, int64_t n, double scale,            \
                                int n_threads);
FNN_DROPOUT_DECL(float, f32)
FNN_DROPOUT_DECL(double, f64)
void dropout_mask(uint8_t *mask_out, int64_t n, uint64_t key, uint64_t threshold, int n_threads);
/* key(seed, step, stream) of the generator (fnn_random.h): the key of one layer's masks in one step */
uint64_t dropout_key(uint64_t seed, uint64_t step, uint64_t stream);
#endif
