"""Dense-layer epilogues and the weight penalty (kernels in csrc/dense.c)."""
from __future__ import annotations

import numpy as np

from .._ext import dense as _dense
from ._checks import out_array, real_array, resolve_threads, same_shape

# scalar helpers (codes, keys, sizes): no kernel, no threads; every other function is a kernel entry point
HELPERS = ("activation_code",)

ACTIVATIONS = {"identity": 0, "relu": 1, "leaky_relu": 2, "sigmoid": 3, "tanh": 4, "gelu": 5}


def activation_code(name: str) -> int:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}") from None


def bias_act_forward(z: np.ndarray, b: np.ndarray | None, y_out: np.ndarray, activation: str = "identity",
                     alpha: float = 0.01, n_threads: int | None = None, check: bool = True) -> np.ndarray:
    """y_out = act(z + b). ``y_out`` may be ``z`` (in place); otherwise ``z`` is left holding z + b.
    ``check=False``: the caller owns and guarantees the buffers (a layer's workspace and parameters)."""
    if check:
        real_array("z", z, ndim=2)
        out_array("y_out", y_out, z.shape, z.dtype)
        if b is not None:
            real_array("b", b, ndim=1, dtype=z.dtype)
            if b.shape != (z.shape[1],):
                raise ValueError(f"b must have shape ({z.shape[1]},), got {b.shape}")
    _dense.bias_act_forward(z, b, y_out, activation_code(activation), alpha, resolve_threads(n_threads, z.size))
    return y_out


def act_backward(dy: np.ndarray, y: np.ndarray, z: np.ndarray | None, dz_out: np.ndarray,
                 db_out: np.ndarray | None, activation: str = "identity", alpha: float = 0.01,
                 n_threads: int | None = None, check: bool = True) -> np.ndarray:
    """dz_out = dy * act'(z) (written from y; GELU needs z) and db_out = dz_out.sum(0) accumulated in double.
    ``check=False``: the caller owns and guarantees the buffers (a layer's workspace and gradients)."""
    code = activation_code(activation)
    if check:
        real_array("dy", dy, ndim=2)
        real_array("y", y, dtype=dy.dtype)
        same_shape("y", y, dy, "dy")
        out_array("dz_out", dz_out, dy.shape, dy.dtype)
        if code == ACTIVATIONS["gelu"]:
            if z is None:
                raise ValueError("GELU backward needs the pre-activation z")
            real_array("z", z, dtype=dy.dtype)
            same_shape("z", z, dy, "dy")
        if db_out is not None:
            out_array("db_out", db_out, (dy.shape[1],), dy.dtype)
    _dense.act_backward(dy, y, z, dz_out, db_out, code, alpha, resolve_threads(n_threads, dy.size))
    return dz_out


def weight_penalty(w: np.ndarray, grad_io: np.ndarray | None, l1: float, l2: float,
                   n_threads: int | None = None) -> float:
    """Returns l1 * sum|w| + l2 * sum w^2 and adds its gradient l1 * sign(w) + 2 * l2 * w into grad_io
    (value only when grad_io is None)."""
    real_array("w", w)
    if grad_io is not None:
        out_array("grad_io", grad_io, w.shape, w.dtype)
        grad_io = grad_io.reshape(-1)
    return _dense.weight_penalty(w.reshape(-1), grad_io, l1, l2, resolve_threads(n_threads, w.size))
