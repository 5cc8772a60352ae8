/* Build status of the OpenMP runtime (see openmp.c). */
#ifndef FNN_OPENMP_H
#define FNN_OPENMP_H
int fnn_openmp_enabled_flag(void);
int fnn_openmp_requested_flag(void);
int fnn_omp_max_threads_value(void);
#endif
