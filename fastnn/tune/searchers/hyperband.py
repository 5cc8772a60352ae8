"""Dynamic resource allocation: successive halving, Hyperband (Li et al. 2018), asynchronous SH (ASHA).

Budgets: with R = max_budget / min_budget, a bracket with s halvings runs rungs i = 0..s at budgets

    b_i = max_budget * eta^(i - s)          (rounded to integers when min_budget and max_budget are ints)

and starts n configurations; rung i + 1 runs the best n_(i+1) = floor(n eta^-(i+1)) successful ones of rung i (at
least one; Li et al.'s sizes, also for a float eta). ``successive_halving`` is one bracket with s = s_max =
floor(log_eta R) and n = n_trials. ``hyperband`` runs the brackets s = s_max, s_max - 1, ..., 0 with n_s =
ceil((s_max + 1) / (s + 1) * eta^s) configurations each (equal total budget per bracket), cycling until n_trials
configurations have started (the last bracket cut to fit). Both sizes are exact integer arithmetic for a whole
eta (3 or 3.0). The objective is called as ``objective(params,
budget)``; a promoted configuration is called again with the larger budget (``tune_model`` resumes it from its
checkpoint).

Synchronous brackets are deterministic: a rung is promoted when all its trials are in, and trial numbers are
fixed by (bracket, rung, rank). A new configuration is drawn when its trial is first asked for (Hyperband: a
uniform draw keyed by the configuration's number; BOHB, bohb.py: a model's proposal from the results so far).
All brackets are open at once, so parallel workers always find work.
``asynchronous=True`` (ASHA, Li et al. 2020) promotes a configuration as soon as it is in the top 1/eta of
the results its rung has so far, so no worker waits for a rung's slowest trial; its promotions then depend
on the order results arrive, so it is reproducible in-process but not across parallel executors. Its journal
records are found by (configuration, budget), not by trial number: a search resumed from its journal continues as
the resuming executor would have run it from the start (in-process: exactly the uninterrupted in-process run).
"""
from __future__ import annotations

import math
import numbers
import sys

from ...validation import check_scalar
from .base import WAIT, Ask, trial_rng


def rung_budgets(min_budget, max_budget, eta, s):
    """The budgets of a bracket with s halvings, smallest first."""
    integer = isinstance(min_budget, numbers.Integral) and isinstance(max_budget, numbers.Integral)
    out = [max_budget * float(eta) ** (i - s) for i in range(s + 1)]
    return [int(round(b)) for b in out] if integer else out


def check_budgets(min_budget, max_budget, eta):
    """(s_max, eta) of the budgets: the most halvings of a bracket, and eta as an int when it is a whole number
    (the brackets' sizes are then exact), else a float."""
    low = check_scalar(min_budget, "min_budget", numbers.Real, min_val=0, include_boundaries="neither")
    high = check_scalar(max_budget, "max_budget", numbers.Real, min_val=0, include_boundaries="neither")
    if high < low:
        raise ValueError(f"max_budget must be >= min_budget, got min_budget={low}, max_budget={high}")
    if high / low > sys.float_info.max:  # inf: no number of halvings
        raise ValueError(f"max_budget / min_budget must be at most {sys.float_info.max:.4g}, got "
                         f"min_budget={min_budget}, max_budget={max_budget}")
    eta = check_scalar(eta, "eta", numbers.Real, min_val=1, include_boundaries="neither")
    eta = int(eta) if eta.is_integer() else eta
    s_max = int(math.floor(math.log(high / low) / math.log(eta) + 1e-9))
    budgets = rung_budgets(min_budget, max_budget, eta, s_max)  # every bracket's budgets are the last of these
    if len(set(budgets)) < len(budgets):  # rounded to equal integers: a rung would rerun its budget (ASHA: stall)
        raise ValueError(f"eta={eta} is too small for integer budgets from {min_budget} to {max_budget}: the rungs' "
                         f"budgets {budgets} repeat; use a larger eta or real (float) budgets")
    return s_max, eta


def bracket_size(s_max, s, eta):
    """Li et al.'s n_s = ceil((s_max + 1) / (s + 1) * eta^s), the configurations of the bracket with s halvings;
    exact for an int eta (in floats, R = 3^10's s = 8 bracket had 8020 instead of 11/9 * 3^8 = 8019)."""
    if isinstance(eta, int):
        return -(-(s_max + 1) * eta**s // (s + 1))
    return math.ceil((s_max + 1) / (s + 1) * eta**s)


def rung_size(n, eta, i):
    """Li et al.'s n_i = floor(n eta^-i), at least one: the configurations of rung i of a bracket of n (rounding
    each rung from the last differs for a float eta); exact for an int eta."""
    size = n // eta**i if isinstance(eta, int) else math.floor(n * eta**-i + 1e-9)
    return max(1, size)


def _keep_int(value, original):
    return int(value) if isinstance(original, numbers.Integral) and not isinstance(original, bool) else value


class _Bracket:
    """One synchronous successive-halving bracket; trial numbers from ``first_number`` on."""

    def __init__(self, budgets, n, eta, first_config, first_number, sample):
        self.budgets, self.eta = budgets, eta
        self.sizes = [rung_size(n, eta, i) for i in range(len(budgets))]
        self.first_number = first_number
        self.n_numbers = sum(self.sizes)
        self.rung = 0
        self.sample = sample  # sample(config, number) -> params, or WAIT (a model waiting for results)
        self.queue: list[tuple] = [(first_config + k, None) for k in range(n)]  # (config, params): drawn when asked
        self.lengths = [n]  # the rungs' actual sizes so far (fewer successes promote fewer)
        self.results: dict[int, tuple] = {}  # number -> (config, params, loss)
        self.asked = 0

    def _number(self, rung, position):
        return self.first_number + sum(self.sizes[:rung]) + position

    def ask(self):
        if self.asked < len(self.queue):
            config, params = self.queue[self.asked]
            number = self._number(self.rung, self.asked)
            if params is None:
                params = self.sample(config, number)
                if params == WAIT:
                    return WAIT
                self.queue[self.asked] = (config, params)
            self.asked += 1
            return Ask(number, params, self.budgets[self.rung], config)
        return WAIT if not self.finished() else None

    def finished(self):
        last = self.rung == len(self.budgets) - 1
        return not self.queue or (last and len(self._rung_results()) == len(self.queue))

    def _rung_results(self):
        lo = self._number(self.rung, 0)
        return [self.results[j] for j in range(lo, lo + len(self.queue)) if j in self.results]

    def owns(self, number):
        return self.first_number <= number < self.first_number + self.n_numbers

    def settled_below(self, cut):
        """Whether every trial of this bracket numbered below ``cut`` has its result (or will never run)."""
        for rung, length in enumerate(self.lengths):
            lo = self._number(rung, 0)
            if any(j not in self.results for j in range(lo, min(lo + length, cut))):
                return False
        if self.lengths[-1] == 0 or len(self.lengths) == len(self.budgets):
            return True  # every rung's size is known (an empty rung ends the bracket)
        return self._number(len(self.lengths), 0) >= cut

    def tell(self, number, entry):
        self.results[number] = entry
        rung = self._rung_results()
        if len(rung) < len(self.queue) or self.rung == len(self.budgets) - 1:
            return
        ok = sorted((r for r in rung if r[2] is not None), key=lambda r: r[2])  # stable: ties by position
        keep = ok[:self.sizes[self.rung + 1]]
        self.rung += 1
        self.queue = [(c, p) for c, p, _ in keep]
        self.lengths.append(len(self.queue))
        self.asked = 0


class HyperbandSearcher:
    """Synchronous successive halving (``brackets="sh"``) or Hyperband (``brackets="hyperband"``)."""

    def __init__(self, space, n_trials, seed, lag=0, *, min_budget=1, max_budget=27, eta=3,
                 brackets="hyperband"):
        self.s_max, eta = check_budgets(min_budget, max_budget, eta)
        self.space, self.seed, self.eta, self.lag = space, seed, eta, lag
        self.min_budget, self.max_budget = min_budget, max_budget
        if brackets == "sh":
            plan = [(self.s_max, n_trials)]
        else:
            plan, left, s = [], n_trials, self.s_max
            while left > 0:
                n = bracket_size(self.s_max, s, eta)
                plan.append((s, min(n, left)))
                left -= plan[-1][1]
                s = s - 1 if s > 0 else self.s_max
        self.brackets, config, number = [], 0, 0
        for s, n in plan:
            b = _Bracket(rung_budgets(min_budget, max_budget, eta, s), n, eta, config, number, self._sample)
            self.brackets.append(b)
            config, number = config + n, number + b.n_numbers

    def _sample(self, config, number):
        """The params of a new configuration (of trial ``number``): uniform draws, independent of results."""
        return self.space.sample(trial_rng(self.seed, config))

    def ask(self):
        waiting = False
        for b in self.brackets:
            a = b.ask()
            if isinstance(a, Ask):
                return a
            waiting |= a == WAIT
        return WAIT if waiting else None

    def tell(self, ask, loss):
        for b in self.brackets:
            if b.owns(ask.number):
                b.tell(ask.number, (ask.config, ask.params, loss))
                return


class AsyncSuccessiveHalving:
    """ASHA: promote whenever a configuration is in the top 1/eta of its rung's results so far."""

    numbers_follow_arrival = True  # a journal finds its records by (config, budget), not by trial number

    def __init__(self, space, n_trials, seed, lag=0, *, min_budget=1, max_budget=27, eta=3):
        s_max, eta = check_budgets(min_budget, max_budget, eta)
        self.budgets = rung_budgets(min_budget, max_budget, eta, s_max)
        self.space, self.n_trials, self.seed, self.eta = space, n_trials, seed, eta
        self.rungs: list[list] = [[] for _ in self.budgets]  # per rung: (loss, config, params) of successes
        self.promoted: list[set] = [set() for _ in self.budgets]
        self.started = self.next_number = self.running = 0

    def ask(self):
        for k in range(len(self.budgets) - 2, -1, -1):
            done = sorted(self.rungs[k], key=lambda r: (r[0], r[1]))
            for _loss, config, params in done[:int(len(done) // self.eta)]:  # eta may be a float
                if config not in self.promoted[k]:
                    self.promoted[k].add(config)
                    return self._ask(params, self.budgets[k + 1], config)
        if self.started < self.n_trials:
            self.started += 1
            config = self.started - 1
            return self._ask(self.space.sample(trial_rng(self.seed, config)), self.budgets[0], config)
        return WAIT if self.running else None

    def _ask(self, params, budget, config):
        self.running += 1
        self.next_number += 1
        return Ask(self.next_number - 1, params, budget, config)

    def tell(self, ask, loss):
        self.running -= 1
        if loss is not None:
            self.rungs[self.budgets.index(ask.budget)].append((loss, ask.config, ask.params))
