"""The searchers behind ``fastnn.tune.search(method=...)``; each follows the ask/tell interface of base.py."""
from __future__ import annotations

import importlib
import inspect
from typing import Any

from ..._optional import not_installed
from ...validation import check_scalar
from .base import WAIT, Ask, Searcher, trial_rng
from .hyperband import AsyncSuccessiveHalving, HyperbandSearcher
from .simple import GridSearcher, RandomSearcher, RefineSearcher

BUDGETED = ("successive_halving", "hyperband", "bohb")  # objective(params, budget)


# keywords of a searcher's constructor that make_searcher sets itself: not options of a method
_INTERNAL = {"brackets"}


def method_options(method: str) -> list[str]:
    """The options ``search(method=...)`` takes, sorted: the keyword-only parameters of its searcher's constructor,
    and successive_halving's ``asynchronous`` (make_searcher's own). The one table every check of a method's
    options reads (search, the fastnn tune config). "bayes" and "bohb" import their searcher: scipy is needed."""
    entry = METHODS[method]
    cls = entry.load() if isinstance(entry, _NeedsScipy) else entry
    names = {p.name for p in inspect.signature(cls).parameters.values() if p.kind is p.KEYWORD_ONLY} - _INTERNAL
    return sorted(names | {"asynchronous"} if method == "successive_halving" else names)


def make_searcher(method, space, n_trials, seed, lag, options):
    """The searcher of ``method`` with its options (an unknown option raises TypeError naming it)."""
    unknown = sorted(set(options) - set(method_options(method)))
    if unknown:  # checked here rather than left to the constructor: "brackets" is make_searcher's, not the user's
        raise TypeError(f"method {method!r} does not take option {unknown[0]!r}")
    if method == "successive_halving":
        options = dict(options)
        asynchronous = check_scalar(options.pop("asynchronous", False), "asynchronous", bool)
        if asynchronous:
            return AsyncSuccessiveHalving(space, n_trials, seed, lag, **options)
        return HyperbandSearcher(space, n_trials, seed, lag, brackets="sh", **options)
    return METHODS[method](space, n_trials, seed, lag, **options)


class _NeedsScipy:
    """The searcher class ``name`` of ``module``, imported when ``method`` is used: the Gaussian process needs
    scipy (the ``tune`` extra), which the other methods, and ``import fastnn.tune``, do without."""

    def __init__(self, module: str, name: str, method: str):
        self.module, self.name, self.method = module, name, method

    def load(self) -> type:
        try:
            return getattr(importlib.import_module(f"{__name__}.{self.module}"), self.name)
        except ModuleNotFoundError as exc:  # every other method works without scipy
            raise not_installed(exc, "scipy", f"method {self.method!r} (a Gaussian process)",
                                "fastnn[tune]") from None

    def __call__(self, *args: Any, **kwargs: Any) -> Searcher:
        return self.load()(*args, **kwargs)


METHODS: dict[str, Any] = {"grid": GridSearcher, "random": RandomSearcher, "random+refine": RefineSearcher,
                           "bayes": _NeedsScipy("bayes", "BayesSearcher", "bayes"),
                           "successive_halving": HyperbandSearcher, "hyperband": HyperbandSearcher,
                           "bohb": _NeedsScipy("bohb", "BOHBSearcher", "bohb")}

__all__ = ["WAIT", "Ask", "Searcher", "trial_rng", "make_searcher", "method_options", "METHODS", "BUDGETED"]
