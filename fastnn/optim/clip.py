"""Gradient clipping, applied inside the optimizer's fused pass (``optimizer.step(params, grads, clip=...)``,
``model.fit(clip=...)``).

Three rules, with PyTorch's semantics:

``ByValue(clip_value)``
    every gradient element is clamped to ``[-clip_value, clip_value]`` (``torch.nn.utils.clip_grad_value_``).
    ``ByValue(min_value=a, max_value=b)`` clamps to the asymmetric interval ``[a, b]`` the chapter writes
    (``torch.clamp_(g, a, b)``; Keras has the symmetric ``clipvalue`` only).

``ByGlobalNorm(max_norm, error_if_nonfinite=True)``
    ``total = ||g||_2`` over ALL parameters (one flat buffer, so one reduction, accumulated in double in fixed
    blocks: the same bits for any thread count); every gradient is multiplied by
    ``coef = min(1, max_norm / (total + 1e-6))`` (``torch.nn.utils.clip_grad_norm_``: the clipped norm ends
    slightly below ``max_norm``). The step reports the pre-clip ``total`` as ``grad_norm``. A non-finite
    ``total`` (inf/NaN gradients) raises :class:`NonFiniteGradientError` before anything changes; with
    ``error_if_nonfinite=False`` the step is skipped instead (parameters and optimizer state untouched, the step
    counter not advanced) and counted in ``optimizer.skipped_steps``. PyTorch defaults to ``False`` and then
    multiplies by a NaN coefficient, which poisons every parameter; fastnn never does that.

``ByTensorNorm(max_norm, error_if_nonfinite=True)``
    the same rule for each parameter tensor on its own (each weight matrix, each bias vector): tensor ``k`` is
    multiplied by ``min(1, max_norm / (||g_k||_2 + 1e-6))`` (``clip_grad_norm_`` called on each tensor
    separately; Keras's per-variable ``clipnorm``, which divides by ``max(||g_k||, max_norm)`` without the
    1e-6). A large gradient in one tensor then no longer shrinks the others. ``grad_norm`` is the pre-clip
    global norm (from the per-tensor sums of squares) and a non-finite one raises or skips as above.

No rule writes the gradient buffer: the optimizer kernel reads each gradient once and applies the clamp or
the coefficient on the fly (one per tensor: the kernel runs the buffer cut at the tensors, each piece with its
own coefficient), so clipping costs no extra pass (a norm costs one read of the gradients).
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
    """Clamp every gradient element to ``[-clip_value, clip_value]`` (``torch.nn.utils.clip_grad_value_``), or,
    given ``min_value=a, max_value=b`` instead, to the asymmetric ``[a, b]`` (``a <= b``; the chapter's form,
    ``torch.clamp_(g, a, b)``). ``bounds`` is the interval either way."""

    def __init__(self, clip_value: float | None = None, *, min_value: float | None = None,
                 max_value: float | None = None) -> None:
        if clip_value is not None:
            if min_value is not None or max_value is not None:
                raise ValueError("ByValue takes either clip_value (the interval [-clip_value, clip_value]) or "
                                 "min_value and max_value (the interval [min_value, max_value]), not both")
            self.clip_value: float | None = _positive_number("clip_value", clip_value)
            self.bounds = (-self.clip_value, self.clip_value)
            return
        if min_value is None or max_value is None:
            raise ValueError("ByValue needs clip_value, or both min_value and max_value "
                             f"(got min_value={min_value!r}, max_value={max_value!r})")
        lo = check_scalar(min_value, "min_value", numbers.Real)
        hi = check_scalar(max_value, "max_value", numbers.Real)
        if lo > hi:
            raise ValueError(f"ByValue needs min_value <= max_value, got [{lo}, {hi}]")
        self.clip_value = None
        self.bounds = (lo, hi)

    def get_config(self) -> dict[str, Any]:
        if self.clip_value is not None:
            return class_config(self, clip_value=self.clip_value)
        return class_config(self, min_value=self.bounds[0], max_value=self.bounds[1])


class _NormClip(Clip):
    """What the norm rules share: ``max_norm``, the non-finite policy and torch's coefficient."""

    EPS = 1e-6  # PyTorch's constant in clip_grads_with_norm_

    def __init__(self, max_norm: float, error_if_nonfinite: bool = True) -> None:
        self.max_norm = _positive_number("max_norm", max_norm)
        self.error_if_nonfinite = check_scalar(error_if_nonfinite, "error_if_nonfinite", bool)

    def coefficient(self, norm: float) -> float:
        """The factor applied to the gradients whose pre-clip L2 norm is ``norm`` (at most 1)."""
        return min(1.0, self.max_norm / (norm + self.EPS))

    def get_config(self) -> dict[str, Any]:
        return class_config(self, max_norm=self.max_norm, error_if_nonfinite=self.error_if_nonfinite)


class ByGlobalNorm(_NormClip):
    """Scale all gradients by ``min(1, max_norm / (||g||_2 + 1e-6))``, ``||g||`` over all parameters together
    (``torch.nn.utils.clip_grad_norm_``; Keras's ``global_clipnorm``).

    ``error_if_nonfinite=True`` raises :class:`NonFiniteGradientError` on an inf/NaN norm; ``False`` skips
    the step and counts it in ``optimizer.skipped_steps``.
    """


class ByTensorNorm(_NormClip):
    """Scale each parameter tensor's gradient ``g_k`` by ``min(1, max_norm / (||g_k||_2 + 1e-6))``, its own
    norm (Keras's per-variable ``clipnorm``, with torch's 1e-6; ``clip_grad_norm_`` applied to each tensor on
    its own). Non-finite norms are handled as in :class:`ByGlobalNorm`.
    """


def get(clip: Clip | dict[str, Any] | None) -> Clip | None:
    """Normalise a ``clip=`` argument: None, a Clip, or a config dict from ``Clip.get_config()``."""
    if clip is None or isinstance(clip, Clip):
        return clip
    if isinstance(clip, dict):
        return from_config(clip)
    raise TypeError(f"clip must be None, fastnn.clip.ByValue(...), fastnn.clip.ByGlobalNorm(...) or "
                    f"fastnn.clip.ByTensorNorm(...), got {type(clip).__name__}")


CLIPS = Registry("clip rule", (ByValue, ByGlobalNorm, ByTensorNorm), legacy_key="name")


def from_config(cfg: dict[str, Any]) -> Clip:
    """Recreate a clipping rule from ``get_config()`` (also reads the ``"name"`` key of fastnn 0.1 configs)."""
    return CLIPS.from_config(cfg)


__all__ = ["ByValue", "ByGlobalNorm", "ByTensorNorm", "Clip", "NonFiniteGradientError", "CLIPS", "get", "from_config"]
