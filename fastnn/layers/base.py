"""The layer protocol.

A layer is configured by its constructor, sized by ``build`` and then runs on arrays it never allocates in
steady state: the model packs every layer's parameters into one flat buffer (and gradients into another) and
hands each layer views of its part (``bind``); per batch size each layer allocates a workspace once
(``workspace``) and ``forward``/``backward`` write into it.

Lifecycle:
    out_dim = layer.build(in_dim, dtype)        # once, before anything else
    layer.param_specs()   -> [(name, shape, kind)]   trainable, kind in {"weight", "bias", "norm"}
    layer.buffer_specs()  -> [(name, shape, fill)]   non-trainable state (running statistics)
    layer.bind(params, grads, buffers)               # dicts of views, by name
    layer.init_params(rng)                            # fill self.params in place from the model's generator
    ws = layer.workspace(batch)                       # preallocated arrays for one batch size (cached by the
                                                      # model: one set for training, one per inference thread)
    y = layer.forward(x, ws, ctx)                     # ctx: StepContext (training flag, seed, step)
    dx = layer.backward(dy, ws, ctx, need_dx)         # writes parameter gradients into self.grads views
                                                      # (overwrite, not accumulate); may overwrite dy in place
"""
from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

import numpy as np
from numpy.typing import DTypeLike

from .._registry import Registry, class_config

LAYER_REGISTRY = Registry("layer")
LayerT = TypeVar("LayerT", bound="type[Layer[Any]]")


def register(cls: LayerT) -> LayerT:
    """Class decorator: make a layer constructible from its config (``layer_from_config``)."""
    return LAYER_REGISTRY.register(cls)


def layer_from_config(config: dict[str, Any]) -> Layer[Any]:
    cls, kwargs = LAYER_REGISTRY.split(config)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"bad config for layer {cls.__name__}: {exc}") from None


def state_shapes(layers: Iterable[Layer[Any]], in_dim: int,
                 dtype: DTypeLike) -> Iterator[tuple[int, str, tuple[int, ...]]]:
    """(layer index, array name, shape) of every parameter and buffer of ``layers`` stacked on ``in_dim``
    inputs, read from sized shallow copies: the layers themselves are not built and no array is allocated.
    Lets a loader compare what a model would allocate with what a file stores before building it."""
    for i, layer in enumerate(layers):
        probe = copy.copy(layer)
        in_dim = probe.build(in_dim, dtype)
        for name, shape, _ in probe.param_specs():
            yield i, name, tuple(int(d) for d in shape)
        for name, shape, _ in probe.buffer_specs():
            yield i, name, tuple(int(d) for d in shape)


def keeps_methods(obj: object, base: type, names: Iterable[str]) -> bool:
    """Whether ``obj``'s class runs ``base``'s own methods ``names``: none is overridden by a subclass (a step that
    stands in for those methods, fastnn.training.chain, would skip the override)."""
    cls = type(obj)
    return cls is base or all(getattr(cls, name) is getattr(base, name) for name in names)


@dataclass
class StepContext:
    """What a forward/backward pass needs to know besides its arrays.

    training: batch statistics, dropout and augmentation are on.
    mc_dropout: dropout is on in an inference pass (Monte Carlo dropout, fastnn.mc_dropout); everything else,
    BatchNorm included, stays in inference mode.
    seed, step: key of the counter-based random streams (dropout masks), so masks depend on (seed, step, element)
    only and never on the thread count.
    observe: called as ``observe(outputs, targets)`` with the raw outputs and the targets of a training batch,
    after the forward pass and before backward overwrites anything (``fit``'s training metrics); None: nothing.
    weight_updates: None, or the optimizer step in progress (fastnn.optim.fused.FusedStep) when the training step
    applies it inside the weight-gradient products: a layer whose ``fused_weight()`` it ``covers`` computes that
    gradient with ``weight_updates.weight_gradient(layer, a, b)``, after everything that reads the old weight.
    """
    training: bool = False
    mc_dropout: bool = False
    seed: int = 0
    step: int = 0
    observe: Callable[[Any, Any], None] | None = None
    weight_updates: Any = None


class Workspace:
    """Attribute bag of preallocated arrays for one batch size.

    The built-in layers declare their fields in a dataclass subclass (e.g. ``DenseWorkspace``), so a type
    checker knows them; a custom layer may do the same or use this bag as ``Workspace(name=array, ...)``.
    """

    def __init__(self, **arrays: Any) -> None:
        self.__dict__.update(arrays)


WorkspaceT = TypeVar("WorkspaceT", bound=Workspace)
EntryT = TypeVar("EntryT")


class WorkspaceCache(Generic[EntryT]):
    """Workspaces by batch size, made on first use by ``make(batch)``; the ``max_sizes`` most recently used
    sizes are kept (a loop over a data set uses one or two sizes, so it allocates nothing in steady state).
    Not thread-safe: one caller at a time (see :class:`PerThreadWorkspaces` for inference)."""

    def __init__(self, max_sizes: int) -> None:
        self.max_sizes = max_sizes
        self._entries: OrderedDict[int, EntryT] = OrderedDict()

    def get(self, batch: int, make: Callable[[int], EntryT]) -> EntryT:
        entry = self._entries.get(batch)
        if entry is None:
            entry = self._entries[batch] = make(batch)
            if len(self._entries) > self.max_sizes:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(batch)
        return entry

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class PerThreadWorkspaces(Generic[EntryT]):
    """One :class:`WorkspaceCache` per thread, so inference from any number of threads never shares scratch
    (the kernels release the GIL, so the threads really run at once). ``clear()`` invalidates the caches of
    every thread (a generation count: a thread's cache is dropped at its next use); a thread's cache goes
    with the thread. Copies and pickles of the owner start with empty caches."""

    def __init__(self, max_sizes: int) -> None:
        self.max_sizes = max_sizes
        self._local = threading.local()
        self._generation = 0

    def cache(self) -> WorkspaceCache[EntryT]:
        """The calling thread's cache."""
        local = self._local
        if getattr(local, "generation", None) != self._generation:
            local.cache, local.generation = WorkspaceCache(self.max_sizes), self._generation
        return cast(WorkspaceCache[EntryT], local.cache)

    def get(self, batch: int, make: Callable[[int], EntryT]) -> EntryT:
        return self.cache().get(batch, make)

    def clear(self) -> None:
        self._generation += 1

    def __reduce__(self) -> tuple[type, tuple[int]]:  # a threading.local neither pickles nor deep-copies
        return type(self), (self.max_sizes,)


class Layer(Generic[WorkspaceT]):
    """Base class; see the module docstring for the protocol. ``WorkspaceT`` is the type ``workspace``
    returns and ``forward``/``backward`` receive (a subclass declares it as ``class Dense(Layer[DenseWorkspace])``;
    a plain ``class MyLayer(Layer)`` works as before)."""

    in_dim: int | None = None
    out_dim: int | None = None
    dtype: np.dtype | None = None
    # Set by the model when this layer's work is done by its predecessor (an activation fused into a Dense).
    fused_into_previous: bool = False

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}

    # -- configuration -------------------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        return class_config(self)

    def build(self, in_dim: int, dtype: DTypeLike) -> int:
        self.in_dim, self.dtype = int(in_dim), np.dtype(dtype)
        self.out_dim = self.in_dim
        return self.out_dim

    @property
    def built_in_dim(self) -> int:
        """``in_dim`` of a built layer (the sizes exist only after ``build``)."""
        if self.in_dim is None:
            raise RuntimeError(f"{type(self).__name__} is not built yet (it belongs to no built model)")
        return self.in_dim

    def param_specs(self) -> list[tuple[str, tuple[int, ...], str]]:
        return []

    def buffer_specs(self) -> list[tuple[str, tuple[int, ...], float]]:
        return []

    def weight_names(self) -> list[str]:
        """Order of arrays in get_weights(): parameters, then buffers."""
        return [n for n, _, _ in self.param_specs()] + [n for n, _, _ in self.buffer_specs()]

    def bind(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray],
             buffers: dict[str, np.ndarray]) -> None:
        self.params, self.grads, self.buffers = params, grads, buffers

    def init_params(self, rng: np.random.Generator) -> None:
        """Fill self.params in place. Layers without parameters have nothing to do."""

    # -- computation ---------------------------------------------------------------------------------------
    def workspace(self, batch: int) -> WorkspaceT:
        """Preallocated arrays for one batch size. This default (an empty bag) suits a layer that keeps nothing
        between forward and backward, i.e. one declared ``Layer[Workspace]`` or left unparameterized."""
        return cast(WorkspaceT, Workspace())

    def forward(self, x: np.ndarray, ws: WorkspaceT, ctx: StepContext) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dy: np.ndarray, ws: WorkspaceT, ctx: StepContext, need_dx: bool) -> np.ndarray | None:
        raise NotImplementedError

    def penalty(self, with_grad: bool = True) -> float:
        """This layer's weight penalty (0 if none); with_grad also adds its gradient into self.grads."""
        return 0.0

    def has_penalty(self) -> bool:
        """Whether ``penalty`` can be nonzero: here, whether a subclass overrides it (a layer that knows better,
        as Dense, says so itself)."""
        return type(self).penalty is not Layer.penalty

    def fused_weight(self) -> str | None:
        """The name of the 2-D parameter whose gradient ``backward`` computes as one product through
        ``ctx.weight_updates`` when that covers this layer (see StepContext), or None."""
        return None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "class")
        return f"{type(self).__name__}({args})"
