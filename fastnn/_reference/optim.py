"""numpy oracle for fastnn.ops.optim: the same functions, the same in-place contract, plain array code.

The arithmetic is done in the buffers' dtype, in the order of the C kernels (and of torch.optim's
single-tensor code), with each scalar rounded to that dtype first, so float32 and float64 results match the
kernels to the last bit or nearly so. Rows of ``hp`` are read by field name (``HP``).
"""
from __future__ import annotations

import numpy as np

# the hp row layout is the kernels' interface (checked against csrc/optim.h), not arithmetic under test
from ..ops.optim import HP

CLIP_SCALE, CLIP_VALUE = 0, 1
REDUCE_BLOCK = 4096


def sumsq(x: np.ndarray) -> float:
    """sum(x**2) in double, block by block of 4096 then the block sums in order (the kernel's order within a
    block differs: compare to rounding)."""
    x64 = x.astype(np.float64)
    return float(sum(float(np.dot(x64[i:i + REDUCE_BLOCK], x64[i:i + REDUCE_BLOCK]))
                     for i in range(0, x.size, REDUCE_BLOCK)))


def _grad(g: np.ndarray, clip_mode: int, clip: tuple[float, float]):
    """g clamped to [clip[0], clip[1]] (CLIP_VALUE) or scaled by clip[0]; the clamped element count."""
    r = g.dtype.type
    if clip_mode == CLIP_VALUE:
        lo, hi = r(clip[0]), r(clip[1])
        clamped = np.where(g > hi, hi, np.where(g < lo, lo, g))
        return clamped, int(np.count_nonzero((g > hi) | (g < lo)))
    return g * r(clip[0]), 0


def _segment_clip(clip_mode: int, clip_arg, s: int) -> tuple[float, float]:
    """Segment s's clipping constants from a clip_arg as fastnn.ops.optim takes it: a number (one scale, or
    [-c, c]), a pair [lo, hi] (CLIP_VALUE) or one scale per segment (CLIP_SCALE)."""
    if np.ndim(clip_arg) == 0:
        c = float(clip_arg)
        return (-c, c) if clip_mode == CLIP_VALUE else (c, c)
    if clip_mode == CLIP_VALUE:
        return float(clip_arg[0]), float(clip_arg[1])
    return float(clip_arg[s]), float(clip_arg[s])


def _segments(seg_bounds, hp):
    for s in range(len(seg_bounds) - 1):
        lo, hi = int(seg_bounds[s]), int(seg_bounds[s + 1])
        if lo < hi:
            yield s, slice(lo, hi), hp[s]


class _Steps:
    """The part every optimizer shares, per segment: the gradient clipped (scaled or clamped) and, unless
    ``couple_decay`` is False, torch's coupled weight decay g + wd * p. Iterate for (slice, hp row, g, p);
    ``count`` then holds how many gradient elements the clamp changed."""

    def __init__(self, fields, grad, seg_bounds, hp, param_io, clip_mode, clip_arg, couple_decay=True):
        self.wd = fields.weight_decay
        self.args = grad, seg_bounds, hp, param_io, clip_mode, clip_arg, couple_decay
        self.count = 0

    def __iter__(self):
        grad, seg_bounds, hp, param_io, clip_mode, clip_arg, couple_decay = self.args
        r = grad.dtype.type
        for s, sl, h in _segments(seg_bounds, hp):
            g, c = _grad(grad[sl], clip_mode, _segment_clip(clip_mode, clip_arg, s))
            self.count += c
            p = param_io[sl]
            yield sl, h, (g + r(h[self.wd]) * p) if couple_decay else g, p


def _lerp(a, b, w: float, r):
    """ATen's lerp(a, b, w) for a scalar weight w rounded to the dtype."""
    wr = r(w)
    if abs(w) < 0.5:
        return a + wr * (b - a)
    return b - (b - a) * (r(1) - wr)


def sgd_step(grad, seg_bounds, hp, param_io, momentum_io=None, clip_mode=CLIP_SCALE, clip_arg=1.0) -> int:
    r = grad.dtype.type
    f = HP["sgd"]
    steps = _Steps(f, grad, seg_bounds, hp, param_io, clip_mode, clip_arg)
    for sl, h, g, p in steps:
        d = g
        if h[f.momentum] != 0:
            if h[f.first_step] != 0:
                b = g.copy()
            else:
                b = momentum_io[sl] * r(h[f.momentum]) + r(h[f.one_minus_dampening]) * g
            momentum_io[sl] = b
            d = g + r(h[f.momentum]) * b if h[f.nesterov] != 0 else b
        param_io[sl] = p + r(-h[f.lr]) * d
    return steps.count


def adagrad_step(grad, seg_bounds, hp, param_io, sum_io, clip_mode=CLIP_SCALE, clip_arg=1.0) -> int:
    r = grad.dtype.type
    f = HP["adagrad"]
    steps = _Steps(f, grad, seg_bounds, hp, param_io, clip_mode, clip_arg)
    for sl, h, g, p in steps:
        s = sum_io[sl] + g * g
        sum_io[sl] = s
        std = np.sqrt(s + r(h[f.eps_root])) + r(h[f.eps])
        param_io[sl] = p + r(-h[f.clr]) * g / std
    return steps.count


def rmsprop_step(grad, seg_bounds, hp, param_io, square_avg_io, grad_avg_io=None, momentum_io=None,
                 clip_mode=CLIP_SCALE, clip_arg=1.0) -> int:
    r = grad.dtype.type
    f = HP["rmsprop"]
    steps = _Steps(f, grad, seg_bounds, hp, param_io, clip_mode, clip_arg)
    for sl, h, g, p in steps:
        v = square_avg_io[sl] * r(h[f.alpha]) + r(1.0 - h[f.alpha]) * g * g
        square_avg_io[sl] = v
        if h[f.centered] != 0:
            a = _lerp(grad_avg_io[sl], g, 1.0 - h[f.alpha], r)
            grad_avg_io[sl] = a
            with np.errstate(over="ignore", invalid="ignore"):  # an infinite v stays infinite, as in the kernel
                var = np.where(v == np.inf, v, v + r(-1) * a * a)
            avg = np.sqrt(var + r(h[f.eps_root]))
        else:
            avg = np.sqrt(v + r(h[f.eps_root]))
        avg = avg + r(h[f.eps])
        if h[f.momentum] > 0:
            b = momentum_io[sl] * r(h[f.momentum]) + g / avg
            momentum_io[sl] = b
            param_io[sl] = p + r(-h[f.lr]) * b
        else:
            param_io[sl] = p + r(-h[f.lr]) * g / avg
    return steps.count


def adadelta_step(grad, seg_bounds, hp, param_io, square_avg_io, acc_delta_io, clip_mode=CLIP_SCALE,
                  clip_arg=1.0) -> int:
    r = grad.dtype.type
    f = HP["adadelta"]
    steps = _Steps(f, grad, seg_bounds, hp, param_io, clip_mode, clip_arg)
    for sl, h, g, p in steps:
        rho, one_minus_rho, eps = r(h[f.rho]), r(1.0 - h[f.rho]), r(h[f.eps])
        v = square_avg_io[sl] * rho + one_minus_rho * g * g
        square_avg_io[sl] = v
        std = np.sqrt(v + eps)
        delta = np.sqrt(acc_delta_io[sl] + eps) / std * g
        acc_delta_io[sl] = acc_delta_io[sl] * rho + one_minus_rho * delta * delta
        param_io[sl] = p + r(-h[f.lr]) * delta
    return steps.count


def adam_step(grad, seg_bounds, hp, param_io, exp_avg_io, exp_avg_sq_io, max_exp_avg_sq_io=None,
              clip_mode=CLIP_SCALE, clip_arg=1.0) -> int:
    r = grad.dtype.type
    f = HP["adam"]
    # hp[2] != 1 is decoupled decay (AdamW: p * (1 - lr * wd)); otherwise coupled, as the other optimizers
    steps = _Steps(f, grad, seg_bounds, hp, param_io, clip_mode, clip_arg, couple_decay=False)
    for sl, h, g, p in steps:
        if h[f.decay_factor] != 1.0:
            p = p * r(h[f.decay_factor])
        else:
            g = g + r(h[f.weight_decay]) * p
        m = _lerp(exp_avg_io[sl], g, 1.0 - h[f.beta1], r)
        exp_avg_io[sl] = m
        v = exp_avg_sq_io[sl] * r(h[f.beta2]) + r(1.0 - h[f.beta2]) * g * g
        exp_avg_sq_io[sl] = v
        if h[f.amsgrad] != 0:
            v = np.maximum(max_exp_avg_sq_io[sl], v)
            max_exp_avg_sq_io[sl] = v
        denom = np.sqrt(v + r(h[f.eps_root_bc2])) / r(h[f.bc2_sqrt]) + r(h[f.eps])
        param_io[sl] = p + r(-h[f.step_size]) * m / denom
    return steps.count


def update_tensors(updates) -> int:
    """Each tensor of ``updates`` (fastnn.ops.optim.TensorUpdates) stepped in place by its kind's twin above, with
    its own hp row and the contexts' clipping; returns the clamp count."""
    step = globals()[f"{updates.kind}_step"]
    clip = updates.clip_arg[:2] if updates.clip_mode == CLIP_VALUE else float(updates.clip_arg[0])
    count = 0
    for (offset, rows, cols), row in zip(updates.tensors, updates.hp_row):
        part = slice(offset, offset + rows * cols)
        states = [None if s is None else s[part] for s in updates.states]
        count += step(updates.grads_flat[part], np.array([0, rows * cols], np.int64), updates.hp[row:row + 1],
                      updates.params[part], *states, clip_mode=updates.clip_mode, clip_arg=clip)
    return count
