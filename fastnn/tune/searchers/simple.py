"""Grid, random and random+refine: the chapter's first two methods."""
from __future__ import annotations

import numbers

import numpy as np

from ...validation import check_scalar
from ..space import GRID_LIMIT, Space
from .base import Ask, Searcher, trial_rng


class GridSearcher:
    """Every combination of the grid, in order (``n_trials`` does not apply: a grid is all or nothing)."""

    def __init__(self, space: Space, n_trials: int, seed: int, lag: int = 0, *, grid_points: int = 5,
                 grid_limit: int = GRID_LIMIT, allow_large: bool = False):
        self.points = space.grid(grid_points, grid_limit, check_scalar(allow_large, "allow_large", bool))
        self.next_number = 0

    def ask(self):
        if self.next_number >= len(self.points):
            return None
        self.next_number += 1
        return Ask(self.next_number - 1, self.points[self.next_number - 1])

    def tell(self, ask, loss):
        pass


class RandomSearcher(Searcher):
    """Independent uniform draws (in the latent coordinates: log domains log-uniformly)."""

    def __init__(self, space, n_trials, seed, lag=0):
        super().__init__(space, n_trials, seed, lag=0)  # never waits: no trial depends on a result

    def propose(self, number):
        return self.space.sample(trial_rng(self.seed, number))


def perturb(space: Space, u: np.ndarray, radius: float, rng: np.random.Generator) -> np.ndarray:
    """Latent points near ``u`` (one point, or one per row): numeric coordinates move by N(0, radius^2)
    (reflected into [0, 1]), categorical ones are redrawn with probability ``radius``."""
    cat = space.categorical_mask()
    v = np.abs(u + radius * rng.standard_normal(u.shape))
    v = np.clip(np.where(v > 1.0, 2.0 - v, v), 0.0, 1.0 - 1e-12)  # reflect at 0 and 1
    redraw = cat & (rng.random(u.shape) < radius)
    v = np.where(cat & ~redraw, u, v)
    return np.where(redraw, rng.random(u.shape), v)


class RefineSearcher(Searcher):
    """``n_random`` random trials, then trials drawn near the ``top_k`` best so far (cycling through them)
    with a radius shrinking geometrically from ``radius`` to ``final_radius`` (in latent units)."""

    def __init__(self, space, n_trials, seed, lag=0, *, n_random=None, top_k=3, radius=0.2,
                 final_radius=0.02):
        super().__init__(space, n_trials, seed, lag)
        n_random = max(1, n_trials // 2) if n_random is None else n_random
        # more random trials than trials would run past n_trials: the random stage asks for no trial budget
        self.n_random = check_scalar(n_random, "n_random", numbers.Integral, min_val=1, max_val=n_trials)
        self.top_k = check_scalar(top_k, "top_k", numbers.Integral, min_val=1)
        self.radius = check_scalar(radius, "radius", numbers.Real, min_val=0, include_boundaries="neither")
        self.final_radius = check_scalar(final_radius, "final_radius", numbers.Real, min_val=0,
                                         max_val=self.radius, include_boundaries="right")

    def ask(self):
        if self.next_number < self.n_random:  # the random stage waits for nothing
            number = self.next_number
            self.params[number] = self.space.sample(trial_rng(self.seed, number))
            self.next_number += 1
            return Ask(number, self.params[number])
        return super().ask()

    def propose(self, number):
        rng = trial_rng(self.seed, number)
        params, losses, _ = self.history(number)
        if not len(losses):
            return self.space.sample(rng)
        best = [params[i] for i in np.argsort(losses, kind="stable")[:self.top_k]]
        j, n_refine = number - self.n_random, max(1, self.n_trials - self.n_random - 1)
        radius = self.radius * (self.final_radius / self.radius) ** min(1.0, j / n_refine)
        centre = best[j % len(best)]
        return self.space.decode(perturb(self.space, self.space.latent(centre), radius, rng))
