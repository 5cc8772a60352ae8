"""Gradient clipping, applied inside the optimizer's fused pass (``optimizer.step(params, grads, clip=...)``,
``model.fit(clip=...)``).

Two rules, with PyTorch's semantics:

``ByValue(clip_value)``
    every gradient element is clamped to ``[-clip_value, clip_value]`` (``torch.nn.utils.clip_grad_value_``).

``ByGlobalNorm(max_norm, error_if_nonfinite=True)``
    ``total = ||g||_2`` over ALL parameters (one flat buffer, so one reduction, accumulated in double in fixed
    blocks: the same bits for any thread count); every gradient is multiplied by
    ``coef = min(1, max_norm / (total + 1e-6))`` (``torch.nn.utils.clip_grad_norm_``: the clipped norm ends
    slightly below ``max_norm``). The step reports the pre-clip ``total`` as ``grad_norm``. A non-finite
    ``total`` (inf/NaN gradients) raises :class:`NonFiniteGradientError` before anything changes; with
    ``error_if_nonfinite=False`` the step is skipped instead (parameters and optimizer state untouched, the step
    counter not advanced) and counted in ``optimizer.skipped_steps``. PyTorch defaults to ``False`` and then
    multiplies by a NaN coefficient, which poisons every parameter; fastnn never does that.

Neither rule writes the gradient buffer: the optimizer kernel reads each gradient once and applies the clamp or
the coefficient on the fly, so clipping costs no extra pass (the global norm costs one read of the gradients).
"""
from __future__ import annotations

import numbers
from typing import Any

from .._registry import Registry, class_config
from ..validation import check_scalar


class NonFiniteGradientError(FloatingPointError, ValueError):
    """The global gradient norm is inf or NaN (raised before the parameters or optimizer state change)."""


def _positive_number(name: str, value: object) -> float:
    return check_scalar(value, name, numbers.Real, min_val=0.0, include_boundaries="right")


class Clip:
    """Base class of the clipping rules (see the module docstring)."""

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "class")
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Clip) and type(other) is type(self) and other.get_config() == self.get_config()

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.get_config().items())))


class ByValue(Clip):
    """Clamp every gradient element to ``[-clip_value, clip_value]`` (``torch.nn.utils.clip_grad_value_``)."""

    def __init__(self, clip_value: float) -> None:
        self.clip_value = _positive_number("clip_value", clip_value)

    def get_config(self) -> dict[str, Any]:
        return class_config(self, clip_value=self.clip_value)


class ByGlobalNorm(Clip):
    """Scale all gradients by ``min(1, max_norm / (||g||_2 + 1e-6))`` (``torch.nn.utils.clip_grad_norm_``).

    ``error_if_nonfinite=True`` raises :class:`NonFiniteGradientError` on an inf/NaN norm; ``False`` skips
    the step and counts it in ``optimizer.skipped_steps``.
    """

    EPS = 1e-6  # PyTorch's constant in clip_grads_with_norm_

    def __init__(self, max_norm: float, error_if_nonfinite: bool = True) -> None:
        self.max_norm = _positive_number("max_norm", max_norm)
        self.error_if_nonfinite = check_scalar(error_if_nonfinite, "error_if_nonfinite", bool)

    def coefficient(self, total_norm: float) -> float:
        """The factor applied to every gradient for a given pre-clip norm (at most 1)."""
        return min(1.0, self.max_norm / (total_norm + self.EPS))

    def get_config(self) -> dict[str, Any]:
        return class_config(self, max_norm=self.max_norm, error_if_nonfinite=self.error_if_nonfinite)


def get(clip: Clip | dict[str, Any] | None) -> Clip | None:
    """Normalise a ``clip=`` argument: None, a Clip, or a config dict from ``Clip.get_config()``."""
    if clip is None or isinstance(clip, Clip):
        return clip
    if isinstance(clip, dict):
        return from_config(clip)
    raise TypeError(f"clip must be None, fastnn.clip.ByValue(...) or fastnn.clip.ByGlobalNorm(...), "
                    f"got {type(clip).__name__}")


CLIPS = Registry("clip rule", (ByValue, ByGlobalNorm), legacy_key="name")


def from_config(cfg: dict[str, Any]) -> Clip:
    """Recreate a clipping rule from ``get_config()`` (also reads the ``"name"`` key of fastnn 0.1 configs)."""
    return CLIPS.from_config(cfg)


__all__ = ["ByValue", "ByGlobalNorm", "Clip", "NonFiniteGradientError", "CLIPS", "get", "from_config"]
