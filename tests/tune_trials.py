"""Trial functions for the executor tests, in a module of their own so worker processes (local or Dask, with
this directory on their PYTHONPATH) import them by name."""
from __future__ import annotations

import os
import time

import numpy as np


def noisy_quadratic(params: dict, seed) -> float:
    """A score that depends only on (params, seed), as a real trial's does (a float seed: its bits)."""
    if isinstance(seed, float):
        seed = int(np.float64(seed).view(np.uint64))
    noise = np.random.default_rng(seed).standard_normal()
    return float((params["x"] - 0.3) ** 2 + 0.01 * noise)


def logged_trial(params: dict, seed, log_dir: str, sleep: float = 0.0) -> float:
    """``noisy_quadratic`` that leaves a trace of every attempt in ``log_dir``: ``started-<seed>-<pid>`` when it
    begins (so a test knows which process to kill), ``finished-<seed>-<pid>`` when it ends. While a file ``hold``
    lies in ``log_dir`` (at most 60 s) a started trial waits before its ``sleep``: a test that kills a worker
    mid-trial removes it only after the kill, so the trial cannot have finished first on a slow machine."""
    open(os.path.join(log_dir, f"started-{seed}-{os.getpid()}"), "w").close()
    deadline = time.monotonic() + 60.0
    while os.path.exists(os.path.join(log_dir, "hold")) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(sleep)
    score = noisy_quadratic(params, seed)
    open(os.path.join(log_dir, f"finished-{seed}-{os.getpid()}"), "w").close()
    return score


def thread_count() -> int:
    """fastnn's thread count in the process that runs the trial."""
    from fastnn import get_num_threads

    return get_num_threads()


def pid() -> int:
    return os.getpid()


def failing_trial(message: str) -> float:
    raise ValueError(message)


def fatal_trial() -> float:
    """Kills its own worker process every time it runs."""
    os._exit(3)


def branin(params: dict) -> float:
    """The Branin function (minimum 0.397887), an objective for searches run across processes."""
    x, y = params["x"], params["y"]
    return float((y - 5.1 / (4 * np.pi ** 2) * x ** 2 + 5 / np.pi * x - 6) ** 2
                 + 10 * (1 - 1 / (8 * np.pi)) * np.cos(x) + 10)


def logged_objective(params: dict) -> float:
    """An objective for ``search`` that logs its attempts as ``logged_trial`` does, under the tag ``x``;
    ``params`` carries the constants ``log_dir`` and ``sleep``."""
    return logged_trial({"x": params["x"]}, params["x"], params["log_dir"], params["sleep"])


class UnpicklingLogger:
    """An objective that leaves ``unpickled-<pid>-<n>`` in ``log_dir`` each time a process unpickles it: how
    often a pool sent it (with the data a real objective holds)."""

    def __init__(self, log_dir: str):
        self.log_dir = log_dir

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        n = len(os.listdir(self.log_dir))
        open(os.path.join(self.log_dir, f"unpickled-{os.getpid()}-{n}"), "w").close()

    def __call__(self, params: dict) -> float:
        return float((params["x"] - 0.3) ** 2)
