# cython: language_level=3
"""Cython shim over csrc/gemm.c. fastnn.ops.gemm validates shapes, dtypes, strides and aliasing; this checks only
what memory safety needs."""
from libc.stdint cimport int64_t

cimport numpy as cnp

cnp.import_array()


cdef inline int64_t _stride(cnp.ndarray a, int axis, int64_t size):
    return cnp.PyArray_STRIDE(a, axis) // size


def gemm(object a, object b, object out, int n_threads, size_t epilogue=0, size_t ctx=0):
    """out = a @ b for any element strides of a and b (multiples of the itemsize: fastnn.ops.gemm copies others).
    ``epilogue``: 0, or the address of a csrc/gemm.h fnn_gemm_epilogue called with ``ctx`` for every finished
    block of out; returns the sum of its return values (0 without one). The arrays are read through numpy's C
    API, not memoryviews (acquiring three per call cost ~1 us, most of a small product), after the few checks
    the kernel's memory safety needs: ndarrays of one float dtype, shapes that chain, out row-contiguous and
    writeable."""
    cdef cnp.ndarray A = a, B = b, C = out
    cdef int typenum = cnp.PyArray_TYPE(A)
    if (typenum != cnp.NPY_FLOAT32 and typenum != cnp.NPY_FLOAT64) or cnp.PyArray_TYPE(B) != typenum \
            or cnp.PyArray_TYPE(C) != typenum:
        raise TypeError("gemm: a, b and out must share one dtype, float32 or float64")
    if cnp.PyArray_NDIM(A) != 2 or cnp.PyArray_NDIM(B) != 2 or cnp.PyArray_NDIM(C) != 2:
        raise ValueError("gemm: a, b and out must be 2-D")
    cdef int64_t m = cnp.PyArray_DIM(A, 0), k = cnp.PyArray_DIM(A, 1), n = cnp.PyArray_DIM(B, 1)
    cdef int64_t size = cnp.PyArray_ITEMSIZE(A), count = 0
    if cnp.PyArray_DIM(B, 0) != k or cnp.PyArray_DIM(C, 0) != m or cnp.PyArray_DIM(C, 1) != n:
        raise ValueError("gemm: the shapes of a, b and out do not chain")
    if m == 0 or n == 0:
        return 0
    if (n > 1 and cnp.PyArray_STRIDE(C, 1) != size) or not cnp.PyArray_ISWRITEABLE(C):
        raise ValueError("gemm: out must be writeable with contiguous rows")
    if (cnp.PyArray_STRIDE(A, 0) % size or cnp.PyArray_STRIDE(A, 1) % size or cnp.PyArray_STRIDE(B, 0) % size
            or cnp.PyArray_STRIDE(B, 1) % size or cnp.PyArray_STRIDE(C, 0) % size):
        raise ValueError("gemm: strides must be multiples of the itemsize")
    cdef int status = 0
    cdef fnn_gemm_epilogue epi = <fnn_gemm_epilogue>epilogue
    cdef const void *ap = cnp.PyArray_DATA(A)
    cdef const void *bp = cnp.PyArray_DATA(B)
    cdef void *cp = cnp.PyArray_DATA(C)
    cdef int64_t rsa = _stride(A, 0, size), csa = _stride(A, 1, size), rsb = _stride(B, 0, size)
    cdef int64_t csb = _stride(B, 1, size), ldc = _stride(C, 0, size)
    with nogil:
        status = gemm_any(typenum == cnp.NPY_FLOAT32, m, n, k, ap, rsa, csa, bp, rsb, csb, cp, ldc, n_threads, epi,
                          <const void *>ctx, &count)
    if status != 0:
        raise MemoryError("gemm: cannot allocate the packing buffers")
    return count


cdef int gemm_any(bint single, int64_t m, int64_t n, int64_t k, const void *a, int64_t rsa, int64_t csa,
                  const void *b, int64_t rsb, int64_t csb, void *c, int64_t ldc, int n_threads,
                  fnn_gemm_epilogue epilogue, const void *ctx, int64_t *count) noexcept nogil:
    if single:
        return gemm_epi_f32(m, n, k, <const float *>a, rsa, csa, <const float *>b, rsb, csb, <float *>c, ldc,
                            n_threads, epilogue, ctx, count)
    return gemm_epi_f64(m, n, k, <const double *>a, rsa, csa, <const double *>b, rsb, csb, <double *>c, ldc,
                        n_threads, epilogue, ctx, count)


def simd_available():
    """The best SIMD rung of this CPU: 0 baseline, 1 AVX2+FMA, 2 AVX-512 (csrc/fnn_simd.h)."""
    return fnn_simd_available()


def set_simd(int max_level):
    """Cap the rung gemm uses (tests and benchmarks compare the rungs)."""
    fnn_simd_set_cap(max_level)
