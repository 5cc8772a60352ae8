"""Search spaces: a dict of name -> domain (plain values are constants), checked once, before any trial.

    space = {"optimizer": Choice(["sgd", "adam"]),
             "lr": LogUniform(1e-4, 1e-1),
             "momentum": Uniform(0.0, 0.99, when={"optimizer": "sgd"}),   # exists only for SGD
             "depth": Int(1, 4),
             "width3": Int(16, 512, log=True, when={"depth": range(3, 5)}),  # only when depth >= 3
             "epochs": 20}                                                  # a constant

``when={parent: allowed}`` makes a parameter *conditional*: it is active when every parent is active and its
value is ``allowed`` (or in it, when ``allowed`` is a list, tuple, set or range). An inactive parameter is
absent from the sampled dict. Parents must be ``Choice`` or ``Int`` domains of the same space.

Three coordinates of a point, used by the searchers:

* ``params``: the dict the objective receives;
* the *latent* vector ``u`` in [0, 1)^P, one coordinate per domain (inactive ones too), which every sampler
  draws: Choice -> index ``floor(u * k)``, Uniform -> ``low + u (high - low)``, LogUniform and ``log=True``
  -> the same in log space, Int -> the integer whose cell contains u;
* the *features* for the Gaussian process in [0, 1]^F: numbers scaled to [0, 1] (log-scaled for log
  domains), categoricals one-hot (a one-value Choice none: it varies nothing), and for each conditional
  parameter an explicit activity feature (1 active, 0 inactive) with its value features held at a fixed point
  (0.5, or all-zero one-hot) while inactive, so two configurations that both lack a parameter do not differ in
  it.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Iterator, Mapping, MappingView
from collections.abc import Set as AbstractSet

import numpy as np

from ..validation import check_scalar

GRID_LIMIT = 10_000  # combinations a grid may have unless allow_large=True
MAX_EXACT_INT = 2**53  # an Int's bounds: every integer up to here is an exact float


class Domain:
    """Base of the domains; ``when`` makes the parameter conditional (see the module docstring)."""

    def __init__(self, when: Mapping | None = None):
        if when is not None and not isinstance(when, Mapping):
            raise TypeError(f"when must be a dict of parameter name -> allowed value(s), got {when!r}")
        self.when = {k: _allowed(v) for k, v in (when or {}).items()}

    def _cond_repr(self) -> str:
        return f", when={self.when!r}" if self.when else ""

    n_features = 1

    def decode(self, u: float):
        raise NotImplementedError

    def latent(self, value) -> float:
        raise NotImplementedError

    def features(self, value) -> list[float]:
        raise NotImplementedError

    def grid(self, grid_points: int) -> list:
        raise NotImplementedError

    def grid_size(self, grid_points: int) -> int:
        """How many values ``grid(grid_points)`` has at most, known without making them."""
        return grid_points

    def contains(self, value) -> bool:
        raise NotImplementedError

    # Vectorized twins of decode/features for many latent points at once (the acquisition's candidates):
    # codes are what a column of latent values decodes to (Choice: the index; numbers: the value).
    def decode_codes(self, u: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def features_of_codes(self, codes: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def codes_in(self, codes: np.ndarray, allowed: tuple) -> np.ndarray:
        return np.isin(codes, list(allowed))


def _allowed(v):
    """A condition's allowed values as a tuple. A set's is sorted (by repr when its values do not sort): its own
    order changes with PYTHONHASHSEED, and the condition's repr is part of a journal's identity (search), so a
    journal written by one process was refused by the next."""
    if isinstance(v, range):
        return tuple(v)
    if isinstance(v, (set, frozenset)):
        try:
            return tuple(sorted(v))
        except TypeError:  # values of several types (1, "a")
            return tuple(sorted(v, key=lambda a: (type(a).__name__, repr(a))))
    if isinstance(v, (list, tuple)):
        return tuple(v)
    return (v,)


def _same(a, b) -> bool:
    """``a is b or a == b``, where an answer that is not one truth value means unequal: numpy compares a tuple
    with one of its scalars item by item."""
    if a is b:
        return True
    equal = a == b
    return isinstance(equal, (bool, np.bool_)) and bool(equal)


class Choice(Domain):
    """One of ``values``, a list or tuple (categorical: the GP sees it one-hot; their order maps the latent
    coordinate to a value, so an unordered set is refused)."""

    def __init__(self, values, *, when: Mapping | None = None):
        super().__init__(when)
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise TypeError(f"Choice(values) takes a list of values, got {values!r}")
        # the values' order picks the trials (Choice -> index floor(u k)): a set's order changes with PYTHONHASHSEED,
        # so one seed drew other trials in another process and a journal was refused by the next run; a dict or
        # its views leave open whether the keys or the values are meant
        if isinstance(values, (AbstractSet, Mapping, MappingView)):
            mapping = isinstance(values, (Mapping, MappingView))
            why = ("a mapping or a view of one); pass a list or tuple, e.g. list(d) or list(d.values())" if mapping
                   else "its order changes with PYTHONHASHSEED, so the same seed would draw other trials in another "
                   "process); pass a list or tuple, e.g. sorted(values)")
            raise TypeError(f"Choice(values) takes a list or tuple of values, got a {type(values).__name__} "
                            f"{values!r} ({why}")
        self.values = list(values)
        if not self.values:
            raise ValueError("Choice(values): values is empty")
        for v in self.values:  # a value is found by ==: it must say True or False (a numpy array answers per item)
            if not isinstance(v == v, (bool, np.bool_)):
                raise TypeError(f"Choice(values): {v!r} does not compare with == to True or False; use a tuple or "
                                f"a list instead of a {type(v).__name__}")
        for i, v in enumerate(self.values):  # a repeat would be tried twice by the grid and weigh double
            if self._index(v) != i:
                raise ValueError(f"Choice(values): {v!r} is there twice (as {self.values[self._index(v)]!r} too)")
        # one value (a fixed value under a condition, mlp_space's width_3 = 64) tells the GP nothing its activity
        # feature does not: no feature, rather than a copy of that one with a length scale of its own to fit
        self.n_features = len(self.values) if len(self.values) > 1 else 0

    def __repr__(self):
        return f"Choice({self.values!r}{self._cond_repr()})"

    def _index(self, value) -> int:
        for i, v in enumerate(self.values):
            if _same(v, value):
                return i
        raise ValueError(f"{value!r} is not one of {self.values!r}")

    def decode(self, u):
        return self.values[min(int(u * len(self.values)), len(self.values) - 1)]

    def latent(self, value):
        return (self._index(value) + 0.5) / len(self.values)

    def features(self, value):
        out = [0.0] * len(self.values)
        out[self._index(value)] = 1.0
        return out[:self.n_features]

    def grid(self, grid_points):
        return list(self.values)

    def grid_size(self, grid_points):
        return len(self.values)

    def contains(self, value):
        return any(_same(v, value) for v in self.values)

    def decode_codes(self, u):
        return np.minimum((u * len(self.values)).astype(int), len(self.values) - 1)

    def features_of_codes(self, codes):
        return np.eye(len(self.values))[codes][:, :self.n_features]

    def codes_in(self, codes, allowed):
        return np.isin(codes, [self._index(a) for a in allowed])


class _Range(Domain):
    """A numeric interval [low, high], linear or log-scaled."""

    log = False
    integer = False

    def __init__(self, low, high, when):
        super().__init__(when)
        kind = numbers.Integral if self.integer else numbers.Real
        name = type(self).__name__
        self.low = check_scalar(low, f"{name}: low", kind)
        self.high = check_scalar(high, f"{name}: high", kind)
        if self.low >= self.high:
            raise ValueError(f"{name}: low must be < high, got low={self.low!r}, high={self.high!r}")
        if self.log and self.low <= 0:
            raise ValueError(f"{name}: a log domain needs low > 0, got low={self.low!r}")
        # values are drawn as low + u (high - low) in floats: the width must be a finite float, and an Int's
        # bounds exact floats (beyond 2**53 only every 2nd, 4th... integer could be drawn)
        if not math.isfinite(float(self.high) - float(self.low)):
            raise ValueError(f"{name}: high - low overflows a float (low={self.low!r}, high={self.high!r}); "
                             f"narrow the domain")
        if self.integer and max(abs(self.low), abs(self.high)) > MAX_EXACT_INT:
            raise ValueError(f"{name}: bounds must lie within +-2**53 (integers drawn through floats), got "
                             f"low={self.low!r}, high={self.high!r}")

    def __repr__(self):
        log = ", log=True" if self.log and isinstance(self, Int) else ""
        return f"{type(self).__name__}({self.low!r}, {self.high!r}{log}{self._cond_repr()})"

    def _scale(self, x: float) -> float:
        """x in [low, high] -> [0, 1] (in log space for log domains)."""
        if self.log:
            return (math.log(x) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (x - self.low) / (self.high - self.low)

    def _unscale(self, t: float) -> float:
        if self.log:
            return math.exp(math.log(self.low) + t * (math.log(self.high) - math.log(self.low)))
        return self.low + t * (self.high - self.low)

    def decode(self, u):
        return min(max(self._unscale(u), self.low), self.high)

    def latent(self, value):
        return self._scale(value)

    def features(self, value):
        return [self._scale(value)]

    def grid(self, grid_points):
        """``grid_points`` values evenly spaced (in log space for log domains), the bounds exactly: exp(log x)
        is not x, and the top of a log grid came out above ``high`` for most bounds."""
        inner = [min(max(self._unscale(float(t)), self.low), self.high) for t in np.linspace(0.0, 1.0, grid_points)]
        return [float(self.low)] + inner[1:-1] + [float(self.high)]

    def contains(self, value):
        return isinstance(value, numbers.Real) and self.low <= value <= self.high

    def decode_codes(self, u):
        t = np.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low))) if self.log \
            else self.low + u * (self.high - self.low)
        return np.clip(t, self.low, self.high)

    def features_of_codes(self, codes):
        if self.log:
            t = (np.log(codes) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        else:
            t = (codes - self.low) / (self.high - self.low)
        return t[:, None]


class Uniform(_Range):
    """A real number uniform in [low, high]."""

    def __init__(self, low, high, *, when: Mapping | None = None):
        super().__init__(low, high, when)


class LogUniform(_Range):
    """A real number whose logarithm is uniform in [log low, log high] (low > 0): learning rates, decays."""

    log = True

    def __init__(self, low, high, *, when: Mapping | None = None):
        super().__init__(low, high, when)


class Int(_Range):
    """An integer in [low, high] (both included); ``log=True`` draws it log-uniformly (widths, batch sizes)."""

    integer = True

    def __init__(self, low, high, log: bool = False, *, when: Mapping | None = None):
        self.log = check_scalar(log, "Int: log", bool)
        super().__init__(low, high, when)

    # An integer k owns the cell [k - 0.5, k + 0.5] (log: [k - 0.5, k + 0.5] mapped through log), so every
    # integer has a cell; the latent/feature value of k is the centre of its cell.
    def _edges(self):
        return self.low - 0.5, self.high + 0.5

    def _cell_scale(self, x: float) -> float:
        lo, hi = self._edges()
        if self.log:
            return (math.log(x) - math.log(lo)) / (math.log(hi) - math.log(lo))
        return (x - lo) / (hi - lo)

    def decode(self, u):
        lo, hi = self._edges()
        x = math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))) if self.log else lo + u * (hi - lo)
        return int(min(max(round(x), self.low), self.high))

    def latent(self, value):
        return self._cell_scale(value)

    def decode_codes(self, u):
        lo, hi = self._edges()
        x = np.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))) if self.log else lo + u * (hi - lo)
        return np.clip(np.round(x), self.low, self.high).astype(int)

    def grid_size(self, grid_points):
        return min(self.high - self.low + 1, grid_points)

    def grid(self, grid_points):
        if self.high - self.low + 1 <= grid_points:
            return list(range(self.low, self.high + 1))
        return sorted({int(round(v)) for v in super().grid(grid_points)})

    def contains(self, value):
        return isinstance(value, numbers.Integral) and not isinstance(value, bool) and super().contains(value)


class Space:
    """A validated search space (``Space(dict)``); ``search`` builds one from the user's dict.

    ``names`` lists the domains in an order where every parent comes before its children."""

    def __init__(self, space: Mapping | Space):
        if isinstance(space, Space):
            space = dict(space.spec)
        if not isinstance(space, Mapping):
            raise TypeError(f"space must be a dict of name -> domain or constant, got {type(space).__name__}")
        if not space:
            raise ValueError("space is empty: give at least one parameter")
        for name in space:
            if not isinstance(name, str):
                raise TypeError(f"space: parameter names must be strings, got {name!r}")
        self.spec: dict = dict(space)
        self.domains = {k: v for k, v in self.spec.items() if isinstance(v, Domain)}
        self.constants = {k: v for k, v in self.spec.items() if not isinstance(v, Domain)}
        if not self.domains:
            raise ValueError("space has no domain to search (only constants): wrap a value in Choice, Int, "
                             "Uniform or LogUniform")
        self.names = self._ordered()
        offsets, n = {}, 0
        for name in self.names:
            dom = self.domains[name]
            offsets[name] = n
            n += dom.n_features + (1 if dom.when else 0)
        self._offsets, self.n_features = offsets, n

    def _ordered(self) -> list[str]:
        for name, dom in self.domains.items():
            for parent, allowed in dom.when.items():
                pdom = self.domains.get(parent)
                if parent == name or not isinstance(pdom, (Choice, Int)):
                    raise ValueError(f"space: {name!r} is conditional on {parent!r}, which must be another "
                                     f"Choice or Int parameter of the space")
                bad = [a for a in allowed if not pdom.contains(a)]
                if bad:
                    raise ValueError(f"space: {name!r} is conditional on {parent!r} taking {bad!r}, which "
                                     f"{parent!r} = {pdom!r} never takes")
        ordered: list[str] = []
        pending = list(self.domains)
        while pending:
            ready = [n for n in pending if all(p in ordered for p in self.domains[n].when)]
            if not ready:
                raise ValueError(f"space: the conditions among {pending!r} form a cycle")
            ordered += ready
            pending = [n for n in pending if n not in ready]
        return ordered

    @property
    def n_latent(self) -> int:
        return len(self.names)

    @property
    def n_dims(self) -> int:
        """The domains that can take more than one value: the dimensions a model-based searcher explores (its
        initial design's size). A one-value Choice keeps its latent coordinate, which decodes to its value."""
        return sum(not (isinstance(d, Choice) and len(d.values) == 1) for d in self.domains.values())

    def categorical_mask(self) -> np.ndarray:
        """Which latent coordinates are categorical (perturbed by resampling, not by a step)."""
        return np.array([isinstance(self.domains[n], Choice) for n in self.names])

    def _active(self, name: str, params: Mapping) -> bool:
        return all(p in params and params[p] in allowed for p, allowed in self.domains[name].when.items())

    def decode(self, u) -> dict:
        """Latent vector (one coordinate per domain, in ``names`` order) -> the objective's params dict."""
        params: dict = {}
        for i, name in enumerate(self.names):
            if self._active(name, params):
                params[name] = self.domains[name].decode(float(u[i]))
        return self._with_constants(params)

    def _with_constants(self, params: dict) -> dict:
        out = dict(self.constants)
        out.update(params)
        return {k: out[k] for k in self.spec if k in out}  # the user's order

    def sample(self, rng: np.random.Generator) -> dict:
        return self.decode(rng.random(self.n_latent))

    def latent(self, params: Mapping) -> np.ndarray:
        """params -> a latent vector that decodes back to them (inactive coordinates at 0.5)."""
        return np.array([self.domains[n].latent(params[n]) if n in params else 0.5 for n in self.names])

    def features(self, params: Mapping) -> np.ndarray:
        """params -> the GP's feature vector in [0, 1]^n_features (see the module docstring)."""
        x = np.zeros(self.n_features)
        for name in self.names:
            dom, at = self.domains[name], self._offsets[name]
            if dom.when:
                x[at] = 1.0 if name in params else 0.0
                at += 1
            if name in params:
                x[at:at + dom.n_features] = dom.features(params[name])
            elif not isinstance(dom, Choice):
                x[at] = 0.5
        return x

    def features_of_latent(self, U: np.ndarray) -> np.ndarray:
        """``features(decode(u))`` for every row u of U, vectorized (the acquisition scores thousands)."""
        n = len(U)
        F = np.zeros((n, self.n_features))
        codes: dict[str, np.ndarray] = {}
        active: dict[str, np.ndarray] = {}
        for i, name in enumerate(self.names):
            dom, at = self.domains[name], self._offsets[name]
            act = np.ones(n, bool)
            for parent, allowed in dom.when.items():
                act &= active[parent] & self.domains[parent].codes_in(codes[parent], allowed)
            codes[name], active[name] = dom.decode_codes(U[:, i]), act
            if dom.when:
                F[:, at] = act
                at += 1
            fill = 0.0 if isinstance(dom, Choice) else 0.5
            F[:, at:at + dom.n_features] = np.where(act[:, None], dom.features_of_codes(codes[name]), fill)
        return F

    def grid(self, grid_points: int = 5, limit: int = GRID_LIMIT, allow_large: bool = False) -> list[dict]:
        """Every combination (conditional parameters only where active); continuous domains take
        ``grid_points`` values (log-spaced for log domains). More than ``limit`` combinations raise
        unless ``allow_large``."""
        grid_points = check_scalar(grid_points, "grid_points", numbers.Integral, min_val=2)
        limit = check_scalar(limit, "grid_limit", numbers.Integral, min_val=1)
        too_large = ValueError(f"the grid has more than {limit} combinations (grid_points={grid_points}); pass "
                               f"allow_large=True to run it anyway, or use method='random'")
        # every value of every domain is in some combination (a condition's values are ones its parent takes):
        # one domain with more values than the limit is refused before its values are made (grid_points=10**9)
        if not allow_large and any(self.domains[n].grid_size(grid_points) > limit for n in self.names):
            raise too_large
        values = {n: self.domains[n].grid(grid_points) for n in self.names}
        out = []
        for params in self._combinations(values, 0, {}):
            out.append(self._with_constants(params))
            if len(out) > limit and not allow_large:
                raise too_large
        return out

    def _combinations(self, values, i, params) -> Iterator[dict]:
        if i == len(self.names):
            yield dict(params)
            return
        name = self.names[i]
        if not self._active(name, params):
            yield from self._combinations(values, i + 1, params)
            return
        for v in values[name]:
            params[name] = v
            yield from self._combinations(values, i + 1, params)
        del params[name]

    def __repr__(self):
        return f"Space({self.spec!r})"


__all__ = ["Domain", "Choice", "Int", "Uniform", "LogUniform", "Space", "GRID_LIMIT"]
