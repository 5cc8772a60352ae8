/* Inference kernels (contract in infer.h): the f32/f64 instantiations of infer_tmpl.h. */
#include "infer.h"

#include "fnn_common.h"

FNN_SIMD_DEFINE_LEVEL

/* Whether the batch-1 row GEMV skips zero inputs (infer_tmpl.h); the results are the same either way (tests compare). */
static int fnn_infer_skip_zeros_ = 1;
int infer_skip_zeros(int on) {
    const int was = fnn_infer_skip_zeros_;
    if (on >= 0) fnn_infer_skip_zeros_ = on != 0;
    return was;
}

int infer_simd_level(void) {
    return fnn_simd_level();
}
void infer_simd_set_cap(int max_level) {
    fnn_simd_set_cap(max_level);
}

#define FNN_TEMPLATE "infer_tmpl.h"
#include "fnn_instantiate.h"
