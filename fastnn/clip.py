"""Gradient clipping: its home is fastnn.optim.clip (with the optimizers); this module re-exports it under the old
import path."""
from .optim.clip import CLIPS, ByGlobalNorm, ByTensorNorm, ByValue, Clip, NonFiniteGradientError, from_config, get

__all__ = ["ByValue", "ByGlobalNorm", "ByTensorNorm", "Clip", "NonFiniteGradientError", "CLIPS", "get", "from_config"]
