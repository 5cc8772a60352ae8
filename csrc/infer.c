/* Inference kernels (contract in infer.h): the f32/f64 instantiations of infer_tmpl.h. */
#include "infer.h"

#include "fnn_common.h"

FNN_SIMD_DEFINE_LEVEL

int infer_simd_level(void) {
    return fnn_simd_level();
}
void infer_simd_set_cap(int max_level) {
    fnn_simd_set_cap(max_level);
}

#define FNN_TEMPLATE "infer_tmpl.h"
#include "fnn_instantiate.h"
