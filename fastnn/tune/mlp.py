"""The chapter's architecture space for MLPs: :func:`mlp_space` (the domains) and :func:`build_mlp` (a sampled
point -> a model and the arguments of its ``fit``).

The chapter lists the hyperparameters of a network: the number of layers, the neurons per layer, the activation,
the learning rate and each optimizer's own parameters, the regularization coefficients and the mini-batch size.
``mlp_space`` adds normalization (none / batch / layer) and dropout, and names them:

=============  ===========================================================================  ================
name           meaning                                                                       default domain
=============  ===========================================================================  ================
depth          hidden layers                                                                 Int(1, 3)
width_k        units of hidden layer k (1-based), present only when depth >= k              Int(16, 512, log)
activation     hidden activation                                                             relu, tanh
norm           "none", "batch" (BatchNorm) or "layer" (LayerNorm) after each hidden Dense    all three
dropout        Dropout p after each hidden layer (0: no Dropout layer)                       Uniform(0, 0.5)
optimizer      "sgd", "adam", "rmsprop" (any fastnn.optim name)                             sgd, adam, rmsprop
momentum       SGD momentum, present only when optimizer == "sgd"                            Uniform(0, 0.99)
lr             learning rate                                                                 LogUniform(1e-4, 0.3)
l2             L2 penalty coefficient on every Dense W (the chapter's weight decay)          LogUniform(1e-6, 1e-2)
batch_size     mini-batch size                                                               32, 64, 128, 256
schedule       "constant" or "cosine" (decays to 0 over the trial's maximum budget)         constant
=============  ===========================================================================  ================

Each argument of ``mlp_space`` takes a ``(low, high)`` pair (a range), a list (a choice), a single value (fixed),
or a fastnn.tune domain.

How this relates to neural architecture search: it is NAS in the chapter's sense (a search over a fixed, small
family of architectures -- a chain of Dense blocks whose depth, widths, activation and normalization are
hyperparameters -- with the same searchers as any other hyperparameter). NAS proper (Zoph & Le 2017, DARTS, ...)
searches a much larger space of cell graphs (which operation feeds which), with search strategies built for it
(reinforcement learning controllers, evolution, weight sharing, continuous relaxations); none of that is here.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any

from ..layers import GELU, BatchNorm, Dense, Dropout, LayerNorm, LeakyReLU, ReLU, Sigmoid, Tanh
from ..layers.activations import Activation
from ..models import Sequential
from ..optim import get as get_optimizer
from ..schedules import Cosine
from ..validation import check_scalar
from .space import Choice, Domain, Int, LogUniform, Uniform

NORMS = ("none", "batch", "layer")
SCHEDULES = ("constant", "cosine")
_ACTIVATION_LAYERS: dict[str, type[Activation]] = {cls.activation: cls
                                                    for cls in (ReLU, LeakyReLU, Sigmoid, Tanh, GELU)}
_NORM_LAYERS = {"batch": BatchNorm, "layer": LayerNorm}


def _domain(name: str, spec: Any, continuous: type, integer: bool = False, log: bool = False,
            when: Mapping[str, Any] | None = None) -> Any:
    """A domain from an mlp_space argument: a (low, high) tuple -> a range, a list -> a Choice, a domain -> as
    given, anything else -> a constant; ``when`` (a condition, see fastnn.tune.space) is added to a domain. A fixed
    value under a condition is a one-value Choice with it: a constant is in every point, and width_3 = 64 at depth
    1, or momentum for Adam, broke the promise that a point holds only its active parameters."""
    if isinstance(spec, Domain):
        if not when:
            return spec
        spec = copy.copy(spec)
        spec.when = {**spec.when, **Domain(when).when}
        return spec
    if isinstance(spec, tuple):
        if len(spec) != 2:
            raise ValueError(f"mlp_space {name}: a range is a (low, high) pair, got {spec!r}")
        if integer:
            return Int(spec[0], spec[1], log=log, when=when)
        return continuous(spec[0], spec[1], when=when)
    if isinstance(spec, list):
        if not spec:
            raise ValueError(f"mlp_space {name}: an empty list of choices")
        return Choice(spec, when=when) if len(spec) > 1 or when else spec[0]
    return Choice([spec], when=when) if when else spec


def mlp_space(depth: Any = (1, 3), width: Any = (16, 512), activation: Any = ("relu", "tanh"),
              norm: Any = NORMS, dropout: Any = (0.0, 0.5), optimizer: Any = ("sgd", "adam", "rmsprop"),
              momentum: Any = (0.0, 0.99), lr: Any = (1e-4, 0.3), l2: Any = (1e-6, 1e-2),
              batch_size: Any = (32, 64, 128, 256), schedule: Any = "constant",
              width_log: bool = True) -> dict[str, Any]:
    """The architecture-and-training space of the chapter (see the module docstring for every name).

    Numeric arguments take a ``(low, high)`` pair (a range: depth and width integers, width log-spaced unless
    ``width_log=False``, lr and l2 log-uniform, dropout and momentum uniform), a list (a Choice), a single value
    (fixed) or a fastnn.tune domain; activation, norm, optimizer, batch_size and schedule take a list or tuple of
    choices or a single value. Optimizer names are lower-cased (``"SGD"`` is ``"sgd"``, as everywhere in fastnn).
    ``width_k`` is conditional on ``depth >= k`` and ``momentum`` on ``optimizer == "sgd"``: a sampled point
    holds only the parameters that are active (a fixed width or momentum too: it becomes ``Choice([value])`` under
    the condition, so ``width=64`` gives width_2 = 64 only at depth >= 2)."""
    space: dict[str, Any] = {"depth": _domain("depth", depth, Uniform, integer=True)}
    depths = _values("depth", space["depth"])
    for k in range(1, max(depths) + 1):
        deeper = [d for d in depths if d >= k]
        space[f"width_{k}"] = _domain("width", width, Uniform, integer=True, log=width_log,
                                      when=None if len(deeper) == len(depths) else {"depth": deeper})
    space["activation"] = _choices("activation", activation)
    space["norm"] = _choices("norm", norm)
    space["dropout"] = _domain("dropout", dropout, Uniform)
    space["optimizer"] = _lower_case(_choices("optimizer", optimizer))  # "SGD" is "sgd", as in fastnn.optim.get
    optimizers = _values("optimizer", space["optimizer"])
    if "sgd" in optimizers:
        space["momentum"] = _domain("momentum", momentum, Uniform,
                                    when=None if optimizers == ["sgd"] else {"optimizer": ["sgd"]})
    space["lr"] = _domain("lr", lr, LogUniform)
    space["l2"] = _domain("l2", l2, LogUniform)
    space["batch_size"] = _choices("batch_size", batch_size)
    space["schedule"] = _choices("schedule", schedule)
    _check_values(space)
    return space


def _check_values(space: dict[str, Any]) -> None:
    """Build a model at every choice and at both ends of every range (a Uniform's high end excluded, as its
    draws are), with the parents that make the parameter active: a value build_mlp would refuse in every trial
    that draws it is refused here, before any trial runs."""
    for name, domain in space.items():
        if isinstance(domain, Choice):
            values = list(domain.values)
        elif isinstance(domain, Int):
            values = [domain.low, domain.high]
        elif isinstance(domain, Domain):
            values = [domain.decode(0.0), domain.decode(1.0 - 1e-9)]
        else:
            values = [domain]
        parents = {parent: allowed[0] for parent, allowed in getattr(domain, "when", {}).items()}
        for value in values:
            point = {**parents, name: value}
            if name.startswith("width_"):
                point["depth"] = int(name[len("width_"):])
            depth = point.get("depth", 1)  # a model of that depth needs every width up to it
            if isinstance(depth, int):
                point = {**{f"width_{j}": 4 for j in range(1, depth + 1)}, **point}
            try:
                build_mlp(point, input_dim=2, n_outputs=2, max_epochs=1, n_train=2)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"mlp_space {name}={value!r}: {exc}") from None


def _lower_case(domain: Any) -> Any:
    """Names lower-cased, once, in a constant or a Choice (its values, its condition kept)."""
    if isinstance(domain, str):
        return domain.lower()
    if isinstance(domain, Choice):
        return Choice([v.lower() if isinstance(v, str) else v for v in domain.values], when=domain.when)
    return domain


def _choices(name: str, spec: Any) -> Any:
    """A Choice from a list or tuple of values (one value: a constant)."""
    return _domain(name, list(spec) if isinstance(spec, tuple) else spec, Uniform)


def _values(name: str, domain: Any) -> list[Any]:
    """The values a parent domain takes (a constant: itself); a parent must be discrete."""
    if isinstance(domain, Choice):
        return list(domain.values)
    if isinstance(domain, Int):
        return list(range(domain.low, domain.high + 1))
    if isinstance(domain, Domain):
        raise TypeError(f"mlp_space {name}: other parameters depend on it, so it must be a Choice or an Int, "
                        f"got {domain!r}")
    if name == "depth":
        check_scalar(domain, "mlp_space depth", Integral, min_val=0, error=ValueError)
    return [domain]


def build_mlp(params: Mapping[str, Any], input_dim: int, n_outputs: int, *, loss: str = "cross_entropy",
              dtype: str = "float32", seed: int = 0, max_epochs: int | None = None,
              n_train: int | None = None) -> tuple[Sequential, dict[str, Any]]:
    """A model and its ``fit`` keyword arguments (loss, optimizer, batch_size, seed, drop_last) for a point of
    :func:`mlp_space` (a missing name takes the default in brackets).

    Each hidden layer k = 1..depth [1] is ``Dense(width_k [64], l2=l2 [0])``, then the norm layer if norm
    ["none"] is "batch" or "layer", then the activation ["relu"] (fused into the Dense when there is no norm),
    then ``Dropout(dropout)`` if dropout [0] > 0; the output layer is ``Dense(n_outputs, l2=l2)``. optimizer
    ["sgd"] is built by fastnn.optim.get with lr [0.01] (and momentum [0] for SGD). With norm "batch" the fit
    drops the last short batch (a batch of one has no variance). schedule "cosine" decays lr to 0 over
    ``max_epochs`` epochs of ``n_train`` rows (both required then): the trial's maximum budget, so a run that is
    continued from a shorter budget follows the same schedule as one trained to the end in one go.
    """
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict of hyperparameters, got {type(params).__name__}")
    input_dim = check_scalar(input_dim, "input_dim", Integral, min_val=1, error=ValueError)
    n_outputs = check_scalar(n_outputs, "n_outputs", Integral, min_val=1, error=ValueError)
    depth = check_scalar(params.get("depth", 1), "depth", Integral, min_val=0, error=ValueError)
    activation = params.get("activation", "relu")
    if activation not in _ACTIVATION_LAYERS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATION_LAYERS)}, got {activation!r}")
    norm = params.get("norm", "none")
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    dropout = check_scalar(params.get("dropout", 0.0), "dropout", Real, min_val=0.0, max_val=1.0,
                           include_boundaries="left", error=ValueError)
    l2 = check_scalar(params.get("l2", 0.0), "l2", Real, min_val=0.0, error=ValueError)
    layers: list[Any] = []
    for k in range(1, depth + 1):
        if f"width_{k}" not in params and depth > 1:
            raise ValueError(f"params has depth={depth} but no width_{k}")
        units = params.get(f"width_{k}", 64)
        if norm == "none":
            layers.append(Dense(units, activation=activation, l2=l2))
        else:
            layers += [Dense(units, l2=l2), _NORM_LAYERS[norm](), _ACTIVATION_LAYERS[activation]()]
        if dropout > 0:
            layers.append(Dropout(dropout))
    layers.append(Dense(n_outputs, l2=l2))
    model = Sequential(layers, input_dim=input_dim, dtype=dtype, seed=seed)
    batch_size = check_scalar(params.get("batch_size", 32), "batch_size", Integral, min_val=1, error=ValueError)
    drop_last = norm == "batch"
    steps_per_epoch = None if n_train is None else _steps(n_train, int(batch_size), drop_last)
    fit_kwargs = {"loss": loss, "optimizer": _optimizer(params, max_epochs, steps_per_epoch),
                  "batch_size": int(batch_size), "seed": seed, "drop_last": drop_last}
    return model, fit_kwargs


def _optimizer(params: Mapping[str, Any], max_epochs: int | None, steps_per_epoch: int | None) -> Any:
    name = str(params.get("optimizer", "sgd"))
    lr: Any = params.get("lr", 0.01)
    schedule = params.get("schedule", "constant")
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if schedule == "cosine":
        if max_epochs is None or steps_per_epoch is None:
            raise ValueError("schedule 'cosine' needs max_epochs and n_train (its total length in steps)")
        lr = Cosine(lr, total_steps=max(1, max_epochs * steps_per_epoch))
    kwargs = {"lr": lr}
    if name.lower() == "sgd":
        kwargs["momentum"] = params.get("momentum", 0.0)
    return get_optimizer(name, **kwargs)


def _steps(n_train: int, batch_size: int, drop_last: bool) -> int:
    """Optimizer steps per epoch, as fit takes them (the last short batch dropped or not)."""
    return n_train // batch_size if drop_last else math.ceil(n_train / batch_size)


__all__ = ["mlp_space", "build_mlp", "NORMS", "SCHEDULES"]
