"""numpy oracle for fastnn.ops.augment: per-image matrices, bilinear warp, noise (generator: random.py).

Written from the formulas in csrc/augment*.c and csrc/fnn_random.h, not from the C code's structure: the warp
evaluates every pixel through the general tap/fill path (the C kernel has vectorized single-channel fast paths with
a padded copy), the 64-bit generator is plain Python integers masked to 64 bits, and the noise generator numpy
uint32/float32 arithmetic. Same names and argument order as fastnn.ops.augment, returning new arrays. The kernels
must match this bit for bit (no fused multiply-adds on either side).
"""
from __future__ import annotations

import math

import numpy as np

from .random import (  # noqa: F401  (the generator, re-exported for the tests)
    M64,
    G,
    bits,
    fmix32,
    mix64,
    mix64_array,
    noise_hash,
    normal,
    normal_from_hash,
    stream_key,
    uniform,
)

FILL_MODES = {"constant": 0, "nearest": 1, "reflect": 2}
ROTATE, FLIP, ZOOM, SHIFT = 1, 2, 3, 4


def _sincos_deg(deg: float) -> tuple[float, float]:
    r = math.fmod(deg, 360.0)
    if r < 0:
        r += 360.0
    exact = {0.0: (0.0, 1.0), 90.0: (1.0, 0.0), 180.0: (0.0, -1.0), 270.0: (-1.0, 0.0)}
    if r in exact:
        return exact[r]
    a = r * (math.pi / 180.0)
    return math.sin(a), math.cos(a)


def _mul(M, B):
    return [M[0] * B[0] + M[1] * B[2], M[0] * B[1] + M[1] * B[3],
            M[2] * B[0] + M[3] * B[2], M[2] * B[1] + M[3] * B[3]]


def gather_rows(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return x[rows]


def augment_matrices(codes, params, slots, seed, step, index0, h, w, n) -> np.ndarray:
    """Inverse maps (n, 6) (x = column, y = row; see csrc/augment_matrices.c) of the random geometric program."""
    cx, cy = 0.5 * (w - 1), 0.5 * (h - 1)
    mats = np.empty((n, 6))
    for i in range(n):
        M, t = [1.0, 0.0, 0.0, 1.0], [0.0, 0.0]
        for code, pa, slot in zip(codes, np.asarray(params, dtype=np.float64).tolist(), slots):
            key = stream_key(seed, step, index0 + i, int(slot))
            if code == ROTATE:
                s, c = _sincos_deg(pa[0] + (pa[1] - pa[0]) * uniform(key, 0))
                M = _mul(M, [c, -s, s, c])
            elif code == FLIP:
                fh = -1.0 if (pa[0] != 0.0 and uniform(key, 0) < pa[2]) else 1.0
                fv = -1.0 if (pa[1] != 0.0 and uniform(key, 1) < pa[2]) else 1.0
                M = _mul(M, [fh, 0.0, 0.0, fv])
            elif code == ZOOM:
                inv = 1.0 / (pa[0] + (pa[1] - pa[0]) * uniform(key, 0))
                M = _mul(M, [inv, 0.0, 0.0, inv])
            elif code == SHIFT:
                mx = pa[0] * w if pa[2] != 0.0 else pa[0]
                my = pa[1] * h if pa[2] != 0.0 else pa[1]
                dx = mx * (2.0 * uniform(key, 0) - 1.0)
                dy = my * (2.0 * uniform(key, 1) - 1.0)
                t = [t[0] - (M[0] * dx + M[1] * dy), t[1] - (M[2] * dx + M[3] * dy)]
        mats[i] = [M[0], M[1], cx + t[0] - (M[0] * cx + M[1] * cy),
                   M[2], M[3], cy + t[1] - (M[2] * cx + M[3] * cy)]
    return mats


def _taps(i: np.ndarray, n: int, mode: str):
    """(index, valid) of integer taps under the fill mode; invalid taps read the fill value."""
    if mode == "nearest":
        return np.clip(i, 0, n - 1), np.ones(i.shape, bool)
    if mode == "reflect":
        m = np.mod(i, 2 * n)
        return np.where(m < n, m, 2 * n - 1 - m), np.ones(i.shape, bool)
    valid = (i >= 0) & (i < n)
    return np.clip(i, 0, n - 1), valid


def warp_affine(x: np.ndarray, mats: np.ndarray, fill_mode: str = "constant", fill_value: float = 0.0,
                noise: tuple | None = None, rows: np.ndarray | None = None):
    """Bilinear warp of x[rows] (n, h, w, c; rows None: all of x) by inverse maps mats (n, 6), every pixel
    through the tap/fill path, then ``noise`` (std, seed, step, index0, slot, clip_lo, clip_hi) if given.

    Arithmetic in x.dtype (the matrices and fill value rounded to it first), as in csrc/augment_tmpl.h."""
    if rows is not None:
        x = x[rows]
    n, h, w, c = x.shape
    dt = x.dtype.type
    out = np.empty_like(x)
    yy, xx = np.meshgrid(np.arange(h).astype(dt), np.arange(w).astype(dt), indexing="ij")
    fill = dt(fill_value)
    one = dt(1)
    for i in range(n):
        m = mats[i].astype(dt)
        xs = m[0] * xx + (m[1] * yy + m[2])
        ys = m[3] * xx + (m[4] * yy + m[5])
        nan = np.isnan(xs) | np.isnan(ys)
        big = dt(1e15)
        xc = np.clip(np.where(nan, dt(0), xs), -big, big)
        yc = np.clip(np.where(nan, dt(0), ys), -big, big)
        x0, y0 = np.floor(xc).astype(np.int64), np.floor(yc).astype(np.int64)
        fx, fy = xc - x0.astype(dt), yc - y0.astype(dt)
        x1, y1 = x0 + (fx > 0), y0 + (fy > 0)
        img = x[i]

        def tap(yi, xi, img=img):  # bound now: the loop moves on to the next image
            iy, vy = _taps(yi, h, fill_mode)
            ix, vx = _taps(xi, w, fill_mode)
            return np.where((vy & vx)[..., None], img[iy, ix], fill)

        gx, gy = (one - fx)[..., None], (one - fy)[..., None]
        fx3, fy3 = fx[..., None], fy[..., None]
        sx, sy = (x1 != x0)[..., None], (y1 != y0)[..., None]
        with np.errstate(invalid="ignore"):
            top = np.where(sx, gx * tap(y0, x0) + fx3 * tap(y0, x1), tap(y0, x0))
            bot = np.where(sx, gx * tap(y1, x0) + fx3 * tap(y1, x1), tap(y1, x0))
            v = np.where(sy, gy * top + fy3 * bot, top)
        outside = nan
        if fill_mode == "constant":
            outside = outside | (xs <= -1) | (ys <= -1) | (xs >= w) | (ys >= h)
        out[i] = np.where(outside[..., None], fill, v)
    if noise is not None:
        std, seed, step, index0, slot, lo, hi = noise
        out = gaussian_noise(out.reshape(n, -1), std, seed, step, index0, slot, (lo, hi)).reshape(out.shape)
    return out


def gaussian_noise(x: np.ndarray, std: float, seed: int, step: int = 0, index0: int = 0, slot: int = 0,
                   clip=None) -> np.ndarray:
    """x (n, size) + std * normal(key(seed, step, index0 + i, slot), j) in x's dtype, then clipped."""
    n, size = x.shape
    dt = x.dtype.type
    out = np.empty_like(x)
    j = np.arange(size, dtype=np.uint64)
    for i in range(n):
        z = normal(stream_key(seed, step, index0 + i, slot), j).astype(dt)
        v = x[i] + dt(std) * z
        if clip is not None:
            lo, hi = dt(clip[0]), dt(clip[1])
            v = np.where(v < lo, lo, v)
            v = np.where(v > hi, hi, v)
        out[i] = v
    return out
