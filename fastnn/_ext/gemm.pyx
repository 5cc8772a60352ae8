# cython: language_level=3
"""Cython shim over csrc/gemm.c. No checks here: fastnn.ops.gemm validates shapes, dtypes, strides and aliasing."""
from libc.stdint cimport int64_t

from ._types cimport real


def gemm(const real[:, :] a, const real[:, :] b, real[:, ::1] out, int n_threads, size_t epilogue=0,
         size_t ctx=0):
    """out = a @ b for any element strides of a and b (given in bytes by the buffers, multiples of the itemsize).
    ``epilogue``: 0, or the address of a csrc/gemm.h fnn_gemm_epilogue called with ``ctx`` for every finished
    block of out; returns the sum of its return values (0 without one)."""
    cdef int64_t m = a.shape[0], k = a.shape[1], n = b.shape[1]
    cdef int64_t size = sizeof(real), count = 0
    cdef int status = 0
    cdef fnn_gemm_epilogue epi = <fnn_gemm_epilogue>epilogue
    if m == 0 or n == 0:
        return 0
    with nogil:
        if real is float:
            status = gemm_epi_f32(m, n, k, &a[0, 0] if k else NULL, a.strides[0] // size, a.strides[1] // size,
                                  &b[0, 0] if k else NULL, b.strides[0] // size, b.strides[1] // size, &out[0, 0],
                                  out.strides[0] // size, n_threads, epi, <const void *>ctx, &count)
        else:
            status = gemm_epi_f64(m, n, k, &a[0, 0] if k else NULL, a.strides[0] // size, a.strides[1] // size,
                                  &b[0, 0] if k else NULL, b.strides[0] // size, b.strides[1] // size, &out[0, 0],
                                  out.strides[0] // size, n_threads, epi, <const void *>ctx, &count)
    if status != 0:
        raise MemoryError("gemm: cannot allocate the packing buffers")
    return count


def simd_available():
    """The best SIMD rung of this CPU: 0 baseline, 1 AVX2+FMA, 2 AVX-512 (csrc/fnn_simd.h)."""
    return fnn_simd_available()


def set_simd(int max_level):
    """Cap the rung gemm uses (tests and benchmarks compare the rungs)."""
    fnn_simd_set_cap(max_level)
