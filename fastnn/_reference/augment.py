"""numpy oracle for fastnn.ops.warp: the counter-based generator, per-image matrices, bilinear warp, noise.

Written from the formulas in csrc/warp.c, not from the C code's structure: the warp evaluates every pixel
through the general tap/fill path (the C kernel has vectorized single-channel fast paths with a padded copy),
the 64-bit generator is plain Python integers masked to 64 bits, and the noise generator numpy uint32/float32
arithmetic. Same names and argument order as fastnn.ops.warp, returning new arrays. The kernels must match
this bit for bit (no fused multiply-adds on either side).
"""
from __future__ import annotations

import math

import numpy as np

M64 = (1 << 64) - 1
G = 0x9E3779B97F4A7C15
FILL_MODES = {"constant": 0, "nearest": 1, "reflect": 2}
ROTATE, FLIP, ZOOM, SHIFT = 1, 2, 3, 4


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


def _absorb(k: int, v: int) -> int:
    return mix64(k ^ mix64(v + G))


def stream_key(seed: int, step: int, index: int, slot: int) -> int:
    return _absorb(_absorb(_absorb(mix64((seed & M64) + G), step & M64), index & M64), slot & M64)


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




# Wichura (1988), Algorithm AS241 PPND16: coefficients from the highest power down.
_A = [2.5090809287301226727e+3, 3.3430575583588128105e+4, 6.7265770927008700853e+4, 4.5921953931549871457e+4,
      1.3731693765509461125e+4, 1.9715909503065514427e+3, 1.3314166789178437745e+2, 3.3871328727963666080e+0]
_B = [5.2264952788528545610e+3, 2.8729085735721942674e+4, 3.9307895800092710610e+4, 2.1213794301586595867e+4,
      5.3941960214247511077e+3, 6.8718700749205790830e+2, 4.2313330701600911252e+1, 1.0]
_C = [7.74545014278341407640e-4, 2.27238449892691845833e-2, 2.41780725177450611770e-1, 1.27045825245236838258e+0,
      3.64784832476320460504e+0, 5.76949722146069140550e+0, 4.63033784615654529590e+0, 1.42343711074968357734e+0]
_D = [1.05075007164441684324e-9, 5.47593808499534494600e-4, 1.51986665636164571966e-2, 1.48103976427480074590e-1,
      6.89767334985100004550e-1, 1.67638483018380384940e+0, 2.05319162663775882187e+0, 1.0]
_E = [2.01033439929228813265e-7, 2.71155556874348757815e-5, 1.24266094738807843860e-3, 2.65321895265761230930e-2,
      2.96560571828504891230e-1, 1.78482653991729133580e+0, 5.46378491116411436990e+0, 6.65790464350110377720e+0]
_F = [2.04426310338993978564e-15, 1.42151175831644588870e-7, 1.84631831751005468180e-5, 7.86869131145613259100e-4,
      1.48753612908506148525e-2, 1.36929880922735805310e-1, 5.99832206555887937690e-1, 1.0]


def _horner(coeffs, r):
    v = coeffs[0] * r + coeffs[1]
    for c in coeffs[2:]:
        v = v * r + c
    return v


def norm_ppf(p):
    """Inverse standard normal CDF (AS241 PPND16) for p in (0, 1), vectorised."""
    p = np.asarray(p, dtype=np.float64)
    q = p - 0.5
    central = np.abs(q) <= 0.425
    rc = 0.180625 - q * q
    val_c = q * _horner(_A, rc) / _horner(_B, rc)
    with np.errstate(divide="ignore", invalid="ignore"):
        rt = np.sqrt(-np.log(np.where(q < 0, p, 1.0 - p)))
        near = rt - 1.6
        far = rt - 5.0
        val_t = np.where(rt <= 5.0, _horner(_C, near) / _horner(_D, near), _horner(_E, far) / _horner(_F, far))
    val_t = np.where(q < 0, -val_t, val_t)
    return np.where(central, val_c, val_t)


# Noise table (csrc/warp.c): coarse knots t = i 2^-12 (i < 1984), fine knots t = 31/64 + (i - 1984) 2^-17
# (i < 1984 + 1920), t in units of 2^-32 from the low 31 bits of the hash; beyond 1/2 - 2^-10, AS241.
NT_COARSE, NT_FINE = 1984, 1920
FINE_START, TAIL_START = 0x7C000000, 0x7FC00000


def _norm_ppf_scalar(p: float) -> float:
    """AS241 with Python floats (libm's log and sqrt, like the C code)."""
    q = p - 0.5
    if abs(q) <= 0.425:
        r = 0.180625 - q * q
        return q * _horner(_A, r) / _horner(_B, r)
    r = math.sqrt(-math.log(p if q < 0 else 1.0 - p))
    val = _horner(_C, r - 1.6) / _horner(_D, r - 1.6) if r <= 5.0 else _horner(_E, r - 5.0) / _horner(_F, r - 5.0)
    return -val if q < 0 else val


def _norm_table():
    val = np.empty(NT_COARSE + NT_FINE + 1, np.float32)
    for i in range(NT_COARSE + NT_FINE + 1):
        t = i * 2.0 ** -12 if i < NT_COARSE else 31.0 / 64.0 + (i - NT_COARSE) * 2.0 ** -17
        val[i] = np.float32(_norm_ppf_scalar(0.5 + t))
    return val, (val[1:] - val[:-1]).astype(np.float32)  # float32 subtraction, as in C


_TABLE = None


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


def normal(key: int, counter) -> np.ndarray:
    """float32 normal deviates of stream ``key`` at ``counter`` (see csrc/warp.c)."""
    global _TABLE
    if _TABLE is None:
        _TABLE = _norm_table()
    val, slope = _TABLE
    h = noise_hash(key, counter)
    b = h & np.uint32(0x7FFFFFFF)
    fine = b >= FINE_START
    tail = b >= TAIL_START
    ic = (b >> np.uint32(20)).astype(np.int64)
    ifn = NT_COARSE + ((b - np.uint32(FINE_START)) >> np.uint32(15)).astype(np.int64)  # wraps where unused
    i = np.where(fine, np.where(tail, NT_COARSE + NT_FINE - 1, ifn), ic)
    fb = np.where(fine, b & np.uint32(0x7FFF), b & np.uint32(0xFFFFF)).astype(np.int32).astype(np.float32)
    f = fb * np.where(fine, np.float32(2.0 ** -15), np.float32(2.0 ** -20)).astype(np.float32)
    z = (val[i] + f * slope[i]).astype(np.float32)
    for k in np.flatnonzero(tail):
        z[k] = np.float32(-_norm_ppf_scalar(0.5 - float(b[k]) * 2.0 ** -32))
    return np.where(h >> np.uint32(31), -z, z).astype(np.float32)


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


def augment_matrices(codes, params, slots, seed, step, index0, n, h, w) -> np.ndarray:
    """Inverse maps (n, 6) (x = column, y = row; see csrc/warp.c) of the random geometric program."""
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


def warp_affine(x: np.ndarray, mats: np.ndarray, fill_mode: str = "constant", fill_value: float = 0.0):
    """Bilinear warp of x (n, h, w, c) by inverse maps mats (n, 6), every pixel through the tap/fill path.

    Arithmetic in x.dtype (the matrices and fill value rounded to it first), as in csrc/warp_tmpl.h."""
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

        def tap(yi, xi):
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
