"""Weight initializers.

Every initializer is a function ``fn(shape, rng, **options) -> ndarray`` (float64; the model casts) for a Dense
kernel stored (in, out), so fan_in = shape[0] and fan_out = shape[1]. ``get(name_or_callable)`` resolves names.
"auto" picks by the layer's activation: He for the ReLU family, Xavier for tanh/sigmoid, LeCun otherwise.
"""
from __future__ import annotations

import math

import numpy as np


def _fans(shape) -> tuple[int, int]:
    if len(shape) == 1:
        return shape[0], shape[0]
    return shape[0], shape[1]


def zeros(shape, rng=None, **_):
    return np.zeros(shape)


def he_normal(shape, rng, mode="fan_in", **_):
    fan = _fans(shape)[0 if mode == "fan_in" else 1]
    return rng.standard_normal(shape) * math.sqrt(2.0 / fan)


def xavier_uniform(shape, rng, gain=1.0, **_):
    fan_in, fan_out = _fans(shape)
    r = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-r, r, shape)


def lecun_normal(shape, rng, **_):
    return rng.standard_normal(shape) * math.sqrt(1.0 / _fans(shape)[0])


_RELU_FAMILY = ("relu", "leaky_relu", "gelu")
_SQUASHING = ("tanh", "sigmoid")


def auto(shape, rng, activation="identity", **options):
    """He for the ReLU family, Xavier for tanh/sigmoid, LeCun for a linear output."""
    if activation in _RELU_FAMILY:
        return he_normal(shape, rng, **options)
    if activation in _SQUASHING:
        return xavier_uniform(shape, rng, **options)
    return lecun_normal(shape, rng, **options)


INITIALIZERS = {"zeros": zeros, "he_normal": he_normal, "xavier_uniform": xavier_uniform,
                "lecun_normal": lecun_normal, "auto": auto}


def get(init):
    """Resolve an initializer name or callable."""
    if callable(init):
        return init
    try:
        return INITIALIZERS[init]
    except KeyError:
        raise ValueError(f"unknown initializer {init!r}; expected one of {sorted(INITIALIZERS)}") from None
