"""A step whose weight updates run inside the weight-gradient products (issue 11 item 3).

``Optimizer.begin_fused_step`` returns a :class:`FusedStep`. The training step's backward pass computes each
fused weight's gradient through :meth:`FusedStep.weight_gradient`: fastnn's gemm cuts ``dW = x^T dz`` into bands
of whole rows, and the thread that wrote a band applies the optimizer's update to that band of the weights right
away, while the band's gradient is in its core's cache (csrc/gemm.h's epilogue, csrc/optim.h's row updates).
:meth:`FusedStep.finish` then updates every other parameter (biases, normalization parameters, weights outside
``weights``) in one pass and ends the step as ``Optimizer.step`` does. The result is the same bits as the
products followed by ``Optimizer.step``: every update is elementwise, whatever the blocks.

A weight's update must come after everything that reads its old value: the layer computes ``dx = dz W^T`` before
its weight gradient. Global- and per-tensor-norm clipping need every gradient first, so those steps are not fused.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..ops import gemm as _gemm
from ..ops import optim as _ops

if TYPE_CHECKING:
    from ..ops.optim import TensorUpdates


class FusedStep:
    """One optimizer step in progress: the row-update contexts of its fused weights (``fused``, index per key in
    ``slots``) and of every other parameter (``rest``, updated with ``n_threads``; None: by their size);
    ``end_step(clipped)`` ends the optimizer's step and returns its info. ``clamped`` counts the gradient
    elements value clipping changed so far."""

    def __init__(self, end_step: Callable[[bool], dict[str, Any]], fused: TensorUpdates, rest: TensorUpdates,
                 slots: dict[Any, int], n_threads: int | None) -> None:
        self._end_step, self._fused, self._rest, self._slots, self._threads = end_step, fused, rest, slots, n_threads
        self.clamped = 0

    def covers(self, key: Any) -> bool:
        """Whether the weight ``key`` is updated inside its gradient's product."""
        return key in self._slots

    def weight_gradient(self, key: Any, a: np.ndarray, b: np.ndarray, check: bool = True) -> None:
        """The gradient of weight ``key`` = a @ b (into its place in the flat gradient buffer), and its update.
        ``check=False`` for operands the layer guarantees (fastnn.ops.gemm.gemm_update)."""
        self.clamped += _gemm.gemm_update(a, b, self._fused, self._slots[key], check=check)

    def finish(self) -> dict[str, Any]:
        """Update every parameter not fused, then end the step: returns ``Optimizer.step``'s info."""
        self.clamped += _ops.update_tensors(self._rest, self._threads)
        return self._end_step(self.clamped > 0)

    # ---- for a caller that runs the products and the updates in C itself (fastnn.training.chain) ----
    @property
    def weights(self) -> TensorUpdates:
        """The row-update contexts of the fused weights (``weights.addresses[self.slot(key)]`` is key's)."""
        return self._fused

    @property
    def rest(self) -> TensorUpdates:
        """The row-update contexts of every other parameter, applied by :meth:`finish`."""
        return self._rest

    @property
    def rest_threads(self) -> int | None:
        """The thread count :meth:`finish` updates the rest with (None: by their size)."""
        return self._threads

    def slot(self, key: Any) -> int:
        """The index of weight ``key`` in :attr:`weights`."""
        return self._slots[key]

    def finished_elsewhere(self, clamped: int) -> dict[str, Any]:
        """End a step whose products and updates, :meth:`finish`'s included, ran elsewhere, with ``clamped``
        gradient elements changed by value clipping: returns ``Optimizer.step``'s info."""
        self.clamped += clamped
        return self._end_step(self.clamped > 0)
