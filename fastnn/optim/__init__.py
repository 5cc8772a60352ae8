"""Optimizers over flat parameter buffers, with PyTorch's names, defaults and update rules.

``SGD, Adagrad, RMSprop, Adadelta, Adam, AdamW`` (see fastnn.optim.optimizers for the update rules),
parameter groups (fastnn.optim.groups), ``optimizer_from_config`` and ``get`` (by name).
"""
from __future__ import annotations

from .groups import no_decay_on_bias_and_norm
from .optimizers import (
                         OPTIMIZERS,
                         SGD,
                         Adadelta,
                         Adagrad,
                         Adam,
                         AdamW,
                         Optimizer,
                         OptimizerStateError,
                         RMSprop,
                         get,
                         optimizer_from_config,
)

__all__ = ["SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW", "Optimizer", "OptimizerStateError",
           "OPTIMIZERS", "get", "optimizer_from_config", "no_decay_on_bias_and_norm"]
