"""The training step of a network of Dense layers in one C call (fastnn._ext.chain): issue 11 item 3's per-step
fixed cost.

A step of the general path makes about fifteen kernel calls for three Dense layers, each behind a Python layer
method and its checks: a ``fit`` step took 40 us on an 8-8-8-2 network whose kernels cost next to nothing, 19 us
through the chain (bench/RESULTS.md, sixteenth session). The chain makes the same kernel calls, in the same order
with the same arguments, so the same bits, from one C function: the model's layers, workspaces and the optimizer's
row-update contexts are bound into a program once per batch size, and a step passes only the batch, its labels
and this step's thread shares. A program is rebuilt when what it binds or was built from changes between steps (the
buffers, the optimizer's update contexts, the parallel threshold, the label smoothing, a layer's activation or
slope). Thread counts are decided as the general path decides them (``threads_for`` of each call's work,
fastnn._config.work_class), once a step instead of once a call.

It applies (:meth:`ChainPrograms.step` returns None otherwise, and the step takes the general path) when:
- every layer is a Dense, or an activation fused into the Dense before it, and the first is a Dense, in a model
  whose step is Sequential's own (no subclass of the model or of these layers overrides a method the step runs
  through: the chain would skip the override);
- the step applies the weight updates inside the products (fastnn.training.step: no penalty, no norm clipping,
  at most ``FUSE_MAX_BATCH`` rows) and the optimizer sets no thread count of its own;
- the loss is CrossEntropy on integer labels without row weights, and fit reads no outputs (no metric beyond
  accuracy);
- the batch is an aligned C-contiguous array of the model's dtype and width (every batch of fit).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .._config import class_shares, parallel_threshold, work_class
from .._ext import chain as _chain
from ..layers.activations import Activation
from ..layers.base import StepContext, keeps_methods
from ..layers.dense import Dense, kernel_ready
from ..losses import CrossEntropy
from ..ops import dense as _dense
from ..ops import gemm as _gemm
from ..ops import loss as _loss

if TYPE_CHECKING:
    from ..ops.optim import TensorUpdates
    from ..optim.fused import FusedStep
    from .interface import TrainableModel


class _Program:
    """A chain program with what it points into (compared by identity) and the settings it was built with: rebuilt
    when any of them changes."""
    __slots__ = ("chain", "workspace", "weights", "rest", "threshold", "smoothing", "activations", "classes")

    def __init__(self, chain: _chain.DenseChain, workspace: tuple[list[Any], np.ndarray], weights: TensorUpdates,
                 rest: TensorUpdates, threshold: int, smoothing: float, activations: list[tuple[str, float]],
                 classes: set[int]) -> None:
        self.chain, self.workspace, self.weights, self.rest = chain, workspace, weights, rest
        self.threshold, self.smoothing, self.activations, self.classes = threshold, smoothing, activations, classes

    def serves(self, workspace: tuple[list[Any], np.ndarray], fused: FusedStep, loss: CrossEntropy,
               layers: list[Dense]) -> bool:
        return (self.workspace is workspace and self.weights is fused.weights and self.rest is fused.rest
                and self.threshold == parallel_threshold() and self.smoothing == loss.label_smoothing
                and self.activations == activations(layers))


def activations(layers: list[Dense]) -> list[tuple[str, float]]:
    """Each layer's activation and slope as its next step would apply them (a callback may change them)."""
    return [(layer.runtime_activation, layer.alpha) for layer in layers]


def chain_layers(model: TrainableModel) -> list[Dense] | None:
    """The Dense layers of ``model`` when its training step can run as one chain (module docstring), else None:
    a model whose step is Sequential's own (``standard_step``: no subclass overrides a method the step runs
    through) of Dense layers and activations fused into them, none of a subclass that overrides what it does."""
    layers = getattr(model, "layers", None)
    standard_step = getattr(model, "standard_step", None)
    if not layers or type(layers[0]) is not Dense or standard_step is None or not standard_step():
        return None
    dense = []
    for layer in layers:
        if type(layer) is Dense:
            dense.append(layer)
        elif not (isinstance(layer, Activation) and layer.fused_into_previous
                  and keeps_methods(layer, Activation, ("forward", "backward"))):
            return None
    return dense


class ChainPrograms:
    """The chain programs of one ``fit`` (a :class:`~fastnn.training.step.StepGuard` holds them), by batch size."""

    def __init__(self, model: TrainableModel) -> None:
        self.model = model
        self.layers = chain_layers(model)
        self._programs: dict[int, _Program] = {}

    def step(self, xb: np.ndarray, targets: Any, loss: Any, ctx: StepContext, fused: FusedStep,
             stop_if_nonfinite: bool) -> tuple[float, int, int, bool] | None:
        """The step in one call: (summed loss, correct count, gradient elements value clipping changed, whether it
        was applied: False only for a loss that is not finite with ``stop_if_nonfinite``, before any update).
        None when the chain does not apply to this step (nothing was done)."""
        if (self.layers is None or ctx.observe is not None or type(loss) is not CrossEntropy
                or fused.rest_threads is not None or not isinstance(targets, np.ndarray) or targets.ndim != 1
                or targets.dtype != np.int64):
            return None
        rows = xb.shape[0] if xb.ndim == 2 else 0
        if not kernel_ready(xb, self.model.dtype, (rows, self.layers[0].built_in_dim)):
            return None
        program = self._program(rows, loss, fused)
        return program.chain.run(xb, targets, *class_shares(program.classes), stop_if_nonfinite)

    def _program(self, rows: int, loss: CrossEntropy, fused: FusedStep) -> _Program:
        assert self.layers is not None  # step returned before asking otherwise
        workspace = self.model.training_workspace(rows)
        program = self._programs.get(rows)
        if program is None or not program.serves(workspace, fused, loss, self.layers):
            program = self._programs[rows] = self._build(rows, workspace, fused, loss.label_smoothing)
        return program

    def _build(self, rows: int, workspace: tuple[list[Any], np.ndarray], fused: FusedStep,
               smoothing: float) -> _Program:
        """Bind the layers' parameters, gradients and workspaces, the loss buffer and the update contexts, with
        each call's thread class from the work the general path would give ``threads_for``."""
        (workspaces, grad), weights, rest = workspace, fused.weights, fused.rest
        assert self.layers is not None  # (as in _program)
        dense_ws = [ws for layer, ws in zip(self.model.layers, workspaces) if type(layer) is Dense]
        program = _chain.DenseChain(len(self.layers), rows, self.model.dtype == np.float32)
        classes: set[int] = set()
        x = None
        for i, (layer, ws) in enumerate(zip(self.layers, dense_ws)):
            n_in, n_out = layer.built_in_dim, layer.units
            calls = (work_class(_gemm.product_work(rows, n_out, n_in)), work_class(rows * n_out),
                     work_class(rows * n_out), work_class(_gemm.product_work(rows, n_in, n_out)),
                     work_class(_gemm.product_work(n_in, n_out, rows)))
            classes.update(calls)
            program.set_layer(i, x, layer.params["W"], layer.params.get("b"), ws.z, ws.y, ws.dx if i else None,
                              layer.grads.get("b"), weights.grads[fused.slot(layer)],
                              weights.addresses[fused.slot(layer)], _dense.activation_code(layer.runtime_activation),
                              layer.alpha, calls)
            x = ws.y
        loss_class = work_class(_loss.softmax_xent_work(grad, grad))
        rest_class = work_class(rest.size)
        classes.update((loss_class, rest_class))
        program.set_loss(grad, 1.0 / rows, smoothing, loss_class)
        program.set_updates(weights.epilogue, rest.contexts.address(0), len(rest.grads), rest_class, rest)
        return _Program(program, workspace, weights, rest, parallel_threshold(), smoothing,
                        activations(self.layers), classes)

