# C prototypes of csrc/openmp.c, declared once for Cython (this file is openmp.pyx's declaration file).


cdef extern from "openmp.h" nogil:
    int fnn_openmp_enabled_flag()
    int fnn_openmp_requested_flag()
    int fnn_omp_max_threads_value()
