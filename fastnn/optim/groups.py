"""Parameter groups: hyperparameters per part of the model, resolved into contiguous runs of the flat buffer.

A group is a dict of *selectors* and *overrides*::

    {"kinds": ["bias", "norm"], "weight_decay": 0.0}     # no weight decay on biases and norm parameters
    {"layers": [0], "lr": 1e-3}                          # a smaller lr for the first layer
    {"names": ["0.W", "2.*"], "momentum": 0.5}           # by parameter name (fnmatch patterns)

Selectors: ``kinds`` (ParamEntry.kind: "weight", "bias", "norm"), ``layers`` (layer indices), ``names``
(exact names or shell patterns). A group with several selectors matches an entry that satisfies all of them.
Overrides: any hyperparameter of the optimizer (``lr`` may be a schedule). Groups are matched in order against
the ParamLayout entries: the first group that matches an entry owns it; entries no group matches use the
optimizer's defaults (group 0). Each group's entries become contiguous runs ("segments") of the flat buffer,
and adjacent entries of the same group merge into one segment, so the fused kernel makes one pass over the
whole buffer whatever the grouping.

The lr of a group: without an ``lr`` override it follows the optimizer's ``lr``, schedule included. An ``lr``
override replaces it: a float is that group's lr at every step, which the optimizer's schedule does not scale
(PyTorch's schedulers scale every group's lr from its own initial value). For a group to follow a schedule, give
it one: ``{"layers": [0], "lr": StepDecay(0.01, 2, 0.1)}`` under ``lr=StepDecay(0.1, 2, 0.1)`` is torch's
``StepLR(opt, 2, 0.1)`` over a group of lr 0.01. ``lr_scales`` (and so ``ReduceOnPlateau``) multiply each group's
lr, whichever it is.
"""
from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .._layout import ParamEntry, ParamLayout

SELECTORS = ("kinds", "layers", "names")


def no_decay_on_bias_and_norm() -> list[dict[str, Any]]:
    """The usual grouping for weight decay: none on biases and normalization parameters (gamma, beta)."""
    return [{"kinds": ["bias", "norm"], "weight_decay": 0.0}]


def normalize_groups(groups: Sequence[dict[str, Any]] | None,
                     hyper_names: Sequence[str]) -> list[dict[str, Any]]:
    """Check a ``param_groups=`` argument; return a list of fresh dicts (selectors as lists)."""
    if groups is None:
        return []
    if isinstance(groups, dict) or not isinstance(groups, (list, tuple)):
        raise TypeError(f"param_groups must be a list of dicts, got {type(groups).__name__}")
    out = []
    for i, g in enumerate(groups):
        if not isinstance(g, dict):
            raise TypeError(f"param_groups[{i}] must be a dict, got {type(g).__name__}")
        sel = [k for k in g if k in SELECTORS]
        if not sel:
            raise ValueError(f"param_groups[{i}] has no selector; give at least one of {list(SELECTORS)}")
        unknown = [k for k in g if k not in SELECTORS and k not in hyper_names]
        if unknown:
            raise ValueError(f"param_groups[{i}] has unknown keys {unknown}; selectors are {list(SELECTORS)} and "
                             f"overrides are this optimizer's hyperparameters {sorted(hyper_names)}")
        ng = {}
        for k, v in g.items():
            if k in SELECTORS:
                if isinstance(v, (str, numbers.Integral)):  # one selector value (numpy ints too)
                    v = [v]
                v = list(v)
                if k == "kinds":
                    bad = [x for x in v if x not in ("weight", "bias", "norm")]
                    if bad:
                        raise ValueError(f"param_groups[{i}]['kinds'] has unknown kinds {bad}; "
                                         "expected 'weight', 'bias' or 'norm'")
                elif k == "layers":
                    if not all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in v):
                        raise TypeError(f"param_groups[{i}]['layers'] must be layer indices (ints), got {v}")
                    v = [int(x) for x in v]
                else:
                    if not all(isinstance(x, str) for x in v):
                        raise TypeError(f"param_groups[{i}]['names'] must be strings, got {v}")
            ng[k] = v
        out.append(ng)
    return out


def matches(group: dict[str, Any], entry: ParamEntry) -> bool:
    if "kinds" in group and entry.kind not in group["kinds"]:
        return False
    if "layers" in group and entry.layer not in group["layers"]:
        return False
    if "names" in group and not any(fnmatchcase(entry.name, pat) for pat in group["names"]):
        return False
    return True


@dataclass
class Segments:
    """Runs of the flat buffer: segment s is [bounds[s], bounds[s+1]) and belongs to group ``group[s]``
    (0 = defaults, i = param_groups[i-1])."""
    bounds: np.ndarray  # int64, n_seg + 1
    group: np.ndarray   # intp, n_seg
    entry_group: list[int]  # group index of every layout entry, in layout order

    @property
    def n_seg(self) -> int:
        return len(self.group)


def split_at_entries(segments: Segments, layout: ParamLayout) -> Segments:
    """The same groups with one segment per non-empty entry (a tensor): what a rule per tensor iterates over."""
    kept = [(e, gi) for e, gi in zip(layout.entries, segments.entry_group) if e.size > 0]
    if not kept:
        return segments
    bounds = np.asarray([0] + [e.stop for e, _ in kept], np.int64)
    return Segments(bounds, np.asarray([gi for _, gi in kept], np.intp), segments.entry_group)


def resolve(groups: list[dict[str, Any]], layout: ParamLayout) -> Segments:
    """Assign every ParamLayout entry to its group and merge adjacent entries of the same group."""
    entry_group = []
    for e in layout.entries:
        gi = 0
        for i, g in enumerate(groups):
            if matches(g, e):
                gi = i + 1
                break
        entry_group.append(gi)
    bounds: list[int] = [0]
    owner: list[int] = []
    for e, gi in zip(layout.entries, entry_group):
        if e.size == 0:
            continue
        if owner and owner[-1] == gi:
            bounds[-1] = e.stop
        else:
            owner.append(gi)
            bounds.append(e.stop)
    if not owner:  # empty model: one empty segment of the defaults keeps the kernels' contract simple
        owner = [0]
        bounds = [0, 0]
    return Segments(np.asarray(bounds, np.int64), np.asarray(owner, np.intp), entry_group)
