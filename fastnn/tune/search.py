"""``search``: run a method's trials on an executor, record them, return the best.

A trial is ``objective(params)`` (``objective(params, budget)`` for successive halving, Hyperband and BOHB)
and its score. An objective that raises or returns a non-finite value (NaN, inf) or no number makes a *failed*
trial: its error is recorded and the search goes on; if every trial fails, ``search`` raises
:class:`AllTrialsFailedError` with the first error's text. All arguments are checked before the first trial.
"""
from __future__ import annotations

import csv
import dataclasses
import functools
import io
import math
import numbers
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from ..formats.common import atomic_write_bytes
from ..validation import check_seed, non_negative_int, positive_int
from .executors import make_executor
from .journal import Journal, check_writable
from .searchers import BUDGETED, METHODS, WAIT, make_searcher
from .space import Space

MODES = ("min", "max")
TRIAL_COLUMNS = ("number", "config", "status", "score", "budget", "seconds", "error")  # to_csv's, before the params
LEARNING = ("random+refine", "bayes", "bohb")  # the methods whose proposals wait for earlier results (lag)


class AllTrialsFailedError(RuntimeError, ValueError):
    """Every trial of a search failed (its message quotes the first error). A RuntimeError, and a ValueError as
    fastnn's errors are: most often the objective cannot work with what it was given."""


@dataclasses.dataclass
class Trial:
    """One evaluation: ``status`` is "ok" or "failed" (then ``score`` is None and ``error`` says why)."""

    number: int
    params: dict
    score: float | None
    budget: Any = None
    seconds: float = 0.0
    status: str = "ok"
    error: str | None = None
    config: int | None = None


@dataclasses.dataclass
class SearchResult:
    best_params: dict
    best_score: float
    trials: list[Trial]
    method: str = "random"
    mode: str = "min"
    best_number: int | None = None  # the number of the trial chosen as the best

    @property
    def best_trial(self) -> Trial:
        """The trial chosen as the best (with Hyperband: at the largest budget, not an earlier rung of the same
        configuration that scored the same)."""
        if self.best_number is not None:
            return next(t for t in self.trials if t.number == self.best_number)
        return next(t for t in self.trials if t.status == "ok" and t.params == self.best_params
                    and t.score == self.best_score)

    def to_csv(self, path) -> None:
        """One row per trial: number, config, status, score, budget, seconds, error, then one column per
        parameter (empty where a conditional parameter was inactive; search refuses a parameter named like one
        of the first columns, which a CSV reader could not tell apart). The file is replaced atomically
        (fastnn.formats.common.atomic_write): a failed write leaves the file that was there, its error naming
        ``path``. So ``path`` must be a regular file or a new one: a symbolic link, a device or a pipe
        (/dev/stdout) is refused (ValueError); to print the table, write it to a file and read that."""
        names: list[str] = []
        for t in self.trials:
            names += [k for k in t.params if k not in names]
        text = io.StringIO(newline="")
        w = csv.writer(text)
        w.writerow([*TRIAL_COLUMNS, *names])
        for t in self.trials:
            w.writerow([getattr(t, k) if getattr(t, k) is not None else "" for k in TRIAL_COLUMNS]
                       + [t.params.get(k, "") for k in names])
        atomic_write_bytes(path, text.getvalue().encode("utf-8"))


def run_trial(objective: Callable, params: dict, budget: Any = None) -> dict:
    """Evaluate one trial where the executor runs it; the objective's failures become a failed record."""
    start = time.perf_counter()
    try:
        value = objective(dict(params)) if budget is None else objective(dict(params), budget)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"the objective must return a real number, got {type(value).__name__} {value!r}")
        score = float(value)
        if not math.isfinite(score):
            raise ValueError(f"the objective returned {score}")
        return {"score": score, "seconds": time.perf_counter() - start, "status": "ok", "error": None}
    except Exception as exc:  # a failed trial, recorded: the search goes on
        last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
        where = f" (at {last[0].filename}:{last[0].lineno})" if last else ""
        return {"score": None, "seconds": time.perf_counter() - start, "status": "failed",
                "error": f"{type(exc).__name__}: {exc}{where}"}


def search(objective: Callable, space: Mapping | Space, method: str = "random", n_trials: int = 50,
           mode: str = "min", seed: int = 0, executor: Any = None, journal=None, *, n_workers: int | None = None,
           lag: int | None = None, callback: Callable[[Trial], Any] | None = None,
           journal_key: Mapping | None = None, journal_digest: Callable[[dict], str | None] | None = None,
           **method_options) -> SearchResult:
    """Search ``space`` for the params minimizing (``mode="min"``) or maximizing ``objective``.

    ``method``: "grid" (options ``grid_points=5``, ``grid_limit=10000``, ``allow_large=False``; runs every
    combination, ``n_trials`` does not apply), "random", "random+refine" (``n_random=n_trials // 2``,
    ``top_k=3``, ``radius=0.2``, ``final_radius=0.02``), "bayes" (``n_initial``, ``n_candidates=2000``,
    ``local_rounds=4``, ``restarts=4``), "successive_halving" (``min_budget``, ``max_budget``, ``eta=3``,
    ``asynchronous=False``; ``n_trials`` configurations start) and "hyperband" (``min_budget``,
    ``max_budget``, ``eta=3``; brackets until ``n_trials`` configurations have started), "bohb" (Hyperband's
    brackets whose new configurations a GP proposes: ``random_fraction=1/3``, ``min_points=d+1``,
    ``n_candidates``, ``local_rounds``, ``restarts``; fastnn/tune/searchers/bohb.py).

    ``executor``: None (in-process), "processes" with ``n_workers``, a Dask client or address, or any object
    following fastnn.tune.executors.Executor. ``lag`` (default ``n_workers - 1``): how many trials before
    trial i are still pending when trial i is proposed by random+refine or bayes; same (seed, lag) -> same
    trials on any executor. ``journal``: a path; finished trials are appended durably and skipped when the
    same search runs again (the space's constants and Choice values must then be JSON-able; a journal whose
    records search did not write is refused: fastnn/tune/journal.py). ``journal_key``: a JSON-able dict of what
    else defines the objective (its data, metric, ...), part of the journal's identity, so a journal of another
    objective is refused rather than replayed (tune_model passes its own). ``journal_digest(params)``: what the
    objective makes of params (tune_model: a digest of the model and fit arguments), written in each record; a
    journal whose records' params make another digest now is refused (fastnn/tune/journal.py).
    ``callback(trial)`` is called as each trial finishes (progress lines). A parameter may not be named like a
    column of the trials table (``TRIAL_COLUMNS``: number, config, status, score, budget, seconds, error; see
    SearchResult.to_csv).
    """
    if not callable(objective):
        raise TypeError(f"objective must be callable, got {type(objective).__name__}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None, got {type(callback).__name__} {callback!r}")
    space = Space(space)
    taken = [name for name in space.spec if name in TRIAL_COLUMNS]
    if taken:
        raise ValueError(f"space: parameter {taken[0]!r} is named like a column of the trials table "
                         f"({', '.join(TRIAL_COLUMNS)}; SearchResult.to_csv): rename it")
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    n_trials = positive_int("n_trials", n_trials)
    if mode not in MODES:
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    seed = check_seed(seed)
    ex = make_executor(executor, n_workers)
    owned = ex is not executor  # made here: a pool, a Dask connection, or the wrapper of a caller's Client
    try:  # a refused argument below stops the pool (its manager thread) made above, as the end of the search does
        lag = max(0, ex.n_workers - 1) if lag is None else non_negative_int("lag", lag)
        searcher = make_searcher(method, space, n_trials, seed, lag, method_options)
        identity = {"method": method, "space": repr(space.spec), "n_trials": n_trials, "mode": mode, "seed": seed,
                    "options": repr(sorted(method_options.items()))}
        if method in LEARNING:  # only there does lag change the trials (a journal resumes on any executor otherwise)
            identity["lag"] = lag
        if journal_key is not None:
            if not isinstance(journal_key, Mapping):
                raise TypeError(f"journal_key must be a dict, got {type(journal_key).__name__}")
            identity["objective"] = dict(journal_key)
        book = None
        if journal is not None:
            check_writable(space)
            # ASHA numbers its trials in the order results arrive: its records are found by (config, budget)
            book = Journal(journal, identity, by_config=getattr(searcher, "numbers_follow_arrival", False),
                           digest_of=journal_digest)
    except BaseException:
        _shutdown_if_owned(ex, owned)
        raise
    sign = 1.0 if mode == "min" else -1.0
    trials: list[Trial] = []

    def finish(ask, record: Mapping, from_journal: bool) -> None:
        trial = Trial(ask.number, ask.params, record["score"], ask.budget, record["seconds"], record["status"],
                      record["error"], ask.config)
        searcher.tell(ask, None if trial.score is None else sign * trial.score)
        trials.append(trial)
        if book is not None and not from_journal:
            book.append(dataclasses.asdict(trial))
        if callback is not None:
            callback(trial)

    # one callable for every trial: a process pool sends it (and the data an objective holds) to each worker once
    trial = functools.partial(run_trial, objective)
    try:
        running: dict = {}
        exhausted = False
        while True:
            while not exhausted and len(running) < ex.n_workers:
                ask = searcher.ask()
                if ask is None:
                    exhausted = True
                elif ask == WAIT:
                    break
                else:
                    record = book.get(ask.number, ask.params, ask.budget, ask.config) if book is not None else None
                    if record is not None:
                        finish(ask, record, True)
                    else:
                        running[ex.submit(trial, ask.params, ask.budget)] = ask
            if not running:
                if exhausted:
                    break
                raise RuntimeError(f"searcher {method!r} waits with no trial running (a bug)")
            done, _ = ex.wait_any(list(running))
            for future in sorted(done, key=lambda f: running[f].number):
                finish(running.pop(future), _record_of(future), False)
    finally:
        _shutdown_if_owned(ex, owned)
    return _result(trials, method, mode, sign)


def _shutdown_if_owned(ex: Any, owned: bool) -> None:
    if owned and hasattr(ex, "shutdown"):  # what search() made itself (a DaskExecutor keeps a caller's Client open)
        ex.shutdown()


def _record_of(future: Any) -> dict:
    """A finished trial's record; an executor's own failure (its worker lost beyond the retries: WorkerLost,
    Dask's KilledWorker) is a failed trial too, so the search goes on."""
    try:
        return future.result()
    except Exception as exc:
        return {"score": None, "seconds": 0.0, "status": "failed", "error": f"{type(exc).__name__}: {exc}"}


def _result(trials: list[Trial], method: str, mode: str, sign: float) -> SearchResult:
    trials.sort(key=lambda t: t.number)
    ok = [t for t in trials if t.status == "ok"]
    if not ok:
        first = trials[0].error if trials else "no trial ran"
        raise AllTrialsFailedError(f"all {len(trials)} trials failed; the first error: {first}")
    if method in BUDGETED:
        # a configuration whose promotion failed (diverged at the larger budget, or failed there for any other
        # reason: either way it has no result at the budget it would be used for) is no candidate
        failed_at: dict = {}
        for t in trials:
            if t.status != "ok" and t.config is not None:
                failed_at[t.config] = max(failed_at.get(t.config, t.budget), t.budget)
        survived = [t for t in ok if t.config is None or not failed_at.get(t.config, t.budget) > t.budget]
        ok = survived or ok  # when every configuration failed at its largest budget, the best score still tells
        top = max(t.budget for t in ok)  # only the largest budget reached compares fairly
        ok = [t for t in ok if t.budget == top]
    best = min(ok, key=lambda t: (sign * float(t.score or 0.0), t.number))  # ok trials have a score
    return SearchResult(best.params, float(best.score or 0.0), trials, method, mode, best.number)
