#include "gemm.h"
#include "fnn_common.h"
FNN_SIMD_DEFINE_LEVEL
#define FNN_TEMPLATE "gemm_tmpl.h"
#include "fnn_instantiate.h"
