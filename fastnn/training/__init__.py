"""The training loop and its callbacks."""
from .callbacks import Callback, EarlyStopping, History, TerminateOnNaN

__all__ = ["Callback", "EarlyStopping", "History", "TerminateOnNaN"]
