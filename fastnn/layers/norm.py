"""Normalization layers: BatchNorm (torch.nn.BatchNorm1d semantics) and LayerNorm (torch.nn.LayerNorm over the
feature axis). Forward and backward are fused C kernels (csrc/norm_tmpl.h) with statistics in double."""
from __future__ import annotations

from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np

from .._registry import class_config
from ..ops import norm as ops
from ..validation import check_scalar
from .base import Layer, StepContext, Workspace, register

F64 = np.float64


def _check_eps(eps: float) -> float:
    return check_scalar(eps, "eps", Real, min_val=0.0, include_boundaries="right", error=ValueError)


@dataclass(eq=False)
class NormWorkspace(Workspace):
    """y: the output; mean/invstd (float64): the statistics forward used, per feature (BatchNorm) or per row
    (LayerNorm); scratch: the kernels' float64 work area (LayerNorm without affine: none); x: the forward
    input, kept for backward; batch_stats: forward normalized with the batch statistics (BatchNorm in
    training), so backward differentiates through them."""
    y: np.ndarray
    mean: np.ndarray
    invstd: np.ndarray
    scratch: np.ndarray | None
    x: np.ndarray | None = None
    batch_stats: bool = True


@register
class BatchNorm(Layer[NormWorkspace]):
    """Batch normalization over the batch axis of (batch, features), as ``torch.nn.BatchNorm1d``.

    Training (``ctx.training``): each feature is normalized with the batch mean and biased variance,
    ``y = (x - mu) / sqrt(var + eps) * gamma + beta``, and the running statistics are updated:
    ``running_mean = (1 - m) running_mean + m mu``, ``running_var = (1 - m) running_var + m var * n / (n - 1)``
    (the unbiased variance), ``m = momentum`` (the weight of the new batch). ``momentum=None`` uses a cumulative
    average, ``m = 1 / num_batches_tracked`` (then ``num_batches_tracked`` is a buffer too).
    Evaluation: the running statistics replace the batch ones (a fixed affine map, foldable into a Dense).

    gamma/beta (kind "norm") are trained; running_mean/running_var are buffers: saved with the model, never
    touched by the optimizer. ``get_weights()`` gives ``[gamma, beta, running_mean, running_var]``.
    A training batch of one sample has no variance and raises a ValueError.

    ``frozen=True`` makes the layer a fixed per-feature affine map (Keras' BatchNormalization with
    ``trainable=False``): it runs the evaluation form in training too, and gamma/beta are buffers like the running
    statistics, so neither the optimizer nor the batches change them; gradients flow through it to the layers
    before. fastnn.onnx.load imports a constant per-feature Mul / Add between layers as one.
    """

    def __init__(self, momentum: float | None = 0.1, eps: float = 1e-5, affine: bool = True,
                 frozen: bool = False) -> None:
        super().__init__()
        self.momentum = check_scalar(momentum, "BatchNorm momentum", Real, min_val=0.0, max_val=1.0,
                                     allow_none=True, error=ValueError)
        self.eps = _check_eps(eps)
        self.affine = check_scalar(affine, "BatchNorm affine", bool)  # "false" would be truthy
        self.frozen = check_scalar(frozen, "BatchNorm frozen", bool)

    def get_config(self) -> dict[str, Any]:
        # frozen written only when set: a file of an ordinary BatchNorm stays readable by earlier versions
        return class_config(self, momentum=self.momentum, eps=self.eps, affine=self.affine,
                            **({"frozen": True} if self.frozen else {}))

    def _affine_specs(self) -> list[tuple[str, tuple[int, ...]]]:
        return [("gamma", (self.built_in_dim,)), ("beta", (self.built_in_dim,))] if self.affine else []

    def param_specs(self) -> list[tuple[str, tuple[int, ...], str]]:
        return [] if self.frozen else [(name, shape, "norm") for name, shape in self._affine_specs()]

    def buffer_specs(self) -> list[tuple[str, tuple[int, ...], float]]:
        f = self.built_in_dim
        specs: list[tuple[str, tuple[int, ...], float]] = []
        if self.frozen:  # gamma 1, beta 0 as init_params sets them when they are trained
            specs += [(name, shape, fill) for (name, shape), fill in zip(self._affine_specs(), (1.0, 0.0))]
        specs += [("running_mean", (f,), 0.0), ("running_var", (f,), 1.0)]
        if self.momentum is None:
            specs.append(("num_batches_tracked", (1,), 0.0))
        return specs

    def init_params(self, rng: np.random.Generator) -> None:
        if self.affine and not self.frozen:
            self.params["gamma"][...] = 1
            self.params["beta"][...] = 0

    def validate_batch(self, batch: int, training: bool) -> None:
        """Raise now (before any state changes) if a batch of this size cannot be processed."""
        if training and batch < 2 and not self.frozen:
            raise ValueError(f"BatchNorm in training mode needs more than 1 sample per batch to compute a "
                             f"variance, got a batch of {batch} (use a batch size that does not leave a last "
                             "batch of one sample, or drop it)")

    def workspace(self, batch: int) -> NormWorkspace:
        f = self.built_in_dim
        return NormWorkspace(y=np.empty((batch, f), self.dtype), mean=np.empty(f, F64), invstd=np.empty(f, F64),
                             scratch=np.empty(ops.bn_scratch_size(batch, f), F64))

    def _affine(self) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
        arrays = self.buffers if self.frozen else self.params
        return (arrays["gamma"], arrays["beta"]) if self.affine else (None, None)

    def forward(self, x: np.ndarray, ws: NormWorkspace, ctx: StepContext) -> np.ndarray:
        gamma, beta = self._affine()
        if ctx.training and not self.frozen:
            self.validate_batch(x.shape[0], True)
            if self.momentum is None:
                tracked = self.buffers["num_batches_tracked"]
                momentum = 1.0 / (float(tracked[0]) + 1.0)
            else:
                momentum = self.momentum
            ops.bn_forward_train(x, gamma, beta, ws.y, ws.mean, ws.invstd, self.buffers["running_mean"],
                                 self.buffers["running_var"], self.eps, momentum, ws.scratch)
            if self.momentum is None:
                tracked += 1
        else:
            ops.bn_forward_eval(x, gamma, beta, self.buffers["running_mean"], self.buffers["running_var"], ws.y,
                                ws.mean, ws.invstd, self.eps)
        ws.x, ws.batch_stats = x, bool(ctx.training) and not self.frozen
        return ws.y

    def backward(self, dy: np.ndarray, ws: NormWorkspace, ctx: StepContext, need_dx: bool) -> np.ndarray | None:
        assert ws.x is not None, "backward runs after forward"
        gamma, _ = self._affine()
        dgamma, dbeta = (self.grads["gamma"], self.grads["beta"]) if self.affine and not self.frozen else (None, None)
        # dx overwrites dy in place (the protocol allows it; it saves a buffer and its cache misses).
        ops.bn_backward(ws.x, dy, gamma, ws.mean, ws.invstd, dy if need_dx else None, dgamma, dbeta,
                        batch_stats=ws.batch_stats, scratch=ws.scratch)
        return dy if need_dx else None

    def scale_shift(self) -> tuple[np.ndarray, np.ndarray]:
        """Evaluation-mode transform as y = x * scale + shift (float64): scale = gamma / sqrt(running_var + eps),
        shift = beta - running_mean * scale. Used to fold the layer into a neighbouring Dense."""
        mean, scale, beta = self.centered_scale_shift()
        return scale, beta - mean * scale

    def centered_scale_shift(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Evaluation-mode transform as y = (x - mean) * scale + beta (float64): the running mean subtracted
        first, as the layer computes it (folding it into the shift cancels digits when ``abs(mean) >> std``)."""
        scale = 1.0 / np.sqrt(self.buffers["running_var"].astype(F64) + self.eps)
        beta = np.zeros_like(scale)
        gamma, shift = self._affine()
        if gamma is not None and shift is not None:
            scale, beta = scale * gamma.astype(F64), shift.astype(F64)
        return self.buffers["running_mean"].astype(F64), scale, beta


@register
class LayerNorm(Layer[NormWorkspace]):
    """Layer normalization over the feature axis of (batch, features), as ``torch.nn.LayerNorm(features)``:
    ``y = (x - mean_row) / sqrt(var_row + eps) * gamma + beta`` with the biased variance of each row. Same in
    training and evaluation. gamma/beta (kind "norm"); ``get_weights()`` gives ``[gamma, beta]``.

    Extreme rows. The row statistics are sums in double; a finite row whose squared deviations overflow them
    (float64 values beyond about 1e154) is summed again scaled by the power of two that brings its largest
    ``|x|`` into [0.5, 1), an exact rescaling: such rows get the exact, scale-invariant result (``[1, 2, 4] *
    1e200`` gives about ``[-1.07, -0.27, 1.34]``; torch gives NaN there, ONNX Runtime 0), the same in the
    model, the compiled plan (``fastnn.compile``) and training, whose gradients are those of the rescaled row
    (finite, of the order of ``1 / std``). Rows whose squared deviations underflow (float64 deviations below
    about 1e-154) have a variance below 1e-307, lost in ``var + eps`` for any eps above about 1e-290: their
    output is ``(x - mean) / sqrt(eps)``, as the formula says. Not covered: a row spanning more
    than the largest float (``x - mean`` itself overflows, values of both signs within a factor of about 2 of
    it) gives ``inf`` where ``x - mean`` does.
    """

    def __init__(self, eps: float = 1e-5, elementwise_affine: bool = True) -> None:
        super().__init__()
        self.eps = _check_eps(eps)
        self.elementwise_affine = check_scalar(elementwise_affine, "LayerNorm elementwise_affine", bool)

    def get_config(self) -> dict[str, Any]:
        return class_config(self, eps=self.eps, elementwise_affine=self.elementwise_affine)

    def param_specs(self) -> list[tuple[str, tuple[int, ...], str]]:
        if not self.elementwise_affine:
            return []
        return [("gamma", (self.built_in_dim,), "norm"), ("beta", (self.built_in_dim,), "norm")]

    def init_params(self, rng: np.random.Generator) -> None:
        if self.elementwise_affine:
            self.params["gamma"][...] = 1
            self.params["beta"][...] = 0

    def workspace(self, batch: int) -> NormWorkspace:
        f = self.built_in_dim
        scratch = np.empty(ops.ln_scratch_shape(batch, f), F64) if self.elementwise_affine else None
        return NormWorkspace(y=np.empty((batch, f), self.dtype), mean=np.empty(batch, F64),
                             invstd=np.empty(batch, F64), scratch=scratch)

    def forward(self, x: np.ndarray, ws: NormWorkspace, ctx: StepContext) -> np.ndarray:
        gamma, beta = (self.params["gamma"], self.params["beta"]) if self.elementwise_affine else (None, None)
        ops.ln_forward(x, gamma, beta, ws.y, ws.mean, ws.invstd, self.eps)
        ws.x = x
        return ws.y

    def backward(self, dy: np.ndarray, ws: NormWorkspace, ctx: StepContext, need_dx: bool) -> np.ndarray | None:
        assert ws.x is not None, "backward runs after forward"
        gamma, dgamma, dbeta = ((self.params["gamma"], self.grads["gamma"], self.grads["beta"])
                                if self.elementwise_affine else (None, None, None))
        ops.ln_backward(ws.x, dy, gamma, ws.mean, ws.invstd, dy if need_dx else None, dgamma, dbeta, ws.scratch)
        return dy if need_dx else None
