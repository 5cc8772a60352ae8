"""The searchers behind ``fastnn.tune.search(method=...)``; each follows the ask/tell interface of base.py."""
from __future__ import annotations

from .base import WAIT, Ask, Searcher, trial_rng
from .bayes import BayesSearcher
from .bohb import BOHBSearcher
from .hyperband import AsyncSuccessiveHalving, HyperbandSearcher
from .simple import GridSearcher, RandomSearcher, RefineSearcher

BUDGETED = ("successive_halving", "hyperband", "bohb")  # objective(params, budget)


def make_searcher(method, space, n_trials, seed, lag, options):
    """The searcher of ``method`` with its options (unknown options raise TypeError naming them)."""
    if method == "successive_halving":
        if options.get("asynchronous"):
            options = {k: v for k, v in options.items() if k != "asynchronous"}
            return AsyncSuccessiveHalving(space, n_trials, seed, lag, **options)
        return HyperbandSearcher(space, n_trials, seed, lag, brackets="sh", **options)
    return METHODS[method](space, n_trials, seed, lag, **options)


METHODS = {"grid": GridSearcher, "random": RandomSearcher, "random+refine": RefineSearcher,
           "bayes": BayesSearcher, "successive_halving": HyperbandSearcher, "hyperband": HyperbandSearcher,
           "bohb": BOHBSearcher}

__all__ = ["WAIT", "Ask", "Searcher", "trial_rng", "make_searcher", "METHODS", "BUDGETED"]
