# cython: language_level=3
"""Cython shim over csrc/infer.c. No checks here: fastnn.ops.infer validates the program's arrays once, when it
is built, and each call's shapes, dtypes and contiguity; the arrays are passed as raw pointers (no memoryview
is acquired per call: a batch-1 call costs microseconds)."""
from libc.stdint cimport int64_t

cimport numpy as cnp

cnp.import_array()

PANEL_BYTES = FNN_INFER_PANEL_BYTES


cdef inline void *_data(object a):
    return cnp.PyArray_DATA(<cnp.ndarray>a) if a is not None else NULL


def pack_program(list layers):
    """The layers of a compiled forward pass as an array of C structs in a bytes object (kind, activation,
    sizes, pointers into the arrays: the caller keeps them alive as long as the bytes). ``layers``: tuples
    (kind, act, in, out, w, b, w_rows, ld_rows, alpha, eps), w, b and w_rows arrays or None."""
    cdef bytearray buf = bytearray(max(len(layers), 1) * sizeof(fnn_infer_layer))
    cdef fnn_infer_layer *L = <fnn_infer_layer *><char *>buf
    for i, (kind, act, n_in, n_out, w, b, w_rows, ld_rows, alpha, eps) in enumerate(layers):
        L[i].kind = kind
        L[i].act = act
        L[i].in_ = n_in
        L[i].out = n_out
        L[i].w = _data(w)
        L[i].b = _data(b)
        L[i].w_rows = _data(w_rows)
        L[i].ld_rows = ld_rows
        L[i].alpha = alpha
        L[i].eps = eps
    return bytes(buf)


cdef inline const fnn_infer_layer *_layers(bytes program):
    return <const fnn_infer_layer *><const char *>program


def forward(bytes program, object x, object y_out, object scratch, int output, int n_threads):
    """Returns 0, or 1 when x holds NaN or inf (nothing computed)."""
    cdef int64_t rows = cnp.PyArray_DIM(<cnp.ndarray>x, 0)
    cdef void *xp = _data(x)
    cdef void *yp = _data(y_out)
    cdef void *sp = _data(scratch)
    cdef int rc
    cdef int n_layers = len(program) // sizeof(fnn_infer_layer)
    cdef const fnn_infer_layer *layers = _layers(program)
    cdef bint f32 = cnp.PyArray_TYPE(<cnp.ndarray>x) == cnp.NPY_FLOAT32
    with nogil:
        if f32:
            rc = infer_forward_f32(layers, n_layers, <const float *>xp, <float *>yp, <float *>sp,
                                   rows, output, n_threads)
        else:
            rc = infer_forward_f64(layers, n_layers, <const double *>xp, <double *>yp,
                                   <double *>sp, rows, output, n_threads)
    return rc


def all_finite(object x):
    cdef int64_t n = cnp.PyArray_SIZE(<cnp.ndarray>x)
    cdef void *xp = _data(x)
    cdef int ok
    cdef bint f32 = cnp.PyArray_TYPE(<cnp.ndarray>x) == cnp.NPY_FLOAT32
    with nogil:
        ok = infer_all_finite_f32(<const float *>xp, n) if f32 else infer_all_finite_f64(<const double *>xp, n)
    return bool(ok)


def epilogue(bytes program, int index, object x, object y_out, int n_threads):
    cdef int64_t rows = cnp.PyArray_DIM(<cnp.ndarray>x, 0)
    cdef void *xp = _data(x)
    cdef void *yp = _data(y_out)
    cdef bint f32 = cnp.PyArray_TYPE(<cnp.ndarray>x) == cnp.NPY_FLOAT32
    cdef const fnn_infer_layer *layer = _layers(program) + index
    with nogil:
        if f32:
            infer_epilogue_f32(layer, <const float *>xp, <float *>yp, rows, n_threads)
        else:
            infer_epilogue_f64(layer, <const double *>xp, <double *>yp, rows, n_threads)


def output_map(object y, int output, int n_threads):
    cdef int64_t rows = cnp.PyArray_DIM(<cnp.ndarray>y, 0), cols = cnp.PyArray_DIM(<cnp.ndarray>y, 1)
    cdef void *yp = _data(y)
    cdef bint f32 = cnp.PyArray_TYPE(<cnp.ndarray>y) == cnp.NPY_FLOAT32
    with nogil:
        if f32:
            infer_output_f32(<float *>yp, rows, cols, output, n_threads)
        else:
            infer_output_f64(<double *>yp, rows, cols, output, n_threads)


def simd_level():
    return infer_simd_level()


def simd_set_cap(int max_level):
    infer_simd_set_cap(max_level)


def skip_zeros(int on):
    """Set whether batch-1 tiles skip zero inputs (on < 0: leave it); returns the setting before."""
    return bool(infer_skip_zeros(on))
