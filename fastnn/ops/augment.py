"""Augmentation kernels (csrc/augment*.c): per-image affine matrices, bilinear warp, additive Gaussian noise.

Images reach the kernels as (n, h, w, c) C-contiguous float32/float64 arrays; ``fastnn.augment`` reshapes
(n, h, w) images and flattened rows into that form (a view, no copy).
"""
from __future__ import annotations

import numpy as np

from .._ext import augment as _augment
from ._checks import apart, out_array, real_array, resolve_threads, row_indices, writeable

# scalar helpers (codes, keys, sizes): no kernel, no threads; every other function is a kernel entry point
HELPERS = ("fill_mode_code", "noise_spec", "simd_levels", "set_simd", "stream_key", "bits", "uniform", "normal",
           "normal_poly_coefficients")

FILL_MODES = {"constant": 0, "nearest": 1, "reflect": 2}
OP_CODES = {"rotate": 1, "flip": 2, "zoom": 3, "shift": 4}

# ``threads_for`` compares work to one threshold (2**18 by default), so each kernel scales its element count.
# Measured on the 2-core VM (AVX-512 builds, 28x28 images; bench/RESULTS.md, augmentation section): 2 threads
# beat 1 by 1.2x from ~256 images for the warp (1.25 ns a pixel) and ~512 for the noise (0.6 ns a value); below
# that, waking the second thread costs more than it saves.
WARP_COST = 1.0
NOISE_COST = 0.6

_U64 = (1 << 64) - 1


def _u64(name: str, v) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(v).__name__}")
    return int(v) & _U64


def fill_mode_code(mode: str) -> int:
    try:
        return FILL_MODES[mode]
    except (KeyError, TypeError):
        raise ValueError(f"unknown fill_mode {mode!r}; expected one of {sorted(FILL_MODES)}") from None


def noise_spec(std: float, seed: int, step: int = 0, index0: int = 0, slot: int = 0, clip: tuple | None = None):
    """Additive Gaussian noise for ``gaussian_noise`` and ``warp_affine``: image i of a call gets
    clip(x + std * z), z from the counter-based stream key(seed, step, index0 + i, slot) of csrc/fnn_random.h."""
    lo, hi = (-np.inf, np.inf) if clip is None else (float(clip[0]), float(clip[1]))
    return (float(std), _u64("seed", seed), _u64("step", step), int(index0), int(slot), lo, hi)


def warp_affine(x: np.ndarray, mats: np.ndarray, out: np.ndarray, fill_mode: str = "constant",
                fill_value: float = 0.0, noise: tuple | None = None, rows: np.ndarray | None = None,
                n_threads: int | None = None) -> np.ndarray:
    """out[i] = bilinear warp of image rows[i] of x (N, h, w, c) (``rows=None``: image i) by the inverse map
    mats[i] (6 doubles, see csrc/augment_matrices.c), then ``noise`` (a ``noise_spec``, or None) added in the same
    pass: the result of ``gaussian_noise`` on out. ``rows`` saves gathering a shuffled batch before augmenting it."""
    real_array("x", x, ndim=4)
    n = x.shape[0]
    if rows is not None:
        n = row_indices("rows", rows, n, "images of x").shape[0]
    out_array("out", out, (n,) + x.shape[1:], x.dtype)
    real_array("mats", mats, ndim=2, dtype=np.float64)
    if mats.shape != (n, 6):
        raise ValueError(f"mats must have shape ({n}, 6), got {mats.shape}")
    apart("out", out, why="the warp reads neighbouring pixels", x=x)
    if noise is not None and x[0].size >= 1 << 32:
        raise ValueError(f"noisy images must hold fewer than 2**32 values, got {x[0].size}")
    cost = WARP_COST + (NOISE_COST if noise is not None else 0)
    _augment.warp_affine(x, rows, mats, out, fill_mode_code(fill_mode), float(fill_value), noise,
                      resolve_threads(n_threads, int(out.size * cost)))
    return out


def gather_rows(x: np.ndarray, rows: np.ndarray, out: np.ndarray, n_threads: int | None = None,
                check: bool = True) -> np.ndarray:
    """out[i] = x[rows[i]] for the rows of a 2-D C-contiguous array of any numeric dtype (x may be a read-only
    np.memmap): the gather of a shuffled batch, ``np.take(x, rows, axis=0, out=out)`` with each next row prefetched
    while one is copied. ``check=False`` for a caller that guarantees the arrays (a loader's permutation of the
    rows and its own batch buffer). The thread count counts a byte as an element (``resolve_threads``): a
    plain copy, so any split gives the same bytes. Measured 2026-12-02 (Xeon, 2 threads, pool awake, rows of
    784 float32 from 20 batches' rows): 1024 rows 270-290 -> 140 us on two threads, 128 rows 23 -> 15 us, and
    the 128-row SGD step that follows 1708-1787 -> 1690-1741 us (the 2-core EPYC of earlier sessions measured
    no gain at 128 rows, and no loss); 32 rows (below the threshold) 7 us either way."""
    if check:
        _check_gather(x, rows, out)
    _augment.gather_rows(x.view(np.uint8), rows, out.view(np.uint8), resolve_threads(n_threads, out.nbytes))
    return out


def _check_gather(x, rows, out) -> None:
    for name, a in (("x", x), ("out", out)):
        if not isinstance(a, np.ndarray) or a.ndim != 2 or not a.flags.c_contiguous:
            raise TypeError(f"{name} must be a 2-D C-contiguous numpy array")
        if a.dtype.hasobject:  # copying object pointers would skip their reference counts
            raise TypeError(f"{name} must hold numbers, got dtype {a.dtype}")
    row_indices("rows", rows, x.shape[0], "rows of x")
    if out.dtype != x.dtype or out.shape != (rows.shape[0], x.shape[1]):
        raise ValueError(f"out must be {x.dtype} of shape {(rows.shape[0], x.shape[1])}, got {out.dtype}{out.shape}")
    writeable("out", out)
    apart("out", out, x=x)


def augment_matrices(codes: np.ndarray, params: np.ndarray, slots: np.ndarray, seed: int, step: int,
                     index0: int, h: int, w: int, mats_out: np.ndarray, n_threads: int | None = None) -> np.ndarray:
    """Inverse maps (n, 6) of a random program of geometric ops for images index0 .. index0 + n - 1.

    A few doubles per image: the kernel runs serially, whatever ``n_threads`` says."""
    n_ops = codes.shape[0] if isinstance(codes, np.ndarray) else -1
    if not (isinstance(codes, np.ndarray) and codes.dtype == np.int32 and codes.ndim == 1
            and codes.flags.c_contiguous):
        raise TypeError("codes must be a 1-D C-contiguous int32 array")
    real_array("params", params, ndim=2, dtype=np.float64)
    if params.shape != (n_ops, 4):
        raise ValueError(f"params must have shape ({n_ops}, 4), got {params.shape}")
    if not (isinstance(slots, np.ndarray) and slots.dtype == np.int64 and slots.shape == (n_ops,)
            and slots.flags.c_contiguous):
        raise TypeError(f"slots must be a C-contiguous int64 array of shape ({n_ops},)")
    if mats_out.ndim != 2:
        raise ValueError(f"mats_out must be 2-D (n, 6), got shape {mats_out.shape}")
    out_array("mats_out", mats_out, (mats_out.shape[0], 6), np.float64)
    if h < 1 or w < 1:
        raise ValueError(f"image height and width must be positive, got {h}x{w}")
    _augment.matrices(codes, params, slots, _u64("seed", seed), _u64("step", step), int(index0), int(h), int(w),
                   mats_out)
    return mats_out


def gaussian_noise(x: np.ndarray, out: np.ndarray, std: float, seed: int, step: int = 0, index0: int = 0,
                   slot: int = 0, clip: tuple | None = None, n_threads: int | None = None) -> np.ndarray:
    """out = clip(x + std * z) row by row (x, out: (n, size), out may be x), in x's dtype; z from the counter-based
    float32 normal generator of csrc/fnn_random.h."""
    real_array("x", x, ndim=2)
    out_array("out", out, x.shape, x.dtype)
    if x.shape[1] >= 1 << 32:
        raise ValueError(f"noise rows must hold fewer than 2**32 values, got {x.shape[1]}")
    spec = noise_spec(std, seed, step, index0, slot, clip)
    _augment.gaussian_noise(x, out, spec, resolve_threads(n_threads, int(x.size * NOISE_COST)))
    return out


SIMD_LEVELS = ("portable", "avx2", "avx512")


def simd_levels() -> tuple:
    """The builds of the warp and noise loops this CPU can run, slowest first (all give identical results)."""
    return SIMD_LEVELS[:_augment.simd_available() + 1]


def set_simd(level: str) -> None:
    """Use builds up to ``level`` ("portable", "avx2" or "avx512"; for tests and benchmarks)."""
    if level not in SIMD_LEVELS:
        raise ValueError(f"unknown SIMD level {level!r}; expected one of {SIMD_LEVELS}")
    _augment.set_simd(SIMD_LEVELS.index(level))


def stream_key(seed: int, step: int, index: int, slot: int) -> int:
    """The 64-bit key of one image's random stream (exposed so tests can check the numpy mirror)."""
    return _augment.stream_key(_u64("seed", seed), _u64("step", step), _u64("index", index), _u64("slot", slot))


def bits(key: int, counter: int) -> int:
    """Word ``counter`` of the 64-bit stream ``key`` (csrc/fnn_random.h)."""
    return _augment.bits(_u64("key", key), _u64("counter", counter))


def uniform(key: int, counter: int) -> float:
    return _augment.uniform(_u64("key", key), _u64("counter", counter))


def normal(key: int, counter: int) -> float:
    """The normal deviate the noise kernel adds (times std) at element ``counter`` of the stream ``key``."""
    return _augment.normal(_u64("key", key), _u64("counter", counter))


def normal_poly_coefficients() -> np.ndarray:
    """(7, 32) float32: coefficient k (of s^(6-k)) of normal()'s polynomial for octave e (csrc/fnn_random.h)."""
    out = np.empty((7, 32), np.float32)
    _augment.normal_poly_coefficients(out)
    return out
