# C prototypes of csrc/infer*.c, declared once for Cython (this file is infer.pyx's declaration file).
from libc.stdint cimport int32_t, int64_t


cdef extern from "infer.h" nogil:
    enum:
        FNN_INFER_PANEL_BYTES
    ctypedef struct fnn_infer_layer:
        int32_t kind, act
        int64_t in_ "in"
        int64_t out
        const void *w
        const void *b
        const void *w_rows
        int64_t ld_rows
        double alpha, eps
    int infer_forward_f32(const fnn_infer_layer *layers, int n_layers, const float *x, float *y_out, float *scratch,
                          int64_t rows, int output, int n_threads)
    int infer_forward_f64(const fnn_infer_layer *layers, int n_layers, const double *x, double *y_out,
                          double *scratch, int64_t rows, int output, int n_threads)
    int infer_all_finite_f32(const float *x, int64_t n)
    int infer_all_finite_f64(const double *x, int64_t n)
    void infer_epilogue_f32(const fnn_infer_layer *layer, const float *x, float *y_out, int64_t rows, int n_threads)
    void infer_epilogue_f64(const fnn_infer_layer *layer, const double *x, double *y_out, int64_t rows,
                            int n_threads)
    void infer_output_f32(float *y, int64_t rows, int64_t cols, int output, int n_threads)
    void infer_output_f64(double *y, int64_t rows, int64_t cols, int output, int n_threads)
    int infer_simd_level()
    void infer_simd_set_cap(int max_level)
    int infer_skip_zeros(int on)
    void infer_gil_released()
    void infer_gil_before_take()
    void infer_gil_taken()
    int64_t infer_gil_spin(int64_t ns)
    int infer_gil_spin_supported()
