"""BOHB (Falkner et al. 2018, "BOHB: Robust and efficient hyperparameter optimization at scale"): Hyperband
whose brackets start configurations proposed by a model instead of uniform draws.

The brackets, budgets and promotions are Hyperband's (hyperband.py), so both spend the same budget. What changes
is where a bracket's new configurations come from. For a new configuration:

* with probability ``random_fraction`` (BOHB's rho = 1/3) it is a uniform draw, the same one Hyperband would
  make: the model can never shut out a region, so BOHB keeps Hyperband's worst-case guarantee within a
  constant factor;
* otherwise the model's budget is the largest budget with at least ``min_points`` successful results
  (default d + 1, d = the space's dimensions, Space.n_dims: BOHB's N_min); a GP (fastnn.tune.gp) is fitted to
  those results and the configuration maximizing log Expected Improvement is proposed, exactly as ``"bayes"``
  proposes (searchers/bayes.py: ``propose_by_log_ei``). Results on a larger budget are less biased by short
  training, so the largest budget with enough points is the one trusted. No budget has enough points yet: a
  uniform draw.

BOHB's own model is a TPE-style kernel density estimator; fastnn fits the GP it already has (the same place in
the algorithm: a model of one budget's results; the GP is the stronger model at these trial counts, see
``"bayes"`` against TPE in bench/RESULTS.md).

Determinism, as for ``"bayes"``: the new configuration of trial i is proposed from the results of the trials
numbered below i - lag (the search waits for exactly those), with the new configurations numbered between as
pending points (kriging believer); so the same (seed, lag) gives the same trials on any executor. The price:
where Hyperband's parallel workers start the next bracket at once, BOHB's wait until the results before it
are in (all but ``lag`` of them), as Falkner et al.'s own synchronous BOHB does.
"""
from __future__ import annotations

import numbers

import numpy as np

from ...validation import check_scalar
from .base import WAIT, trial_rng
from .bayes import propose_by_log_ei
from .hyperband import HyperbandSearcher


class BOHBSearcher(HyperbandSearcher):
    def __init__(self, space, n_trials, seed, lag=0, *, min_budget=1, max_budget=27, eta=3, random_fraction=1 / 3,
                 min_points=None, n_candidates=2000, local_rounds=4, restarts=4):
        self.random_fraction = check_scalar(random_fraction, "random_fraction", numbers.Real, min_val=0, max_val=1)
        min_points = max(space.n_dims, 1) + 1 if min_points is None else min_points  # d + 1 (a GP needs 2)
        self.min_points = check_scalar(min_points, "min_points", numbers.Integral, min_val=2)
        self.n_candidates = check_scalar(n_candidates, "n_candidates", numbers.Integral, min_val=1)
        self.local_rounds = check_scalar(local_rounds, "local_rounds", numbers.Integral, min_val=0)
        self.restarts = check_scalar(restarts, "restarts", numbers.Integral, min_val=0)
        self.told: dict[int, tuple] = {}  # trial number -> (params, budget, loss)
        self.new_configs: dict[int, dict] = {}  # trial number -> params of the new configurations asked
        super().__init__(space, n_trials, seed, lag, min_budget=min_budget, max_budget=max_budget, eta=eta)

    def tell(self, ask, loss):
        self.told[ask.number] = (ask.params, ask.budget, loss)
        super().tell(ask, loss)

    def _sample(self, config, number):
        cut = number - self.lag
        if not all(b.settled_below(cut) for b in self.brackets):
            return WAIT
        params = self._propose(config, number, cut)
        self.new_configs[number] = params
        return params

    def _propose(self, config, number, cut):
        if trial_rng(self.seed, config, 3).random() < self.random_fraction:
            return super()._sample(config, number)
        done = [(p, b, loss) for j, (p, b, loss) in sorted(self.told.items()) if j < cut and loss is not None]
        counts: dict = {}
        for _, b, _ in done:
            counts[b] = counts.get(b, 0) + 1
        budgets = [b for b, n in counts.items() if n >= self.min_points]
        if not budgets:
            return super()._sample(config, number)
        top = max(budgets)
        params = [p for p, b, _ in done if b == top]
        losses = np.array([loss for _, b, loss in done if b == top], float)
        pending = [p for j, p in sorted(self.new_configs.items()) if cut <= j < number]
        return propose_by_log_ei(self.space, params, losses, pending, trial_rng(self.seed, config, 4),
                                 trial_rng(self.seed, config, 5), n_candidates=self.n_candidates,
                                 local_rounds=self.local_rounds, restarts=self.restarts)
