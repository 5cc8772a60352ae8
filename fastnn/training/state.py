"""What training adds to a model, held in one object: ``model.training_state``.

``fit`` starts a run with :meth:`TrainingState.start_fit`, ``train_step`` with :meth:`TrainingState.use`, and
every optimizer step goes through :func:`fastnn.training.step.take_step`, which counts it here. Callbacks stop
a run by setting ``model.stop_training``. The model shows these fields as ``model.loss``, ``model.optimizer``,
``model.step_count``, ``model.stop_training`` and ``model.history`` (read and written through to this object).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import losses as _losses

if TYPE_CHECKING:
    from ..losses import Loss
    from ..optim.optimizers import Optimizer
    from .callbacks import History


class TrainingState:
    """loss: the model's fastnn.losses.Loss, given to its constructor and replaced by a fit / train_step that
    passes another (``predict`` applies its output map); None: the model declares no loss.
    optimizer: the optimizer of the last fit / train_step (``fit`` and ``train_step`` reuse it by default).
    step_count: optimizer steps taken; keys the dropout and augmentation streams.
    stop_training: set by a callback to end ``fit`` after the current epoch.
    history: the History of the last ``fit``.
    shuffle_state: where the last shuffling ``fit`` left its data order ({"seed", "n_rows", "rng", "order"}),
    however it ended (an interrupted one too), so a later fit with the same seed and row count continues it
    (None: no such fit yet)."""

    __slots__ = ("history", "loss", "optimizer", "shuffle_state", "step_count", "stop_training")

    def __init__(self) -> None:
        self.loss: Loss | None = None
        self.optimizer: Optimizer | None = None
        self.step_count = 0
        self.stop_training = False
        self.history: History | None = None
        self.shuffle_state: dict[str, Any] | None = None

    def loss_for(self, loss: str | Loss | None) -> Loss:
        """The loss a call uses: ``loss`` when given, else the model's own (ValueError when it has none)."""
        if loss is not None:
            return _losses.get(loss)
        if self.loss is None:
            raise ValueError("this model has no loss (loss=None, as in a model file written by fastnn 0.1 before "
                             "any fit): pass loss=, e.g. loss='cross_entropy'")
        return self.loss

    def use(self, loss: Loss, optimizer: Optimizer) -> None:
        """The loss and optimizer of the steps that follow."""
        self.loss, self.optimizer = loss, optimizer

    def start_fit(self, loss: Loss, optimizer: Optimizer, history: History) -> None:
        """A new fit: its loss, optimizer and History; the stop flag of an earlier fit is cleared."""
        self.use(loss, optimizer)
        self.stop_training = False
        self.history = history

    def __repr__(self) -> str:
        return (f"TrainingState(step_count={self.step_count}, loss={self.loss!r}, optimizer={self.optimizer!r}, "
                f"stop_training={self.stop_training})")
