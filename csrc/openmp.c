/* How the kernels were built: whether OpenMP is compiled in, and whether the build asked for it (setup.py defines
 * FNN_OPENMP_REQUESTED=0 for a deliberate serial build, so a test can tell it from a build that lost OpenMP). */
#include "openmp.h"
#include "fnn_common.h"

#ifndef FNN_OPENMP_REQUESTED
#define FNN_OPENMP_REQUESTED 1
#endif

int fnn_openmp_enabled_flag(void) {
    return fnn_openmp_enabled();
}
int fnn_openmp_requested_flag(void) {
    return FNN_OPENMP_REQUESTED;
}
int fnn_omp_max_threads_value(void) {
    return fnn_omp_max_threads();
}
