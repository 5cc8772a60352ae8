# C prototypes of csrc/dropout*.c, declared once for Cython (this file is dropout.pyx's declaration file).
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t


cdef extern from "dropout.h" nogil:
    void dropout_forward_f32(const float *x, float *y_out, uint8_t *mask_out, int64_t n, uint64_t key,
                             uint64_t threshold, double scale, int n_threads)
    void dropout_forward_f64(const double *x, double *y_out, uint8_t *mask_out, int64_t n, uint64_t key,
                             uint64_t threshold, double scale, int n_threads)
    void dropout_backward_f32(const float *dy, const uint8_t *mask, float *dx_out, int64_t n, double scale,
                              int n_threads)
    void dropout_backward_f64(const double *dy, const uint8_t *mask, double *dx_out, int64_t n, double scale,
                              int n_threads)
    void dropout_mask(uint8_t *mask_out, int64_t n, uint64_t key, uint64_t threshold, int n_threads)
    uint64_t dropout_key(uint64_t seed, uint64_t step, uint64_t stream)
