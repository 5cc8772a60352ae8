# C prototypes of csrc/gemm*.c, declared once for Cython (this file is gemm.pyx's declaration file).
from libc.stdint cimport int64_t


cdef extern from "gemm.h" nogil:
    int gemm_f32(int64_t m, int64_t n, int64_t k, const float *a, int64_t rsa, int64_t csa, const float *b,
                 int64_t rsb, int64_t csb, float *c, int64_t ldc, int n_threads)
    int gemm_f64(int64_t m, int64_t n, int64_t k, const double *a, int64_t rsa, int64_t csa, const double *b,
                 int64_t rsb, int64_t csb, double *c, int64_t ldc, int n_threads)
    ctypedef int64_t (*fnn_gemm_epilogue)(const void *ctx, int64_t r0, int64_t r1, int64_t c0, int64_t c1)
    int gemm_epi_f32(int64_t m, int64_t n, int64_t k, const float *a, int64_t rsa, int64_t csa, const float *b,
                     int64_t rsb, int64_t csb, float *c, int64_t ldc, int n_threads, fnn_gemm_epilogue epilogue,
                     const void *ctx, int64_t *count)
    int gemm_epi_f64(int64_t m, int64_t n, int64_t k, const double *a, int64_t rsa, int64_t csa, const double *b,
                     int64_t rsb, int64_t csb, double *c, int64_t ldc, int n_threads, fnn_gemm_epilogue epilogue,
                     const void *ctx, int64_t *count)
    int fnn_simd_available()
    void fnn_simd_set_cap(int max_level)


# For fastnn._ext.chain, which calls the kernel of either dtype without Python in between (``single``: float32).
cdef int gemm_any(bint single, int64_t m, int64_t n, int64_t k, const void *a, int64_t rsa, int64_t csa,
                  const void *b, int64_t rsb, int64_t csb, void *c, int64_t ldc, int n_threads,
                  fnn_gemm_epilogue epilogue, const void *ctx, int64_t *count) noexcept nogil
