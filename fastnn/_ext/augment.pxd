# C prototypes of csrc/augment*.c, declared once for Cython (this file is augment.pyx's declaration file).
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t


cdef extern from "augment.h" nogil:
    ctypedef struct fnn_noise_spec:
        double std, clip_lo, clip_hi
        uint64_t seed, step
        int64_t index0, slot
    void warp_affine_f32(const float *x, const int64_t *rows, const double *mats, float *out, int64_t n,
                         int64_t h, int64_t w, int64_t c, int fill_mode, double fill_value,
                         const fnn_noise_spec *noise, int n_threads)
    void warp_affine_f64(const double *x, const int64_t *rows, const double *mats, double *out, int64_t n,
                         int64_t h, int64_t w, int64_t c, int fill_mode, double fill_value,
                         const fnn_noise_spec *noise, int n_threads)
    void gaussian_noise_f32(const float *x, float *out, int64_t n, int64_t size, const fnn_noise_spec *noise,
                            int n_threads)
    void gaussian_noise_f64(const double *x, double *out, int64_t n, int64_t size, const fnn_noise_spec *noise,
                            int n_threads)
    void fnn_gather_rows(const char *x, int64_t row_bytes, const int64_t *rows, int64_t n, char *out, int n_threads)
    void augment_matrices(const int32_t *codes, const double *params, const int64_t *slots, int64_t n_ops,
                          uint64_t seed, uint64_t step, int64_t index0, int64_t n, int64_t h, int64_t w,
                          double *mats_out)
    uint64_t fnn_stream_key(uint64_t seed, uint64_t step, uint64_t index, uint64_t slot)
    uint64_t fnn_random_bits(uint64_t key, uint64_t counter)
    double fnn_uniform(uint64_t key, uint64_t counter)
    void fnn_normal_poly_coefficients(float *out)
    double fnn_normal_value(uint64_t key, uint64_t counter)
    int fnn_simd_available()
    void fnn_simd_set_cap(int max_level)
