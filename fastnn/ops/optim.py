"""Fused optimizer steps and the global gradient norm (kernels in csrc/optim.c, contract in csrc/optim.h).

Every step function updates ``param_io`` and the state buffers in place in ONE pass over the flat buffers:
clip (scale or clamp, on the fly; ``grad`` is only read) -> weight decay -> update. The buffer is cut into
segments ``[seg_bounds[s], seg_bounds[s+1])``; row ``s`` of ``hp`` holds that segment's hyperparameters in the
layout documented in csrc/optim.h (``HP_FIELDS`` below names the fields). Optional state buffers are None
when the options do not use them. Each returns the number of gradient elements the clamp changed.

Clipping: ``clip_mode=CLIP_SCALE`` multiplies each segment's gradients by ``clip_arg``: one number for all, or a
float64 array with one scale per segment (a norm clip per tensor cuts the segments at the tensors).
``clip_mode=CLIP_VALUE`` clamps to ``[-clip_arg, clip_arg]``, or to ``[lo, hi]`` for a pair ``clip_arg``.

Threads come from ``threads_for(n)`` unless ``n_threads`` is given: small models step serially, so a training
step never wakes the OpenMP pool between matmuls.
"""
from __future__ import annotations

from typing import NamedTuple, TypedDict

import numpy as np

from .._ext import optim as _optim
from ._checks import out_array, real_array, resolve_threads

# helpers (codes, keys, sizes, the row-update contexts): no kernel, no threads; every other function is a kernel
# entry point
HELPERS = ("sumsq_blocks", "clip_args", "tensor_updates")

CLIP_SCALE = 0  # multiply each segment's gradients by its scale (1.0: no clipping)
CLIP_VALUE = 1  # clamp each gradient to [lo, hi] ([-c, c] for one number c)
REDUCE_BLOCK = 4096  # FNN_REDUCE_BLOCK in csrc/fnn_common.h

# The fields of an hp row, in offset order: the enums of csrc/optim.h (a test compares them with
# fastnn._ext.optim.hp_layout()). HP[kind].field is a field's offset, HP_WIDTH[kind] the row width.
class SgdRow(NamedTuple):
    lr: int
    weight_decay: int
    momentum: int
    one_minus_dampening: int
    nesterov: int
    first_step: int


class AdagradRow(NamedTuple):
    clr: int
    weight_decay: int
    eps: int
    eps_root: int


class RmspropRow(NamedTuple):
    lr: int
    weight_decay: int
    alpha: int
    eps: int
    momentum: int
    centered: int
    eps_root: int


class AdadeltaRow(NamedTuple):
    lr: int
    weight_decay: int
    rho: int
    eps: int


class AdamRow(NamedTuple):
    step_size: int
    weight_decay: int
    decay_factor: int
    beta1: int
    beta2: int
    eps: int
    bc2_sqrt: int
    amsgrad: int
    eps_root_bc2: int


class _RowLayouts(TypedDict):
    sgd: SgdRow
    adagrad: AdagradRow
    rmsprop: RmspropRow
    adadelta: AdadeltaRow
    adam: AdamRow


HP: _RowLayouts = {
    "sgd": SgdRow(*range(len(SgdRow._fields))),
    "adagrad": AdagradRow(*range(len(AdagradRow._fields))),
    "rmsprop": RmspropRow(*range(len(RmspropRow._fields))),
    "adadelta": AdadeltaRow(*range(len(AdadeltaRow._fields))),
    "adam": AdamRow(*range(len(AdamRow._fields))),
}
HP_FIELDS: dict[str, tuple[str, ...]] = {"sgd": SgdRow._fields, "adagrad": AdagradRow._fields,
                                         "rmsprop": RmspropRow._fields, "adadelta": AdadeltaRow._fields,
                                         "adam": AdamRow._fields}

HP_WIDTH = {kind: len(fields) for kind, fields in HP_FIELDS.items()}


def sumsq_blocks(n: int) -> int:
    """Length of the block-sum scratch buffer ``sumsq`` needs for ``n`` elements."""
    return max(1, -(-int(n) // REDUCE_BLOCK))


def sumsq(x: np.ndarray, block_out: np.ndarray | None = None, n_threads: int | None = None) -> float:
    """sum(x**2) accumulated in double, by fixed blocks of 4096 (same bits for any thread count)."""
    real_array("x", x, ndim=1)
    nb = sumsq_blocks(x.size)
    if block_out is None:
        block_out = np.empty(nb, np.float64)
    else:
        real_array("block_out", block_out, ndim=1, dtype=np.float64)
        if block_out.size < nb:
            raise ValueError(f"block_out needs at least {nb} elements for {x.size} inputs, got {block_out.size}")
    return _optim.sumsq(x, block_out, resolve_threads(n_threads, x.size))


def clip_args(clip_mode: int, clip_arg, n_seg: int) -> np.ndarray:
    """The kernels' clipping constants (a C-contiguous float64 array): ``n_seg`` scales for CLIP_SCALE, the bounds
    ``[lo, hi]`` for CLIP_VALUE. An array of that size is used as it is (the optimizers pass one kept across
    steps); a number is one scale for every segment, or the symmetric bounds ``[-c, c]``; a pair is ``[lo, hi]``."""
    if isinstance(clip_arg, np.ndarray) and clip_arg.dtype == np.float64 and clip_arg.flags.c_contiguous:
        return clip_arg
    if np.ndim(clip_arg) == 0:
        c = float(clip_arg)
        return np.full(n_seg, c) if clip_mode == CLIP_SCALE else np.array([-c, c])
    return np.ascontiguousarray(clip_arg, np.float64)


def _check(kind: str, grad, seg_bounds, hp, param_io, buffers: dict, clip_mode: int, clip_arg) -> np.ndarray:
    """Check a step's arguments; return ``clip_arg`` as the kernels take it (``clip_args``)."""
    real_array("grad", grad, ndim=1)
    n = grad.size
    out_array("param_io", param_io, (n,), grad.dtype)
    for name, buf in buffers.items():
        if buf is not None:
            out_array(name, buf, (n,), grad.dtype)
    if not isinstance(seg_bounds, np.ndarray) or seg_bounds.dtype != np.int64 or seg_bounds.ndim != 1 \
            or not seg_bounds.flags.c_contiguous:
        raise TypeError("seg_bounds must be a C-contiguous 1-D int64 array")
    if not isinstance(hp, np.ndarray) or hp.dtype != np.float64 or hp.ndim != 2 or not hp.flags.c_contiguous:
        raise TypeError("hp must be a C-contiguous 2-D float64 array")
    if hp.shape != (seg_bounds.size - 1, HP_WIDTH[kind]):
        raise ValueError(f"hp must have shape ({seg_bounds.size - 1}, {HP_WIDTH[kind]}) for {seg_bounds.size - 1} "
                         f"segments, got {hp.shape}")
    if seg_bounds.size < 2 or seg_bounds[0] != 0 or seg_bounds[-1] != n or np.any(np.diff(seg_bounds) < 0):
        raise ValueError(f"seg_bounds must rise from 0 to {n}, got {seg_bounds}")
    if clip_mode not in (CLIP_SCALE, CLIP_VALUE):
        raise ValueError(f"clip_mode must be {CLIP_SCALE} (scale) or {CLIP_VALUE} (clamp), got {clip_mode}")
    clip_arg = clip_args(clip_mode, clip_arg, seg_bounds.size - 1)
    want = seg_bounds.size - 1 if clip_mode == CLIP_SCALE else 2
    if clip_arg.shape != (want,):
        raise ValueError(f"clip_arg must be one number or {want} values for clip_mode {clip_mode} and "
                         f"{seg_bounds.size - 1} segments, got shape {clip_arg.shape}")
    if clip_mode == CLIP_VALUE and not clip_arg[0] <= clip_arg[1]:
        raise ValueError(f"clip_arg bounds must satisfy lo <= hi, got {clip_arg.tolist()}")
    return clip_arg


def sgd_step(grad, seg_bounds, hp, param_io, momentum_io=None, clip_mode=CLIP_SCALE, clip_arg=1.0,
             n_threads=None, check=True) -> int:
    """SGD / momentum / Nesterov (torch.optim.SGD). hp rows: lr, weight_decay, momentum, 1-dampening, nesterov,
    first_step. ``momentum_io`` is required when any segment has momentum != 0."""
    if check:
        clip_arg = _check("sgd", grad, seg_bounds, hp, param_io, {"momentum_io": momentum_io}, clip_mode, clip_arg)
        if momentum_io is None and np.any(hp[:, HP["sgd"].momentum] != 0):
            raise ValueError("momentum_io is required when momentum != 0")
    clip_arg = clip_args(clip_mode, clip_arg, hp.shape[0])
    return _optim.sgd_step(grad, seg_bounds, hp, param_io, momentum_io, clip_mode, clip_arg,
                           resolve_threads(n_threads, grad.size))


def adagrad_step(grad, seg_bounds, hp, param_io, sum_io, clip_mode=CLIP_SCALE, clip_arg=1.0, n_threads=None,
                 check=True) -> int:
    """Adagrad (torch.optim.Adagrad). hp rows: clr = lr / (1 + (t-1) lr_decay), weight_decay, eps, eps_root."""
    if check:
        clip_arg = _check("adagrad", grad, seg_bounds, hp, param_io, {"sum_io": sum_io}, clip_mode, clip_arg)
        if sum_io is None:
            raise ValueError("sum_io is required")
    clip_arg = clip_args(clip_mode, clip_arg, hp.shape[0])
    return _optim.adagrad_step(grad, seg_bounds, hp, param_io, sum_io, clip_mode, clip_arg,
                               resolve_threads(n_threads, grad.size))


def rmsprop_step(grad, seg_bounds, hp, param_io, square_avg_io, grad_avg_io=None, momentum_io=None,
                 clip_mode=CLIP_SCALE, clip_arg=1.0, n_threads=None, check=True) -> int:
    """RMSprop (torch.optim.RMSprop). hp rows: lr, weight_decay, alpha, eps, momentum, centered, eps_root."""
    if check:
        state = {"square_avg_io": square_avg_io, "grad_avg_io": grad_avg_io, "momentum_io": momentum_io}
        clip_arg = _check("rmsprop", grad, seg_bounds, hp, param_io, state, clip_mode, clip_arg)
        if square_avg_io is None:
            raise ValueError("square_avg_io is required")
        if grad_avg_io is None and np.any(hp[:, HP["rmsprop"].centered] != 0):
            raise ValueError("grad_avg_io is required when centered")
        if momentum_io is None and np.any(hp[:, HP["rmsprop"].momentum] > 0):
            raise ValueError("momentum_io is required when momentum > 0")
    clip_arg = clip_args(clip_mode, clip_arg, hp.shape[0])
    return _optim.rmsprop_step(grad, seg_bounds, hp, param_io, square_avg_io, grad_avg_io, momentum_io, clip_mode,
                               clip_arg, resolve_threads(n_threads, grad.size))


def adadelta_step(grad, seg_bounds, hp, param_io, square_avg_io, acc_delta_io, clip_mode=CLIP_SCALE,
                  clip_arg=1.0, n_threads=None, check=True) -> int:
    """Adadelta (torch.optim.Adadelta). hp rows: lr, weight_decay, rho, eps."""
    if check:
        state = {"square_avg_io": square_avg_io, "acc_delta_io": acc_delta_io}
        clip_arg = _check("adadelta", grad, seg_bounds, hp, param_io, state, clip_mode, clip_arg)
        if square_avg_io is None or acc_delta_io is None:
            raise ValueError("square_avg_io and acc_delta_io are required")
    clip_arg = clip_args(clip_mode, clip_arg, hp.shape[0])
    return _optim.adadelta_step(grad, seg_bounds, hp, param_io, square_avg_io, acc_delta_io, clip_mode, clip_arg,
                                resolve_threads(n_threads, grad.size))


def adam_step(grad, seg_bounds, hp, param_io, exp_avg_io, exp_avg_sq_io, max_exp_avg_sq_io=None,
              clip_mode=CLIP_SCALE, clip_arg=1.0, n_threads=None, check=True) -> int:
    """Adam / AdamW / AMSGrad (torch.optim.Adam, AdamW). hp rows: step_size = lr / (1 - beta1^t),
    coupled weight_decay, decay factor (1 - lr wd for AdamW, else 1), beta1, beta2, eps, sqrt(1 - beta2^t),
    amsgrad, eps_root * (1 - beta2^t)."""
    if check:
        state = {"exp_avg_io": exp_avg_io, "exp_avg_sq_io": exp_avg_sq_io, "max_exp_avg_sq_io": max_exp_avg_sq_io}
        clip_arg = _check("adam", grad, seg_bounds, hp, param_io, state, clip_mode, clip_arg)
        if exp_avg_io is None or exp_avg_sq_io is None:
            raise ValueError("exp_avg_io and exp_avg_sq_io are required")
        if max_exp_avg_sq_io is None and np.any(hp[:, HP["adam"].amsgrad] != 0):
            raise ValueError("max_exp_avg_sq_io is required when amsgrad")
    clip_arg = clip_args(clip_mode, clip_arg, hp.shape[0])
    return _optim.adam_step(grad, seg_bounds, hp, param_io, exp_avg_io, exp_avg_sq_io, max_exp_avg_sq_io,
                            clip_mode, clip_arg, resolve_threads(n_threads, grad.size))


# ---- row updates: the step applied per tensor block (issue 11 item 3) ---------------------------------------
KINDS: dict[str, int] = _optim.kinds()  # csrc/optim.h fnn_optim_kind


class TensorUpdates(NamedTuple):
    """Row-update contexts for some tensors of a model's flat buffers (csrc/optim.h ``fnn_row_update``):
    ``contexts`` the C side, ``grads[i]`` the 2-D gradient view of tensor i (what ``gemm_update`` writes), and
    the arguments of :func:`tensor_updates` they were made from (what the numpy twins read)."""
    contexts: _optim.TensorUpdates
    grads: tuple[np.ndarray, ...]
    epilogue: int                  # the address of update_rows for these tensors' dtype (a gemm epilogue) ...
    addresses: tuple[int, ...]     # ... and of each tensor's context
    size: int                      # elements in all the tensors
    kind: str
    params: np.ndarray
    grads_flat: np.ndarray
    states: tuple[np.ndarray | None, ...]
    tensors: list[tuple[int, int, int]]
    hp: np.ndarray
    hp_row: list[int]
    clip_mode: int
    clip_arg: np.ndarray


def _address(a: np.ndarray | None) -> int:
    return 0 if a is None else int(a.__array_interface__["data"][0])


def tensor_updates(kind: str, params: np.ndarray, grads: np.ndarray, states: tuple[np.ndarray | None, ...],
                   tensors: list[tuple[int, int, int]], hp: np.ndarray, hp_row: list[int], clip_mode: int,
                   clip_arg: np.ndarray) -> TensorUpdates:
    """Contexts that apply ``kind``'s step to the tensors ``(offset, rows, cols)`` of the flat buffers: tensor i
    is ``flat[offset:offset + rows * cols]`` seen as rows x cols, updated with row ``hp_row[i]`` of ``hp`` and the
    clipping ``clip_mode`` / ``clip_arg`` (one scale or the bounds [lo, hi]). ``states``: the kind's state buffers
    in its step kernel's order (None where unused). The contexts point into these arrays (kept alive with them):
    ``hp`` and ``clip_arg`` are read at every update, so a caller refills them in place between steps."""
    real_array("grads", grads, ndim=1)
    n = grads.size
    out_array("params", params, (n,), grads.dtype)
    if kind not in KINDS or len(states) > 3:
        raise ValueError(f"kind must be one of {sorted(KINDS)} with at most 3 state buffers, got {kind!r}")
    for i, buf in enumerate(states):
        if buf is not None:
            out_array(f"states[{i}]", buf, (n,), grads.dtype)
    if not (isinstance(hp, np.ndarray) and hp.dtype == np.float64 and hp.ndim == 2 and hp.flags.c_contiguous
            and hp.shape[1] == HP_WIDTH[kind]):
        raise TypeError(f"hp must be a C-contiguous float64 array of {HP_WIDTH[kind]} columns")
    if not (isinstance(clip_arg, np.ndarray) and clip_arg.dtype == np.float64 and clip_arg.flags.c_contiguous
            and clip_arg.size >= (2 if clip_mode == CLIP_VALUE else 1)):
        raise TypeError("clip_arg must be a C-contiguous float64 array: one scale, or [lo, hi] for CLIP_VALUE")
    contexts = _optim.TensorUpdates(len(tensors), grads.dtype == np.float32, (params, grads, states, hp, clip_arg))
    padded = tuple(states) + (None,) * (3 - len(states))
    views = []
    for i, ((offset, rows, cols), row) in enumerate(zip(tensors, hp_row, strict=True)):
        if not (0 <= offset and rows >= 0 and cols >= 0 and offset + rows * cols <= n and 0 <= row < hp.shape[0]):
            raise ValueError(f"tensor {i} ({offset}, {rows}, {cols}) with hp row {row} is outside the buffers")
        at = offset * grads.itemsize
        s0, s1, s2 = (0 if s is None else _address(s) + at for s in padded)
        contexts.set(i, KINDS[kind], rows, cols, _address(grads) + at, _address(params) + at, s0, s1, s2,
                     _address(hp[row]), clip_mode, _address(clip_arg))
        views.append(grads[offset:offset + rows * cols].reshape(rows, cols))
    return TensorUpdates(contexts, tuple(views), contexts.epilogue(), tuple(map(contexts.address, range(len(views)))),
                         sum(rows * cols for _, rows, cols in tensors), kind, params, grads, tuple(states),
                         list(tensors), hp, list(hp_row), clip_mode, clip_arg)


def update_tensors(updates: TensorUpdates, n_threads: int | None = None) -> int:
    """Apply the step of ``updates`` (:func:`tensor_updates`) to the whole of each of its tensors, in one pass;
    returns the number of gradient elements the clamp changed."""
    return int(updates.contexts.update_all(resolve_threads(n_threads, updates.size)))
