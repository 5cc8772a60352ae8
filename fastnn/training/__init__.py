"""The training loop, its callbacks and checkpoints."""
from .callbacks import Callback, EarlyStopping, History, ReduceOnPlateau, TerminateOnNaN
from .step import NonFiniteLossError
from .writers import CSVLogger, ModelCheckpoint

__all__ = ["CSVLogger", "Callback", "EarlyStopping", "History", "ModelCheckpoint", "NonFiniteLossError",
           "ReduceOnPlateau", "TerminateOnNaN"]
