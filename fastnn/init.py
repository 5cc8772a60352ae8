"""Weight initializers.

Every initializer is a function ``fn(shape, rng, **options) -> ndarray`` returning a float64 array (the model
casts it to its dtype). ``rng`` is the model's seeded ``np.random.Generator``, so one seed reproduces every
weight. Shapes follow fastnn's Dense layout, W stored (in, out), hence

    fan_in = prod(shape[:-1]) = shape[0],   fan_out = shape[-1] = shape[1]     (a 1-D shape: both = shape[0])

(PyTorch's Linear weight is (out, in), so its fan_in is size(1); the formulas below are the same, the axes are
swapped.) Extra keyword options an initializer does not use are ignored, so a Dense layer can always pass its
``activation``.

Fixed variance (the chapter's "基于固定方差的参数初始化")::

    zeros, constant(value)       every unit identical: for a weight matrix this warns (the symmetry problem:
                                 all hidden units get the same gradient and stay identical forever)
    normal(std=0.01, mean=0)     N(mean, std^2)
    uniform(r)                   U(-r, r). Its variance is r^2 / 3, so a uniform init matching N(0, sigma^2) uses
                                 r = sqrt(3) * sigma; ``uniform(std=sigma)`` does that conversion.
                                 Default r = sqrt(3) * 0.01, the same variance as ``normal``'s default.

Variance scaling ("基于方差缩放"): std = gain * sqrt(scale / fan), uniform bound = sqrt(3) * std::

    xavier_normal / xavier_uniform(gain=1)     fan = (fan_in + fan_out) / 2, scale 1 (Glorot & Bengio 2010)
    xavier_normal_logistic / xavier_uniform_logistic
                                               the same with gain 4 (``LOGISTIC_GAIN``): the chapter's (and
                                               Glorot & Bengio's) range for the logistic function, whose slope
                                               at 0 is 1/4 where tanh's is 1. PyTorch's calculate_gain("sigmoid")
                                               is 1, and so is "auto"'s Xavier for a sigmoid layer.
    he_normal / he_uniform(mode="fan_in", nonlinearity="relu", a=0)
                                               std = gain / sqrt(fan) with gain = calculate_gain(nonlinearity, a),
                                               i.e. sqrt(2 / fan_in) for ReLU (He et al. 2015; torch's kaiming_*)
    lecun_normal / lecun_uniform               std = sqrt(1 / fan_in) (LeCun 1998)
  Normal initializers are not truncated (PyTorch's convention; Keras truncates at 2 sigma and rescales).

Orthogonal ("正交初始化"): draw A ~ N(0, 1) of the target shape, take its SVD A = U S V^T and use the
    orthogonal factor U V^T (the polar factor of A) times ``gain``. For a tall or square shape (rows >= cols) it
    has orthonormal columns, W^T W = gain^2 I; for a wide one orthonormal rows, W W^T = gain^2 I. U V^T is
    invariant to the sign ambiguity of the SVD and is Haar-distributed (uniform over orthogonal matrices), the
    property torch/Keras get from a sign-corrected QR.

"auto" (the default of Dense): He for the ReLU family, Xavier for tanh/sigmoid, LeCun for a linear output.

Names usable as ``Dense(init=...)``: see ``INITIALIZERS``. ``Init(name, **options)`` binds options to a named
initializer (``Dense(init=Init("normal", std=0.1))``) and can be serialized with ``get_config()``.
"""
from __future__ import annotations

import inspect
import math
import numbers
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .validation import check_scalar

ShapeLike = int | Sequence[int]
# fn(shape, rng, **options) -> float64 array; options a function does not use are ignored.
Initializer = Callable[..., np.ndarray]


class SymmetryWarning(UserWarning):
    """A weight matrix was initialized to identical values: its units cannot become different."""


def _shape(shape: ShapeLike) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        shape = tuple(int(s) for s in shape)
    except TypeError:
        raise TypeError(f"an initializer shape must be an int or a tuple of ints, got {shape!r}") from None
    if len(shape) == 0 or any(s < 0 for s in shape):
        raise ValueError(f"an initializer shape must have at least one non-negative dimension, got {shape}")
    return shape


def _fans(shape: ShapeLike) -> tuple[int, int]:
    """(fan_in, fan_out) for a kernel stored (in, out): fan_in = prod(shape[:-1]), fan_out = shape[-1]."""
    shape = _shape(shape)
    if len(shape) == 1:
        return shape[0], shape[0]
    fan_in = int(np.prod(shape[:-1], dtype=np.int64))
    return fan_in, shape[-1]


def _positive_fan(fan: int, name: str) -> int:
    if fan <= 0:
        raise ValueError(f"{name}: cannot scale by a fan of {fan} (the shape has a zero dimension)")
    return fan


def _check_rng(rng: object, name: str) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{name} needs a numpy Generator (the model's seeded rng), got {type(rng).__name__}")
    return rng


def _finite(value: object, name: str, positive: bool = False) -> float:
    return check_scalar(value, name, numbers.Real, min_val=0.0 if positive else None)


# -- gains ---------------------------------------------------------------------------------------------------

def calculate_gain(nonlinearity: str = "linear", param: float | None = None) -> float:
    """Recommended gain for a nonlinearity, as ``torch.nn.init.calculate_gain``.

    linear/identity/sigmoid: 1; tanh: 5/3; relu: sqrt(2); leaky_relu: sqrt(2 / (1 + slope^2)) with
    slope = param (default 0.01); selu: 3/4; gelu: sqrt(2) (not in torch's table: GELU is treated as ReLU-like).
    """
    name = "linear" if nonlinearity in (None, "identity") else nonlinearity
    if name in ("linear", "sigmoid"):
        return 1.0
    if name == "tanh":
        return 5.0 / 3.0
    if name in ("relu", "gelu"):
        return math.sqrt(2.0)
    if name == "leaky_relu":
        slope = 0.01 if param is None else _finite(param, "leaky_relu negative slope")
        return math.sqrt(2.0 / (1.0 + slope * slope))
    if name == "selu":
        return 0.75
    raise ValueError(f"unknown nonlinearity {nonlinearity!r}; expected one of linear, identity, sigmoid, tanh, "
                     "relu, gelu, leaky_relu, selu")


# -- fixed values ----------------------------------------------------------------------------------------------

def _warn_symmetric(shape: tuple[int, ...], what: str) -> None:
    if len(shape) >= 2 and shape[-1] > 1:
        warnings.warn(
            f"{what} initialization of a weight matrix of shape {shape}: every unit of the layer computes the "
            "same output and receives the same gradient, so the units stay identical during training (the "
            "symmetry problem). Use a random initializer such as 'auto', 'he_normal' or 'xavier_uniform' for "
            "weights; constant values are meant for biases.", SymmetryWarning, stacklevel=3)


def zeros(shape: ShapeLike, rng: np.random.Generator | None = None, **_: Any) -> np.ndarray:
    """All zeros. Warns for a weight matrix (symmetry problem)."""
    shape = _shape(shape)
    _warn_symmetric(shape, "zeros")
    return np.zeros(shape)


def constant(shape: ShapeLike, rng: np.random.Generator | None = None, value: float = 0.0, **_: Any) -> np.ndarray:
    """All ``value``. Warns for a weight matrix (symmetry problem)."""
    shape = _shape(shape)
    value = _finite(value, "constant value")
    _warn_symmetric(shape, f"constant ({value:g})")
    return np.full(shape, value, dtype=np.float64)


# -- fixed variance ------------------------------------------------------------------------------------------

def normal(shape: ShapeLike, rng: np.random.Generator, std: float = 0.01, mean: float = 0.0, **_: Any) -> np.ndarray:
    """N(mean, std^2), not truncated."""
    shape = _shape(shape)
    std, mean = _finite(std, "normal std", positive=True), _finite(mean, "normal mean")
    return mean + std * _check_rng(rng, "normal").standard_normal(shape)


def uniform(shape: ShapeLike, rng: np.random.Generator, r: float | None = None, std: float | None = None,
            **_: Any) -> np.ndarray:
    """U(-r, r). Give ``r`` or ``std``: the variance of U(-r, r) is r^2 / 3, so ``std=sigma`` uses r = sqrt(3) sigma.

    Default r = sqrt(3) * 0.01 (variance 1e-4, like ``normal``'s default).
    """
    shape = _shape(shape)
    if r is not None and std is not None:
        raise ValueError("uniform takes either r (the half-width) or std, not both")
    if r is None:
        r = math.sqrt(3.0) * (0.01 if std is None else _finite(std, "uniform std", positive=True))
    r = _finite(r, "uniform r", positive=True)
    return _check_rng(rng, "uniform").uniform(-r, r, shape)


# -- variance scaling ------------------------------------------------------------------------------------------

def _scaled_normal(shape: ShapeLike, rng: np.random.Generator, std: float, name: str) -> np.ndarray:
    return std * _check_rng(rng, name).standard_normal(shape)


def _scaled_uniform(shape: ShapeLike, rng: np.random.Generator, std: float, name: str) -> np.ndarray:
    bound = math.sqrt(3.0) * std
    return _check_rng(rng, name).uniform(-bound, bound, shape)


def _xavier_std(shape: ShapeLike, gain: float, name: str) -> float:
    fan_in, fan_out = _fans(shape)
    gain = _finite(gain, f"{name} gain", positive=True)
    return gain * math.sqrt(2.0 / _positive_fan(fan_in + fan_out, name))


def xavier_normal(shape: ShapeLike, rng: np.random.Generator, gain: float = 1.0, **_: Any) -> np.ndarray:
    """N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    shape = _shape(shape)
    return _scaled_normal(shape, rng, _xavier_std(shape, gain, "xavier_normal"), "xavier_normal")


def xavier_uniform(shape: ShapeLike, rng: np.random.Generator, gain: float = 1.0, **_: Any) -> np.ndarray:
    """U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)) (= sqrt(3) * xavier_normal's std)."""
    shape = _shape(shape)
    return _scaled_uniform(shape, rng, _xavier_std(shape, gain, "xavier_uniform"), "xavier_uniform")


LOGISTIC_GAIN = 4.0  # 1 / sigma'(0): the logistic function's slope at 0 is 1/4


def xavier_normal_logistic(shape: ShapeLike, rng: np.random.Generator, **_: Any) -> np.ndarray:
    """``xavier_normal`` with gain 4 for the logistic function: std = 4 * sqrt(2 / (fan_in + fan_out))."""
    return xavier_normal(shape, rng, gain=LOGISTIC_GAIN)


def xavier_uniform_logistic(shape: ShapeLike, rng: np.random.Generator, **_: Any) -> np.ndarray:
    """``xavier_uniform`` with gain 4 for the logistic function: U(-a, a), a = 4 * sqrt(6 / (fan_in + fan_out))
    (the chapter's interval for a logistic layer)."""
    return xavier_uniform(shape, rng, gain=LOGISTIC_GAIN)


def _he_std(shape: ShapeLike, mode: str, nonlinearity: str, a: float, name: str) -> float:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{name} mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(shape)
    fan = _positive_fan(fan_in if mode == "fan_in" else fan_out, name)
    gain = calculate_gain(nonlinearity, a if nonlinearity == "leaky_relu" else None)
    return gain / math.sqrt(fan)


def he_normal(shape: ShapeLike, rng: np.random.Generator, mode: str = "fan_in", nonlinearity: str = "relu",
              a: float = 0.0, **_: Any) -> np.ndarray:
    """N(0, std^2), std = calculate_gain(nonlinearity, a) / sqrt(fan); sqrt(2 / fan_in) for ReLU."""
    shape = _shape(shape)
    return _scaled_normal(shape, rng, _he_std(shape, mode, nonlinearity, a, "he_normal"), "he_normal")


def he_uniform(shape: ShapeLike, rng: np.random.Generator, mode: str = "fan_in", nonlinearity: str = "relu",
               a: float = 0.0, **_: Any) -> np.ndarray:
    """U(-b, b), b = sqrt(3) * calculate_gain(nonlinearity, a) / sqrt(fan); sqrt(6 / fan_in) for ReLU."""
    shape = _shape(shape)
    return _scaled_uniform(shape, rng, _he_std(shape, mode, nonlinearity, a, "he_uniform"), "he_uniform")


def _lecun_std(shape: ShapeLike, name: str) -> float:
    return 1.0 / math.sqrt(_positive_fan(_fans(shape)[0], name))


def lecun_normal(shape: ShapeLike, rng: np.random.Generator, **_: Any) -> np.ndarray:
    """N(0, 1 / fan_in)."""
    shape = _shape(shape)
    return _scaled_normal(shape, rng, _lecun_std(shape, "lecun_normal"), "lecun_normal")


def lecun_uniform(shape: ShapeLike, rng: np.random.Generator, **_: Any) -> np.ndarray:
    """U(-b, b), b = sqrt(3 / fan_in)."""
    shape = _shape(shape)
    return _scaled_uniform(shape, rng, _lecun_std(shape, "lecun_uniform"), "lecun_uniform")


# -- orthogonal ------------------------------------------------------------------------------------------------

def orthogonal(shape: ShapeLike, rng: np.random.Generator, gain: float = 1.0, **_: Any) -> np.ndarray:
    """gain * U V^T from the SVD A = U S V^T of a Gaussian A of the target shape (flattened to (prod(shape[:-1]),
    shape[-1])). Tall/square: W^T W = gain^2 I; wide: W W^T = gain^2 I."""
    shape = _shape(shape)
    if len(shape) < 2:
        raise ValueError(f"orthogonal initialization needs at least 2 dimensions, got shape {shape}")
    gain = _finite(gain, "orthogonal gain", positive=True)
    rows, cols = _fans(shape)
    if rows == 0 or cols == 0:
        return np.zeros(shape)
    a = _check_rng(rng, "orthogonal").standard_normal((rows, cols))
    u, _s, vt = np.linalg.svd(a, full_matrices=False)  # u (rows, k), vt (k, cols), k = min(rows, cols)
    return (gain * (u @ vt)).reshape(shape)


# -- auto ----------------------------------------------------------------------------------------------------

_RELU_FAMILY = ("relu", "leaky_relu", "gelu")
_SQUASHING = ("tanh", "sigmoid")


def auto(shape: ShapeLike, rng: np.random.Generator, activation: str = "identity", alpha: float = 0.01,
         **options: Any) -> np.ndarray:
    """He (normal) for the ReLU family (for leaky_relu with its slope ``alpha``: PyTorch's gain
    sqrt(2 / (1 + alpha^2))), Xavier (uniform) for tanh/sigmoid, LeCun (normal) for a linear output. ``options``
    go to the chosen one; an option it does not take is refused (ValueError)."""
    chosen: Initializer
    defaults: dict[str, Any]
    if activation in _RELU_FAMILY:
        chosen, defaults = he_normal, ({"nonlinearity": "leaky_relu", "a": alpha} if activation == "leaky_relu"
                                       else {})
    elif activation in _SQUASHING:
        chosen, defaults = xavier_uniform, {}
    else:
        chosen, defaults = lecun_normal, {}
    unknown = sorted(set(options) - option_names(chosen))
    if unknown:
        raise ValueError(f"init 'auto' chose {chosen.__name__} for activation {activation!r}, which takes no option "
                         f"{unknown[0]!r} (its options: {sorted(option_names(chosen)) or 'none'})")
    return chosen(shape, rng, **{**defaults, **options})


def option_names(fn: Initializer) -> set[str]:
    """The options an initializer of this module takes by name (``auto``: any of its choices'), besides the shape,
    the generator and what a layer passes every initializer (``activation``, ``alpha``), which the others ignore."""
    if fn is auto:
        return {"activation", "alpha"} | option_names(he_normal) | option_names(xavier_uniform)
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {p.name for p in inspect.signature(fn).parameters.values() if p.kind in kinds} - {"shape", "rng"}


INITIALIZERS: dict[str, Initializer] = {
    "zeros": zeros, "constant": constant, "normal": normal, "uniform": uniform,
    "xavier_normal": xavier_normal, "xavier_uniform": xavier_uniform,
    "xavier_normal_logistic": xavier_normal_logistic, "xavier_uniform_logistic": xavier_uniform_logistic,
    "he_normal": he_normal, "he_uniform": he_uniform,
    "lecun_normal": lecun_normal, "lecun_uniform": lecun_uniform,
    "orthogonal": orthogonal, "auto": auto,
}
# Keras's and PyTorch's names for the same variance scalings. Keras draws its *_normal initializers from a
# truncated normal rescaled to that variance; fastnn from the plain normal (PyTorch's choice).
ALIASES = {"glorot_uniform": "xavier_uniform", "glorot_normal": "xavier_normal", "kaiming_uniform": "he_uniform",
           "kaiming_normal": "he_normal"}
INITIALIZERS.update({alias: INITIALIZERS[name] for alias, name in ALIASES.items()})


def _real(value: object, name: str) -> float:
    return _finite(value, name)


def _nonnegative(value: object, name: str) -> float:
    return _finite(value, name, positive=True)


def _mode(value: object, name: str) -> object:
    if value not in ("fan_in", "fan_out"):
        raise ValueError(f"{name} must be 'fan_in' or 'fan_out', got {value!r}")
    return value


def _nonlinearity(value: Any, name: str) -> object:
    try:
        calculate_gain(value)
    except ValueError as exc:  # an unknown one: the message lists the known
        raise ValueError(f"{name}: {exc}") from None
    return value


def _activation(value: object, name: str) -> object:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be an activation name such as 'relu', got {value!r}")
    return value


# What each option of this module's initializers takes, checked when an Init binds it (an option means the same in
# every initializer that has it); None only where the initializer's default is None (uniform's r and std).
_OPTION_CHECKS: dict[str, Callable[[object, str], object]] = {
    "value": _real, "mean": _real, "std": _nonnegative, "r": _nonnegative, "gain": _nonnegative, "a": _real,
    "alpha": _real, "mode": _mode, "nonlinearity": _nonlinearity, "activation": _activation}


class Init:
    """A named initializer with bound options: ``Init("normal", std=0.1)(shape, rng)``.

    Serializable: ``get_config()`` gives ``{"name": ..., **options}`` and ``get()`` accepts that dict back.
    Option values are checked here (TypeError, ValueError naming the option), not when a model is built.
    """

    def __init__(self, name: str, **options: Any) -> None:
        if name not in INITIALIZERS:
            raise ValueError(f"unknown initializer {name!r}; expected one of {sorted(INITIALIZERS)}")
        accepted = option_names(INITIALIZERS[name])
        unknown = sorted(set(options) - accepted)
        if unknown:  # a misspelt option would otherwise be dropped, and the default distribution drawn
            raise ValueError(f"initializer {name!r} takes no option {unknown[0]!r} (its options: "
                             f"{sorted(accepted) or 'none'})")
        # numpy scalars (np.float32(0.1) from a config computed with numpy) as Python numbers: get_config goes into
        # the model file's JSON, which refused them only when the trained model was saved
        options = {k: v.item() if isinstance(v, np.generic) else v for k, v in options.items()}
        for key, value in options.items():
            if not (value is None and key in ("r", "std") and name == "uniform"):
                _OPTION_CHECKS[key](value, f"initializer {name!r} option {key}")
        if name == "uniform" and options.get("r") is not None and options.get("std") is not None:
            raise ValueError("initializer 'uniform' takes either r (the half-width) or std, not both")
        self.name = name
        self.options = options
        self._fn = INITIALIZERS[name]

    def __call__(self, shape: ShapeLike, rng: np.random.Generator, **options: Any) -> np.ndarray:
        # Bound options win over the ones the layer passes (e.g. Dense's activation), except where unset.
        return self._fn(shape, rng, **{**options, **self.options})

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, **self.options}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Init) and self.get_config() == other.get_config()

    def __repr__(self) -> str:
        opts = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"Init({self.name!r}{opts})"


def call_for_layer(fn: Initializer, shape: ShapeLike, rng: np.random.Generator, **layer: Any) -> np.ndarray:
    """``fn(shape, rng, **layer)``, ``layer`` being what a layer tells every initializer (Dense: ``activation``,
    ``alpha``), less the keywords a user's callable does not take: ``fn(shape, rng)`` is an initializer too."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a callable without a signature (a builtin): positional arguments only
        return fn(shape, rng)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return fn(shape, rng, **layer)
    return fn(shape, rng, **{k: v for k, v in layer.items() if k in params})


# What Dense(init=...) accepts: a name, an Init, its config dict, or an initializer callable.
InitSpec = str | Init | dict[str, Any] | Initializer


def get(init: InitSpec) -> Initializer:
    """Resolve an initializer: a name from ``INITIALIZERS``, an ``Init``, a config dict ``{"name": ..., **opts}``
    or any callable ``fn(shape, rng, **options)``."""
    if isinstance(init, dict):
        if "name" not in init:
            raise ValueError(f"an initializer config must have a 'name' key, got {init!r}")
        return Init(**init)
    if callable(init):
        return init
    if isinstance(init, str):
        try:
            return INITIALIZERS[init]
        except KeyError:
            pass
    raise ValueError(f"unknown initializer {init!r}; expected one of {sorted(INITIALIZERS)}, an Init, "
                     "or a callable fn(shape, rng, **options)")
