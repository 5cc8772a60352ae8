"""The ask/tell interface every searcher follows, and the bookkeeping the model-based ones share.

``search`` asks for trials while workers are free and tells each result as it arrives:

* ``ask()`` -> a :class:`Ask` (trial number, params, budget), ``WAIT`` (nothing to run until more results
  are told) or ``None`` (the search is over);
* ``tell(ask, loss)``: ``loss`` is the score in minimization sign (``mode="max"`` negated), ``None`` for a
  failed trial.

Determinism: a trial's configuration depends only on the search seed, its number and the results the
searcher chose to wait for, never on timing. Searchers that learn from results (random+refine, bayes)
propose trial i from the results of trials 0 .. i-1-lag, treating the ``lag`` trials before it as pending;
they WAIT for exactly those, so the same (seed, lag) gives the same trials on any executor.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..space import Space


@dataclasses.dataclass(frozen=True)
class Ask:
    number: int
    params: dict
    budget: Any = None
    config: int | None = None  # the configuration's id (several trials of one config in SH/Hyperband)


WAIT = "wait"


def trial_rng(seed: int, number: int, stream: int = 0) -> np.random.Generator:
    """The random stream of trial ``number`` of the search seeded ``seed`` (independent of order and timing)."""
    return np.random.default_rng([seed, number, stream])


class Searcher:
    """Base: ``n_trials`` trials numbered 0, 1, ...; subclasses give ``propose(number)``."""

    def __init__(self, space: Space, n_trials: int, seed: int, lag: int = 0):
        self.space, self.n_trials, self.seed, self.lag = space, n_trials, seed, lag
        self.next_number = 0
        self.params: dict[int, dict] = {}
        self.losses: dict[int, float | None] = {}

    def ask(self):
        if self.next_number >= self.n_trials:
            return None
        number = self.next_number
        if any(j not in self.losses for j in range(number - self.lag)):
            return WAIT
        params = self.propose(number)
        self.params[number] = params
        self.next_number += 1
        return Ask(number, params)

    def tell(self, ask: Ask, loss: float | None) -> None:
        self.losses[ask.number] = loss

    def propose(self, number: int) -> dict:
        raise NotImplementedError

    def history(self, number: int) -> tuple[list[dict], np.ndarray, list[dict]]:
        """What trial ``number`` may learn from: (params, losses) of the successful trials before
        ``number - lag``, and the params of the trials in flight from its point of view (pending)."""
        cut = number - self.lag
        done = [j for j in range(cut) if self.losses[j] is not None]
        pending = [self.params[j] for j in range(max(cut, 0), number)]
        return [self.params[j] for j in done], np.array([self.losses[j] for j in done], float), pending
