#include "dense.h"
#define FNN_TEMPLATE "dense_tmpl.h"
#include "fnn_instantiate.h"

int fnn_openmp_enabled_flag(void) { return fnn_openmp_enabled(); }
int fnn_omp_max_threads_value(void) { return fnn_omp_max_threads(); }

#ifndef FNN_OPENMP_REQUESTED
#define FNN_OPENMP_REQUESTED 1
#endif
int fnn_openmp_requested_flag(void) { return FNN_OPENMP_REQUESTED; }
