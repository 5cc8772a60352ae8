"""Standalone activation layers. Right after a Dense with no activation they are fused into it by the model
(one pass instead of two); elsewhere they run their own fused kernel."""
from __future__ import annotations

from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np

from .._registry import class_config
from ..ops import dense as ops
from ..validation import check_scalar
from .base import Layer, StepContext, Workspace, register


@dataclass(eq=False)
class ActivationWorkspace(Workspace):
    """y = f(x) in its own buffer (x is the previous layer's output, kept intact; GELU's derivative reads it).
    None for an activation fused into the previous Dense, which does its work."""
    y: np.ndarray | None = None
    x: np.ndarray | None = None


class Activation(Layer[ActivationWorkspace]):
    """y = f(x) elementwise; backward dx = dy * f'(x) written from y (GELU also keeps x)."""

    activation = "identity"

    def __init__(self) -> None:
        super().__init__()
        self.alpha = 0.01

    def workspace(self, batch: int) -> ActivationWorkspace:
        if self.fused_into_previous:
            return ActivationWorkspace()
        return ActivationWorkspace(y=np.empty((batch, self.built_in_dim), self.dtype))

    def forward(self, x: np.ndarray, ws: ActivationWorkspace, ctx: StepContext) -> np.ndarray:
        if self.fused_into_previous:
            return x
        assert ws.y is not None, "a workspace made for an unfused activation"
        ws.x = x
        # Keep x intact (it is the previous layer's output) and write y into our own buffer.
        ops.bias_act_forward(x, None, ws.y, self.activation, self.alpha)
        return ws.y

    def backward(self, dy: np.ndarray, ws: ActivationWorkspace, ctx: StepContext,
                 need_dx: bool) -> np.ndarray | None:
        if self.fused_into_previous:
            return dy
        assert ws.y is not None and ws.x is not None, "backward runs after forward"
        ops.act_backward(dy, ws.y, ws.x, dy, None, self.activation, self.alpha)
        return dy


@register
class ReLU(Activation):
    activation = "relu"


@register
class LeakyReLU(Activation):
    activation = "leaky_relu"

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.alpha = check_scalar(negative_slope, "LeakyReLU negative_slope", Real, min_val=0.0, error=ValueError)

    def get_config(self) -> dict[str, Any]:
        return class_config(self, negative_slope=self.alpha)


@register
class Sigmoid(Activation):
    activation = "sigmoid"


@register
class Tanh(Activation):
    activation = "tanh"


@register
class GELU(Activation):
    activation = "gelu"
