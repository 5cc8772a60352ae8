"""Where each parameter lives in a model's flat buffers.

All trainable parameters of a model live in ONE contiguous 1-D array and all gradients in another of the
same size; a layer's weights are views into it. Optimizers, clipping and penalties work on the flat arrays
and use this layout only to know names, shapes and kinds (for parameter groups and state files).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = ("weight", "bias", "norm")


@dataclass(frozen=True)
class ParamEntry:
    """One parameter array: ``flat[offset:offset + size].reshape(shape)``.

    name:  "<layer index>.<param>" e.g. "0.W", "0.b", "2.gamma".
    kind:  "weight" (Dense kernels), "bias", or "norm" (BatchNorm/LayerNorm gamma and beta).
    layer: index of the owning layer in the model.
    """
    name: str
    shape: tuple
    offset: int
    kind: str
    layer: int

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def stop(self) -> int:
        return self.offset + self.size


class ParamLayout:
    """Ordered parameter entries, packed without gaps, plus the dtype of the flat buffers."""

    def __init__(self, entries: list[ParamEntry], dtype):
        self.entries = list(entries)
        self.dtype = np.dtype(dtype)
        self.size = self.entries[-1].stop if self.entries else 0
        self.by_name = {e.name: e for e in self.entries}

    @classmethod
    def pack(cls, specs, dtype) -> ParamLayout:
        """Build from (name, shape, kind, layer) tuples in order."""
        entries, offset = [], 0
        for name, shape, kind, layer in specs:
            if kind not in KINDS:
                raise ValueError(f"unknown parameter kind {kind!r}")
            e = ParamEntry(name, tuple(int(s) for s in shape), offset, kind, layer)
            entries.append(e)
            offset = e.stop
        return cls(entries, dtype)

    def view(self, flat: np.ndarray, name: str) -> np.ndarray:
        e = self.by_name[name]
        return flat[e.offset:e.stop].reshape(e.shape)

    def describe(self) -> list[dict]:
        """JSON-able description (names, shapes, offsets, kinds), stored in optimizer state and model files."""
        return [{"name": e.name, "shape": list(e.shape), "offset": e.offset, "kind": e.kind, "layer": e.layer}
                for e in self.entries]

    def __eq__(self, other) -> bool:
        return isinstance(other, ParamLayout) and self.describe() == other.describe() and self.dtype == other.dtype

    def __len__(self) -> int:
        return len(self.entries)
