# cython: language_level=3
"""Cython shim over csrc/augment*.c. No checks here: fastnn.ops.augment validates shapes, dtypes and contiguity."""
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t

from ._types cimport real


cdef fnn_noise_spec noise_spec(tuple noise):
    """(std, seed, step, index0, slot, clip_lo, clip_hi) -> the C struct."""
    cdef fnn_noise_spec s
    s.std, s.seed, s.step, s.index0, s.slot, s.clip_lo, s.clip_hi = noise
    return s


def warp_affine(const real[:, :, :, ::1] x, const int64_t[::1] rows, const double[:, ::1] mats,
                real[:, :, :, ::1] out, int fill_mode, double fill_value, tuple noise, int n_threads):
    """rows: None (image i of x), or the indices of x's images to warp.  noise: None, or the
    (std, seed, step, index0, slot, clip_lo, clip_hi) to add after each image's warp."""
    cdef int64_t n = out.shape[0], h = out.shape[1], w = out.shape[2], c = out.shape[3]
    cdef fnn_noise_spec spec
    cdef const fnn_noise_spec *sp = NULL
    cdef const int64_t *rp = NULL
    if n == 0 or h == 0 or w == 0 or c == 0:
        return
    if noise is not None:
        spec = noise_spec(noise)
        sp = &spec
    if rows is not None:
        rp = &rows[0]
    with nogil:
        if real is float:
            warp_affine_f32(&x[0, 0, 0, 0], rp, &mats[0, 0], &out[0, 0, 0, 0], n, h, w, c, fill_mode,
                            fill_value, sp, n_threads)
        else:
            warp_affine_f64(&x[0, 0, 0, 0], rp, &mats[0, 0], &out[0, 0, 0, 0], n, h, w, c, fill_mode,
                            fill_value, sp, n_threads)


def gaussian_noise(const real[:, ::1] x, real[:, ::1] out, tuple noise, int n_threads):
    cdef int64_t n = x.shape[0], size = x.shape[1]
    cdef fnn_noise_spec spec = noise_spec(noise)
    if n == 0 or size == 0:
        return
    with nogil:
        if real is float:
            gaussian_noise_f32(&x[0, 0], &out[0, 0], n, size, &spec, n_threads)
        else:
            gaussian_noise_f64(&x[0, 0], &out[0, 0], n, size, &spec, n_threads)


def gather_rows(const uint8_t[:, ::1] x, const int64_t[::1] rows, uint8_t[:, ::1] out, int n_threads):
    """out[i] = x[rows[i]], rows of bytes (an array of any dtype viewed as uint8)."""
    cdef int64_t n = rows.shape[0], row_bytes = x.shape[1]
    if n == 0 or row_bytes == 0:
        return
    with nogil:
        fnn_gather_rows(<const char *>&x[0, 0], row_bytes, &rows[0], n, <char *>&out[0, 0], n_threads)


def matrices(const int32_t[::1] codes, const double[:, ::1] params, const int64_t[::1] slots, uint64_t seed,
             uint64_t step, int64_t index0, int64_t h, int64_t w, double[:, ::1] mats_out):
    cdef int64_t n = mats_out.shape[0], n_ops = codes.shape[0]
    if n == 0:
        return
    cdef const int32_t *cp = NULL
    cdef const double *pp = NULL
    cdef const int64_t *sp = NULL
    if n_ops > 0:
        cp = &codes[0]
        pp = &params[0, 0]
        sp = &slots[0]
    with nogil:
        augment_matrices(cp, pp, sp, n_ops, seed, step, index0, n, h, w, &mats_out[0, 0])


def stream_key(uint64_t seed, uint64_t step, uint64_t index, uint64_t slot):
    return fnn_stream_key(seed, step, index, slot)


def bits(uint64_t key, uint64_t counter):
    return fnn_random_bits(key, counter)


def uniform(uint64_t key, uint64_t counter):
    return fnn_uniform(key, counter)


def normal_poly_coefficients(float[:, ::1] out):
    """Copy normal()'s per-octave polynomial coefficients into out (degree + 1, 32)."""
    fnn_normal_poly_coefficients(&out[0, 0])


def normal(uint64_t key, uint64_t counter):
    return fnn_normal_value(key, counter)


def simd_available():
    """The best SIMD clone of the warp and noise this CPU runs: 0 portable, 1 AVX2, 2 AVX-512."""
    return fnn_simd_available()


def set_simd(int max_level):
    """Use clones up to ``max_level`` (0 portable, 1 AVX2, 2 AVX-512); results are identical at every level."""
    fnn_simd_set_cap(max_level)
