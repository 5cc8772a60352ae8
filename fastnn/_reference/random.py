"""numpy oracle for csrc/fnn_random.h: the counter-based generator of dropout and augmentation.

Written from the formulas in fnn_random.h: 64-bit words as Python ints masked to 64 bits (or numpy uint64
arrays), the noise's 32-bit hash and float32 polynomial in numpy uint32/float32. Imports nothing from
fastnn.ops: it is what the kernels are checked against.
"""
from __future__ import annotations

import numpy as np

M64 = (1 << 64) - 1
G = 0x9E3779B97F4A7C15


def mix64(z: int) -> int:
    """splitmix64's finaliser on a Python int (mod 2**64)."""
    z &= M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def mix64_array(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.uint64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def root_key(seed: int) -> int:
    return mix64((seed & M64) + G)


def absorb(k: int, v: int) -> int:
    """One link of a key chain: mix64((k ^ v) + G)."""
    return mix64((k ^ (v & M64)) + G)


def dropout_key(seed: int, step: int, stream: int = 0) -> int:
    """key(seed, step, stream): the key of one dropout layer's masks in one step."""
    return absorb(absorb(root_key(seed), step), stream)


def stream_key(seed: int, step: int, index: int, slot: int) -> int:
    """key(seed, step, image, slot): the stream of one augmentation op on one image."""
    return absorb(absorb(absorb(root_key(seed), step), index), slot)


def bits(key: int, counter) -> np.ndarray | int:
    if isinstance(counter, np.ndarray):
        c = counter.astype(np.uint64) + np.uint64(1)
        return mix64_array(np.uint64(key) + c * np.uint64(G))
    return mix64(key + (counter + 1) * G)


def uniform(key: int, counter):
    """[0, 1) from the top 53 bits."""
    b = bits(key, counter)
    if isinstance(b, np.ndarray):
        return (b >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    return (b >> 11) * 2.0 ** -53




_COEF = None  # (7, 32) float32: normal()'s per-octave polynomials, highest power first


def _coefficients() -> np.ndarray:
    """The kernel's constants (csrc/fnn_normal_poly.h), read from the extension: the oracle checks the
    arithmetic on them, and tests check their accuracy against scipy's ndtri."""
    global _COEF
    if _COEF is None:
        from .._ext.augment import normal_poly_coefficients

        _COEF = np.empty((7, 32), np.float32)
        normal_poly_coefficients(_COEF)
    return _COEF


def fmix32(h: np.ndarray) -> np.ndarray:
    h = h.astype(np.uint32)
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def noise_hash(key: int, counter) -> np.ndarray:
    j = np.atleast_1d(np.asarray(counter, dtype=np.uint64)).astype(np.uint32)
    lo, hi = np.uint32(key & 0xFFFFFFFF), np.uint32((key >> 32) & 0xFFFFFFFF)
    return fmix32((j ^ lo) + hi)


def normal_from_hash(h: np.ndarray) -> np.ndarray:
    """float32 normal deviates of 32-bit hashes (see csrc/fnn_random.h): sign from bit 31, then the polynomial of
    the octave of v = 2^31 - (h & 0x7FFFFFFF) rounded to float32, in float32 by Horner's rule."""
    coef = _coefficients()
    h = np.asarray(h, dtype=np.uint32)
    f = (np.uint32(0x80000000) - (h & np.uint32(0x7FFFFFFF))).astype(np.float32)
    fb = f.view(np.uint32)
    e = (fb >> np.uint32(23)).astype(np.int64) - 127
    s = ((fb & np.uint32(0x007FFFFF)) | np.uint32(0x3F800000)).view(np.float32) - np.float32(1.5)
    z = coef[0][e]
    for k in range(1, coef.shape[0]):
        z = (z * s).astype(np.float32) + coef[k][e]
    return (z.view(np.uint32) ^ (h & np.uint32(0x80000000))).view(np.float32)


def normal(key: int, counter) -> np.ndarray:
    """float32 normal deviates of stream ``key`` at ``counter`` (see csrc/fnn_random.h)."""
    return normal_from_hash(noise_hash(key, counter))
