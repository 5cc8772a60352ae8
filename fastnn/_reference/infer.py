"""numpy oracle for fastnn.ops.infer: the program's layers in float64, from the plain (unpacked) arrays."""
from __future__ import annotations

import numpy as np

from ..preprocessing.scalers import centered_rows, standardized_rows
from . import dense as _dense
from . import norm as _norm


def _layer(layer, x64: np.ndarray) -> np.ndarray:
    w = None if layer.w is None else layer.w.astype(np.float64)
    b = None if layer.b is None else layer.b.astype(np.float64)
    if layer.kind == "dense":
        z = x64 @ w + b
    elif layer.kind == "scale_shift":
        z = x64 * w + b
    elif layer.kind == "layernorm":
        mean, invstd = _norm.ln_stats(x64, layer.eps)
        z = (x64 - mean[:, None]) * invstd[:, None]
        if w is not None:
            z = z * w + b
    elif layer.kind == "center":  # SampleCenter's own arithmetic (float64's): the kernel must match the model
        z = centered_rows(x64)
    elif layer.kind == "center_std":
        z = standardized_rows(x64)
    else:
        z = x64
    return _dense.act(z, layer.activation, layer.alpha)


def output_map(y, output="none"):
    y64 = y.astype(np.float64)
    if output == "softmax":
        e = np.exp(y64 - y64.max(axis=1, keepdims=True))
        y64 = e / e.sum(axis=1, keepdims=True)
    elif output == "sigmoid":
        y64 = _dense.act(y64, "sigmoid")
    return y64.astype(y.dtype)


def forward(program, x, output="none"):
    """Every layer in float64, then the output map; the result in the program's dtype."""
    if not np.all(np.isfinite(x)):
        raise ValueError("x contains NaN or infinite values")
    y = x.astype(np.float64)
    for layer in program.layers:
        y = _layer(layer, y)
    return output_map(y.astype(program.dtype), output)


def all_finite(x):
    return bool(np.all(np.isfinite(x)))


def epilogue(program, index, x):
    layer = program.layers[index]
    x64 = x.astype(np.float64)
    if layer.kind == "dense":
        return _dense.act(x64 + layer.b.astype(np.float64), layer.activation, layer.alpha).astype(x.dtype)
    return _layer(layer, x64).astype(x.dtype)
