"""The model interface the training code needs, as a Protocol for the type checker.

fastnn.models.Sequential implements it; naming it here lets ``fit`` and ``take_step`` be typed without
importing a model class (the training code sits below the models, see tests/test_structure.py).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    from .._layout import ParamLayout
    from ..layers.base import Layer, StepContext, Workspace
    from ..losses import Loss
    from ..preprocessing import Pipeline, Preprocessor
    from .state import TrainingState


class TrainableModel(Protocol):
    training_state: TrainingState
    layers: list[Layer]
    dtype: np.dtype
    seed: int
    input_dim: int | None
    output_dim: int | None
    params: np.ndarray | None
    grads: np.ndarray | None
    layout: ParamLayout | None
    preprocess: Preprocessor | Pipeline | None
    classes_: np.ndarray | None

    @property
    def built(self) -> bool: ...

    @property
    def n_features_in(self) -> int | None: ...

    def build(self, input_dim: int) -> None: ...

    def unbuild(self) -> None: ...

    def prepare_inputs(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray: ...

    def loss_and_grad(self, xb: np.ndarray, targets: np.ndarray, loss: str | Loss,
                      ctx: StepContext | None = None) -> tuple[float, int]: ...

    def forward_loss(self, xb: np.ndarray, targets: np.ndarray, loss: str | Loss,
                     ctx: StepContext) -> tuple[float, int, np.ndarray]: ...

    def backward(self, grad_out: np.ndarray, ctx: StepContext) -> float: ...

    def training_workspace(self, batch: int) -> tuple[list[Workspace], np.ndarray]: ...

    def standard_step(self) -> bool: ...

    def state_arrays(self) -> dict[str, np.ndarray]: ...

    def get_config(self) -> dict[str, Any]: ...

    def file_contents(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]: ...

    def get_weights(self) -> list[np.ndarray]: ...

    def evaluate(self, X: ArrayLike, y: ArrayLike, loss: str | Loss | None = None,
                 metrics: Iterable[str] | None = None, sample_weight: ArrayLike | None = None) -> dict[str, float]: ...
