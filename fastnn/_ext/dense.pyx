# cython: language_level=3
"""Cython shim over csrc/dense.c. fastnn.ops validates shapes, dtypes and contiguity; the epilogues, called for
every layer of every step, read their arrays through numpy's C API and check only what memory safety needs."""
from libc.stdint cimport int64_t

from ._types cimport real

cimport numpy as cnp

cnp.import_array()


cdef void *_array(object a, int typenum, int ndim, int64_t rows, int64_t cols, bint write, str name) except NULL:
    """The data of ``a`` after the checks memory safety needs: an ndarray of ``typenum``, shape (rows, cols) or
    (rows,), C-contiguous, writeable if written. Read through numpy's C API, not a memoryview (acquiring one per
    array cost about as much as these kernels' work on a small batch)."""
    if not isinstance(a, cnp.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(a).__name__}")
    cdef cnp.ndarray arr = <cnp.ndarray>a
    if cnp.PyArray_TYPE(arr) != typenum:
        raise TypeError(f"{name} has dtype {a.dtype}, not the dtype of the other arrays")
    if (cnp.PyArray_NDIM(arr) != ndim or cnp.PyArray_DIM(arr, 0) != rows
            or (ndim == 2 and cnp.PyArray_DIM(arr, 1) != cols)):
        expected = (rows, cols) if ndim == 2 else (rows, None)
        raise ValueError(f"{name} has shape {a.shape}, expected {expected[:ndim]}")
    if not cnp.PyArray_IS_C_CONTIGUOUS(arr) or (write and not cnp.PyArray_ISWRITEABLE(arr)):
        raise ValueError(f"{name} must be C-contiguous" + (" and writeable" if write else ""))
    return cnp.PyArray_DATA(arr)


cdef int _float_type(object a, str name) except -1:
    if not isinstance(a, cnp.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(a).__name__}")
    cdef int typenum = cnp.PyArray_TYPE(<cnp.ndarray>a)
    if typenum != cnp.NPY_FLOAT32 and typenum != cnp.NPY_FLOAT64:
        raise TypeError(f"{name} must be float32 or float64")
    if cnp.PyArray_NDIM(<cnp.ndarray>a) != 2:
        raise ValueError(f"{name} must be 2-D")
    return typenum


def bias_act_forward(object z, object b, object y_out, int act, double alpha, int n_threads):
    cdef int typenum = _float_type(z, "z")
    cdef int64_t rows = cnp.PyArray_DIM(<cnp.ndarray>z, 0), cols = cnp.PyArray_DIM(<cnp.ndarray>z, 1)
    if rows == 0 or cols == 0:
        return
    cdef void *zp = _array(z, typenum, 2, rows, cols, True, "z")
    cdef void *yp = _array(y_out, typenum, 2, rows, cols, True, "y_out")
    cdef void *bp = NULL if b is None else _array(b, typenum, 1, cols, 0, False, "b")
    with nogil:
        bias_act_any(typenum == cnp.NPY_FLOAT32, zp, bp, yp, rows, cols, act, alpha, n_threads)


cdef void bias_act_any(bint single, void *z, const void *b, void *y_out, int64_t rows, int64_t cols, int act,
                       double alpha, int n_threads) noexcept nogil:
    if single:
        bias_act_forward_f32(<float *>z, <const float *>b, <float *>y_out, rows, cols, act, alpha, n_threads)
    else:
        bias_act_forward_f64(<double *>z, <const double *>b, <double *>y_out, rows, cols, act, alpha, n_threads)


def act_backward(object dy, object y, object z, object dz_out, object db_out, int act, double alpha,
                 int n_threads):
    cdef int typenum = _float_type(dy, "dy")
    cdef int64_t rows = cnp.PyArray_DIM(<cnp.ndarray>dy, 0), cols = cnp.PyArray_DIM(<cnp.ndarray>dy, 1)
    if rows == 0 or cols == 0:
        return
    cdef void *dyp = _array(dy, typenum, 2, rows, cols, False, "dy")
    cdef void *yp = _array(y, typenum, 2, rows, cols, False, "y")
    cdef void *dzp = _array(dz_out, typenum, 2, rows, cols, True, "dz_out")
    cdef void *zp = NULL if z is None else _array(z, typenum, 2, rows, cols, False, "z")
    if zp == NULL and not FNN_IDENTITY <= act < FNN_GELU:  # GELU's derivative (and an unknown code's) reads z
        raise ValueError("act_backward: GELU needs the pre-activation z")
    cdef void *dbp = NULL if db_out is None else _array(db_out, typenum, 1, cols, 0, True, "db_out")
    with nogil:
        act_backward_any(typenum == cnp.NPY_FLOAT32, dyp, yp, zp, dzp, dbp, rows, cols, act, alpha, n_threads)


cdef void act_backward_any(bint single, const void *dy, const void *y, const void *z, void *dz_out, void *db_out,
                           int64_t rows, int64_t cols, int act, double alpha, int n_threads) noexcept nogil:
    if single:
        act_backward_f32(<const float *>dy, <const float *>y, <const float *>z, <float *>dz_out, <float *>db_out,
                         rows, cols, act, alpha, n_threads)
    else:
        act_backward_f64(<const double *>dy, <const double *>y, <const double *>z, <double *>dz_out,
                         <double *>db_out, rows, cols, act, alpha, n_threads)


def weight_penalty(const real[::1] w, real[::1] grad_io, double l1, double l2, int n_threads):
    """Returns l1*sum|w| + l2*sum w^2 and adds l1*sign(w) + 2*l2*w into grad_io (if not None)."""
    cdef int64_t n = w.shape[0]
    cdef double out = 0.0
    cdef real *gp = NULL
    if grad_io is not None and grad_io.shape[0] != n:
        raise ValueError(f"weight_penalty: grad_io has {grad_io.shape[0]} elements, w has {n}")
    if n == 0:
        return 0.0
    if grad_io is not None:
        gp = &grad_io[0]
    with nogil:
        if real is float:
            out = weight_penalty_f32(&w[0], gp, n, l1, l2, n_threads)
        else:
            out = weight_penalty_f64(&w[0], gp, n, l1, l2, n_threads)
    return out
