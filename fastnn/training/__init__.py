"""The training loop and its callbacks."""
from .callbacks import Callback, EarlyStopping, History, TerminateOnNaN
from .step import NonFiniteLossError

__all__ = ["Callback", "EarlyStopping", "History", "NonFiniteLossError", "TerminateOnNaN"]
