#include "dense.h"
#define FNN_TEMPLATE "dense_tmpl.h"
#include "fnn_instantiate.h"

int fnn_openmp_enabled_flag(void) { return fnn_openmp_enabled(); }
int fnn_omp_max_threads_value(void) { return fnn_omp_max_threads(); }
