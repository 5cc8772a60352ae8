"""The searchers behind ``fastnn.tune.search(method=...)``; each follows the ask/tell interface of base.py."""
from __future__ import annotations

import importlib
from typing import Any

from ..._optional import not_installed
from ...validation import check_scalar
from .base import WAIT, Ask, Searcher, trial_rng
from .hyperband import AsyncSuccessiveHalving, HyperbandSearcher
from .simple import GridSearcher, RandomSearcher, RefineSearcher

BUDGETED = ("successive_halving", "hyperband", "bohb")  # objective(params, budget)


def make_searcher(method, space, n_trials, seed, lag, options):
    """The searcher of ``method`` with its options (unknown options raise TypeError naming them)."""
    if method == "successive_halving":
        options = dict(options)
        asynchronous = check_scalar(options.pop("asynchronous", False), "asynchronous", bool)
        if asynchronous:
            return AsyncSuccessiveHalving(space, n_trials, seed, lag, **options)
        return HyperbandSearcher(space, n_trials, seed, lag, brackets="sh", **options)
    return METHODS[method](space, n_trials, seed, lag, **options)


def _needs_scipy(module: str, name: str, method: str) -> Any:
    """The searcher class ``name`` of ``module``, imported when ``method`` is chosen: the Gaussian process needs
    scipy (the ``tune`` extra), which the other methods, and ``import fastnn.tune``, do without."""
    def make(*args: Any, **kwargs: Any) -> Searcher:
        try:
            cls = getattr(importlib.import_module(f"{__name__}.{module}"), name)
        except ModuleNotFoundError as exc:  # every other method works without scipy
            raise not_installed(exc, "scipy", f"method {method!r} (a Gaussian process)", "fastnn[tune]") from None
        return cls(*args, **kwargs)
    return make


METHODS = {"grid": GridSearcher, "random": RandomSearcher, "random+refine": RefineSearcher,
           "bayes": _needs_scipy("bayes", "BayesSearcher", "bayes"), "successive_halving": HyperbandSearcher,
           "hyperband": HyperbandSearcher, "bohb": _needs_scipy("bohb", "BOHBSearcher", "bohb")}

__all__ = ["WAIT", "Ask", "Searcher", "trial_rng", "make_searcher", "METHODS", "BUDGETED"]
