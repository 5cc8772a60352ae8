"""Dropout: inverted dropout with counter-based masks (csrc/dropout_tmpl.h)."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np

from .._registry import class_config
from ..ops import dropout as ops
from ..validation import check_scalar
from .base import Layer, StepContext, Workspace, register


@dataclass(eq=False)
class DropoutWorkspace(Workspace):
    """y = x * mask / (1 - p); mask (0/1 bytes) is kept for backward; active: the last forward dropped units
    (training with p > 0), otherwise it returned its input and backward is the identity."""
    y: np.ndarray
    mask: np.ndarray
    active: bool = False


@register
class Dropout(Layer[DropoutWorkspace]):
    """Inverted dropout: in training each unit is zeroed with probability ``p`` and the kept ones are scaled by
    ``1 / (1 - p)``, so the expected output equals the input and evaluation (``predict``/``evaluate``) is the
    identity (the layer returns its input untouched). ``model.predict(X, mc_samples=T)`` keeps it active at
    inference (Monte Carlo dropout, fastnn.mc_dropout).

    The mask of element e of a batch is a hash of (ctx.seed, ctx.step, self.stream, e): the same seed gives the
    same masks for any thread count, masks change every step, and no random state is stored. ``stream``
    separates the dropout layers of one model, so two of them never share a mask: pass it (an integer in
    [0, 2**64), e.g. the layer index; it is part of the layer's config, so a saved, reloaded or resumed model
    keeps it); otherwise ``init_params`` derives it from the model's seeded generator at this layer's position,
    without drawing from it (so adding a Dropout does not change any other layer's initial weights, and a
    rebuilt or reloaded model gets the same streams), and the model then gives Dropouts that nothing random
    separates (adjacent, or with only activations, norms or constant-initialized layers between) streams of
    their own (:func:`separate_streams`). Standalone, it is 0.
    The forward pass generates the mask and scales in one pass, into buffers allocated once per batch size;
    backward reuses the stored mask.
    """

    stream: int | None = None  # (a class default too: pickles of layers made before it was an argument)

    def __init__(self, p: float = 0.5, stream: int | None = None) -> None:
        super().__init__()
        self.p = check_scalar(p, "Dropout p", Real, min_val=0.0, max_val=1.0, error=ValueError)
        self.stream = check_scalar(stream, "Dropout stream", Integral, min_val=0, max_val=2**64 - 1,
                                   allow_none=True)

    def get_config(self) -> dict[str, Any]:
        return class_config(self, p=self.p, **({"stream": self.stream} if self.stream is not None else {}))

    def workspace(self, batch: int) -> DropoutWorkspace:
        shape = (batch, self.built_in_dim)
        return DropoutWorkspace(y=np.empty(shape, self.dtype), mask=np.empty(shape, np.uint8))

    def init_params(self, rng: np.random.Generator) -> None:
        if self.stream is None:
            # The generator's state here is a function of the model seed and of every layer initialized before
            # this one; hashing it (without drawing) gives each dropout layer its own stream.
            state = json.dumps(rng.bit_generator.state, sort_keys=True, default=str).encode()
            self._derived_stream = int.from_bytes(hashlib.blake2b(state, digest_size=8).digest(), "little")

    def key(self, ctx: StepContext) -> int:
        stream = self.stream if self.stream is not None else getattr(self, "_derived_stream", 0)
        return ops.dropout_key(ctx.seed, ctx.step, stream)

    def forward(self, x: np.ndarray, ws: DropoutWorkspace, ctx: StepContext) -> np.ndarray:
        ws.active = bool(ctx.training or ctx.mc_dropout) and self.p > 0.0
        if not ws.active:
            return x
        return ops.dropout_forward(x, ws.y, ws.mask, self.p, self.key(ctx))

    def backward(self, dy: np.ndarray, ws: DropoutWorkspace, ctx: StepContext, need_dx: bool) -> np.ndarray | None:
        if not need_dx:
            return None
        if ws.active:
            ops.dropout_backward(dy, ws.mask, dy, self.p)  # in place
        return dy


def separate_streams(layers: Iterable[Any]) -> None:
    """Give the derived streams of a model's Dropouts (run after every ``init_params``) one each: a Dropout that
    derived the stream of an earlier one (nothing drew from the generator between them) takes the hash of
    (that stream, how many took it before), so their masks are independent. Streams that did not repeat are
    left as they are, so the usual Dense / Dropout stacks keep their masks."""
    taken: dict[int, int] = {}
    for layer in layers:
        if isinstance(layer, Dropout) and layer.stream is None:
            stream = layer._derived_stream
            repeats = taken.get(stream, 0)
            taken[stream] = repeats + 1
            if repeats:
                salted = stream.to_bytes(8, "little") + repeats.to_bytes(8, "little")
                layer._derived_stream = int.from_bytes(hashlib.blake2b(salted, digest_size=8).digest(), "little")
