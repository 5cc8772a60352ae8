"""Fully connected layer: y = act(x @ W + b), W stored (in, out)."""
from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from .. import init as _init
from .._registry import class_config
from ..ops import dense as ops
from ..ops import gemm as _gemm
from ..validation import check_scalar
from .base import Layer, StepContext, Workspace, register


def check_activation(name: str | None) -> str:
    name = "identity" if name in (None, "linear") else name
    ops.activation_code(name)  # raises on an unknown name
    return name


def kernel_ready(a: object, dtype: np.dtype | None, shape: tuple[int, ...]) -> bool:
    """Whether ``a`` is what the kernels take unchecked: an aligned C-contiguous array of ``dtype`` and ``shape``."""
    return (isinstance(a, np.ndarray) and a.dtype == dtype and a.shape == shape and a.flags.c_contiguous
            and a.flags.aligned)


@dataclass(eq=False)
class DenseWorkspace(Workspace):
    """z = x @ W (+ b, activated in place unless GELU, whose derivative needs z: then y is its own buffer);
    x is the forward input, kept for dW = x^T dz."""
    z: np.ndarray
    y: np.ndarray
    dx: np.ndarray
    x: np.ndarray | None = None
    x_ready: bool = False  # x is what the kernels take as is (see Dense.forward): its products skip the checks


@register
class Dense(Layer[DenseWorkspace]):
    """Fully connected layer ``y = act(x @ W + b)`` with W of shape (in, out).

    Forward is one matmul into a preallocated buffer plus ONE fused C pass for bias and activation; backward
    is one fused pass for the activation derivative and the bias gradient (column sums in double), then
    ``dW = x^T dz`` straight into the flat gradient buffer and, unless this is the first layer, ``dx = dz W^T``.
    Every matmul is fastnn's own gemm (fastnn.ops.gemm) on fastnn's thread pool, never numpy's BLAS: the output is
    cut into fixed tasks each computed by one thread, so training and predictions are the same bits for any
    thread count (on one machine).

    Penalties ``l1``/``l2`` act on W only (Keras convention): they add ``l1 * sum|W| + l2 * sum W^2`` to the loss
    and ``l1 * sign(W) + 2 * l2 * W`` to its gradient. For plain SGD, ``l2 = wd / 2`` gives the same update as
    the optimizer's coupled ``weight_decay = wd``; unlike weight decay, the penalty is part of the reported loss
    and, under Adam, is rescaled by the adaptive denominators like any other gradient (AdamW's decoupled decay
    is not).
    """

    def __init__(self, units: int, activation: str | None = None, init: _init.InitSpec = "auto",
                 use_bias: bool = True, l1: float = 0.0, l2: float = 0.0, alpha: float = 0.01) -> None:
        super().__init__()
        self.units = check_scalar(units, "Dense units", Integral, min_val=1, error=ValueError)
        self.l1, self.l2, self.alpha = (check_scalar(v, f"Dense {name}", Real, min_val=0.0, error=ValueError)
                                        for name, v in (("l1", l1), ("l2", l2), ("alpha", alpha)))
        self.activation = check_activation(activation)
        self.init = init
        self._init_fn = _init.get(init)
        self.use_bias = check_scalar(use_bias, "Dense use_bias", bool)  # "no" would be truthy
        self.runtime_activation = self.activation  # an activation layer right after may be fused in here

    def get_config(self) -> dict[str, Any]:
        init = self.init if isinstance(self.init, (str, dict)) else getattr(self.init, "get_config", None)
        if init is None:
            raise ValueError("a Dense layer with a custom init callable cannot be serialized; use an init name "
                             "or fastnn.init.Init(name, **options)")
        init = init() if callable(init) else init
        return class_config(self, units=self.units, activation=self.activation, init=init, use_bias=self.use_bias,
                            l1=self.l1, l2=self.l2, alpha=self.alpha)

    def build(self, in_dim: int, dtype: DTypeLike) -> int:
        super().build(in_dim, dtype)
        self.out_dim = self.units
        return self.out_dim

    def param_specs(self) -> list[tuple[str, tuple[int, ...], str]]:
        specs: list[tuple[str, tuple[int, ...], str]] = [("W", (self.built_in_dim, self.units), "weight")]
        if self.use_bias:
            specs.append(("b", (self.units,), "bias"))
        return specs

    def init_params(self, rng: np.random.Generator) -> None:
        W = _init.call_for_layer(self._init_fn, (self.built_in_dim, self.units), rng,
                                 activation=self.runtime_activation, alpha=self.alpha)
        self.params["W"][...] = W
        if self.use_bias:
            self.params["b"][...] = 0

    def workspace(self, batch: int) -> DenseWorkspace:
        z = np.empty((batch, self.units), self.dtype)
        # Only GELU's derivative needs the pre-activation; every other activation runs in place.
        y = np.empty_like(z) if self.runtime_activation == "gelu" else z
        return DenseWorkspace(z=z, y=y, dx=np.empty((batch, self.built_in_dim), self.dtype))

    def forward(self, x: np.ndarray, ws: DenseWorkspace, ctx: StepContext) -> np.ndarray:
        # The workspace buffers and parameters are the layer's own; only x comes from outside. When it is a
        # C-contiguous aligned batch of the layer's dtype and width (every batch inside fit and predict), the
        # kernels take it unchecked: the checks cost more than a small batch's elementwise work.
        ws.x = x
        ws.x_ready = kernel_ready(x, self.dtype, (ws.z.shape[0], self.built_in_dim))
        _gemm.gemm(x, self.params["W"], ws.z, check=not ws.x_ready)
        ops.bias_act_forward(ws.z, self.params.get("b"), ws.y, self.runtime_activation, self.alpha, check=False)
        return ws.y

    def backward(self, dy: np.ndarray, ws: DenseWorkspace, ctx: StepContext, need_dx: bool) -> np.ndarray | None:
        assert ws.x is not None, "backward runs after forward"
        dz = dy  # overwritten in place: dy is consumed here
        # dy is the loss's or the next layer's buffer inside a step: then it needs no checks (as x in forward)
        dy_ready = kernel_ready(dy, self.dtype, ws.z.shape) and dy.flags.writeable
        ops.act_backward(dy, ws.y, ws.z, dz, self.grads.get("b"), self.runtime_activation, self.alpha,
                         check=not dy_ready)
        updates = ctx.weight_updates
        if updates is not None and updates.covers(self):
            # the step updates W inside its gradient's product: dx reads the old W first
            if need_dx:
                _gemm.gemm(dz, self.params["W"].T, ws.dx, check=False)
            updates.weight_gradient(self, ws.x.T, dz, check=not ws.x_ready)
            return ws.dx if need_dx else None
        _gemm.gemm(ws.x.T, dz, self.grads["W"], check=not ws.x_ready)
        if not need_dx:
            return None
        _gemm.gemm(dz, self.params["W"].T, ws.dx, check=False)
        return ws.dx

    def has_penalty(self) -> bool:
        return self.l1 != 0 or self.l2 != 0

    def fused_weight(self) -> str | None:
        return "W"

    def penalty(self, with_grad: bool = True) -> float:
        """l1 * sum|W| + l2 * sum W^2; with_grad also adds its gradient into the W gradient."""
        if self.l1 == 0 and self.l2 == 0:
            return 0.0
        return ops.weight_penalty(self.params["W"], self.grads["W"] if with_grad else None, self.l1, self.l2)
