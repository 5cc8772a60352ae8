"""Bayesian optimization: a GP on the space's features, log Expected Improvement as the acquisition.

Trial i: the first ``n_initial`` trials are a Latin hypercube in the latent coordinates (each latent axis
cut into n_initial strata, one point per stratum; default n_initial = max(5, d + 1, n_trials // 6) for the
space's d dimensions (Space.n_dims), at most n_trials // 3; on Hartmann-6, 60 trials, 4 of 20 seeds ended in
its second-best mode with 10 initial points, 6 with 7: within seed noise). After that the GP is fitted to the
successful trials before ``i - lag`` (their losses standardized robustly by gp.standardize: the same trials
whatever the scale of the scores, one diverged trial compressed), the trials in flight are added as
pseudo-observations at the GP's own mean (kriging believer: their neighbourhood loses its variance, so parallel
workers spread out), and the next configuration maximizes log EI (in the standardized units) over
``n_candidates`` random latent points plus rounds of local search around the best candidates and the best
observed points, each round with a smaller step.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..._config import threads
from ...validation import check_scalar
from ..gp import GP, log_expected_improvement
from .base import Ask, Searcher, trial_rng
from .simple import perturb


class BayesSearcher(Searcher):
    def __init__(self, space, n_trials, seed, lag=0, *, n_initial=None, n_candidates=2000, local_rounds=4,
                 restarts=4):
        super().__init__(space, n_trials, seed, lag)
        if n_initial is None:  # a sixth of the budget explores, at least d + 1 points, at most a third
            n_initial = min(max(5, space.n_dims + 1, n_trials // 6), max(1, n_trials // 3))
        self.n_initial = check_scalar(n_initial, "n_initial", numbers.Integral, min_val=1)
        self.n_candidates = check_scalar(n_candidates, "n_candidates", numbers.Integral, min_val=1)
        self.local_rounds = check_scalar(local_rounds, "local_rounds", numbers.Integral, min_val=0)
        self.restarts = check_scalar(restarts, "restarts", numbers.Integral, min_val=0)
        self._lhs = self._latin_hypercube()

    def _latin_hypercube(self) -> np.ndarray:
        rng = trial_rng(self.seed, 0, stream=2)  # the design, not a trial
        n, p = self.n_initial, self.space.n_latent
        strata = np.array([rng.permutation(n) for _ in range(p)]).T
        return (strata + rng.random((n, p))) / n

    def ask(self):
        if self.next_number < self.n_initial and self.next_number < self.n_trials:  # waits for nothing
            number = self.next_number
            self.params[number] = self.space.decode(self._lhs[number])
            self.next_number += 1
            return Ask(number, self.params[number])
        return super().ask()

    def propose(self, number):
        params, losses, pending = self.history(number)
        rng = trial_rng(self.seed, number)
        if len(losses) < 2:
            return self.space.sample(rng)
        return propose_by_log_ei(self.space, params, losses, pending, rng, trial_rng(self.seed, number, 1),
                                 n_candidates=self.n_candidates, local_rounds=self.local_rounds,
                                 restarts=self.restarts)


def propose_by_log_ei(space, params, losses, pending, rng, fit_rng, *, n_candidates, local_rounds, restarts):
    """The configuration maximizing log EI under a GP fitted to ``(params, losses)`` (at least 2; ``fit_rng``
    draws the fit's restarts), with ``pending`` params as kriging-believer pseudo-observations; candidates are
    ``n_candidates`` random latent points and the 5 best observed, refined in ``local_rounds`` rounds of local
    search around the 10 best (radius 0.1, divided by 3 each round). Also BOHB's model (searchers/bohb.py)."""
    # The matrices are at most n_trials wide: BLAS threads only contend (8x slower on a loaded machine).
    with threads(1):
        X = np.array([space.features(p) for p in params])
        gp = GP().fit(X, losses, fit_rng, restarts=restarts)
        best = float(gp.z.min())  # in the GP's standardized units, as its predictions
        if pending:
            Xp = np.array([space.features(p) for p in pending])
            gp = gp.condition_on(Xp, gp.predict(Xp)[0])

        def score(U):
            mean, std = gp.predict(space.features_of_latent(U))
            return log_expected_improvement(mean, std, best)

        U = rng.random((n_candidates, space.n_latent))
        U = np.vstack([U, np.array([space.latent(params[i]) for i in np.argsort(losses)[:5]])])
        S = score(U)
        radius = 0.1
        for _ in range(local_rounds):
            top = U[np.argsort(-S)[:10]]
            local = perturb(space, np.repeat(top, 30, axis=0), radius, rng)
            U, S = np.vstack([U, local]), np.r_[S, score(local)]
            radius /= 3
        return space.decode(U[int(np.argmax(S))])
