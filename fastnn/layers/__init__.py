"""Layers: Dense, activations, normalization and dropout. See base.py for the protocol."""
from .activations import GELU, LeakyReLU, ReLU, Sigmoid, Tanh
from .base import Layer, StepContext, Workspace, layer_from_config, register
from .dense import Dense

__all__ = ["Layer", "StepContext", "Workspace", "register", "layer_from_config", "Dense", "ReLU", "LeakyReLU",
           "Sigmoid", "Tanh", "GELU"]
from .dropout import Dropout  # noqa: E402
from .norm import BatchNorm, LayerNorm  # noqa: E402

__all__ += ["BatchNorm", "LayerNorm", "Dropout"]
