"""``DaskExecutor``: trials as tasks on a Dask distributed cluster (the optional extra ``fastnn[dask]``).

A trial is a pure function of its arguments (the sampled parameters and the trial's seed), so when a worker is
lost in the middle of a trial, the scheduler's own rescheduling reruns the task on another worker with the same
arguments and the rerun computes exactly what the lost attempt would have. Every trial is submitted with
``pure=False`` and a key of its own: two trials with equal arguments are never merged into one task, and a
rerun keeps the key of its trial, so its future resolves once -- the trial is neither lost nor counted twice.
A finished trial's result is fetched as soon as ``wait_any`` (or ``result()``) sees it done and the task is
released, waiting until the scheduler has read the release: a worker lost AFTER a trial finished would
otherwise make the scheduler recompute the result it held.
A task that keeps killing its workers ends, after the scheduler's ``distributed.scheduler.allowed-failures``
attempts, with ``KilledWorker`` from ``future.result()``: a failed trial.

The function a search submits holds its objective, and a tuning objective holds the training set: it is
scattered to every worker once (``broadcast=True``: a lost worker leaves the other copies; a worker that joins
later fetches one from a peer) and the tasks name it, instead of each task carrying a pickled copy. Should
every copy be lost, the next submit scatters it again.

Threads: at its first trial a worker process sets fastnn's thread count (kernels and BLAS) to its host's cores
divided by the Dask threads of all workers on that host (from the scheduler), so a host's concurrent trials do
not oversubscribe it; ``threads_per_trial=`` fixes the count instead.
"""
from __future__ import annotations

import numbers
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from .._optional import optional_import
from ..validation import check_scalar
from ._executors_pool import available_cores

_worker_threads: dict[str, int] = {}  # per worker process: worker address -> thread count already set


_SCHEMES = ("tcp://", "tls://", "inproc://", "ucx://", "ws://", "wss://")


def is_dask_target(executor: Any) -> bool:
    """Whether ``search(executor=...)`` names a Dask cluster: a ``distributed.Client`` (recognized without
    importing dask) or a scheduler address such as ``"tcp://127.0.0.1:8786"``."""
    if isinstance(executor, str):
        return executor.startswith(_SCHEMES)
    return any(c.__module__.startswith("distributed.") and c.__name__ == "Client" for c in type(executor).__mro__)


def host_threads(host: str, workers: dict) -> int:
    """Dask threads of all workers on ``host``, from ``scheduler_info()["workers"]``."""
    return sum(info.get("nthreads", 1) for info in workers.values() if info.get("host") == host) or 1


def _run_trial(fn: Callable, args: tuple, threads_per_trial: int | None) -> Any:
    """The task a worker runs: set this worker's thread count once, then the trial."""
    from distributed import get_client, get_worker

    from .._config import set_num_threads

    worker = get_worker()
    if worker.address not in _worker_threads:
        n = threads_per_trial
        if n is None:
            workers = get_client().scheduler_info(n_workers=-1)["workers"]
            n = max(1, available_cores() // host_threads(worker.ip, workers))
        set_num_threads(n)
        _worker_threads[worker.address] = n
    return fn(*args)


def _wait_released(future, timeout: float = 5.0) -> None:
    """Release ``future`` and wait until the scheduler no longer wants its task. A release is a batched message,
    not a call: a worker lost right after the trial finished (before the scheduler read the release) would
    make the scheduler recompute the result for a client that still seemed to want it."""
    client, key = future.client, future.key
    future.release()

    def wanted(dask_scheduler=None) -> bool:  # defined here: cloudpickle sends it by value, no fastnn needed there
        task = dask_scheduler.tasks.get(key)
        return task is not None and bool(task.who_wants)

    deadline = time.monotonic() + timeout
    while client.run_on_scheduler(wanted) and time.monotonic() < deadline:
        time.sleep(0.002)


def _wait_first(futures: list, timeout: float | None) -> bool:
    """Block until one of the Dask ``futures`` is done or ``timeout`` passes; whether one is done. Done-callbacks
    rather than ``distributed.wait``, which works only through the process's default client."""
    finished = threading.Event()
    for future in futures:
        future.add_done_callback(lambda _: finished.set())
    return finished.wait(timeout)


class TrialFuture:
    """A trial on the cluster: ``result()``, ``exception()``, ``done()``. Once resolved it holds the outcome
    itself and has released the Dask task (see the module docstring)."""

    def __init__(self, future):
        self._future = future
        self.key = future.key
        self._outcome: tuple[bool, Any] | None = None

    def done(self) -> bool:
        return self._outcome is not None or self._future.done()

    def result(self, timeout: float | None = None) -> Any:
        ok, value = self._resolve(timeout)
        if ok:
            return value
        raise value

    def exception(self, timeout: float | None = None) -> BaseException | None:
        ok, value = self._resolve(timeout)
        return None if ok else value

    def _resolve(self, timeout: float | None = None) -> tuple[bool, Any]:
        if self._outcome is None:
            if timeout is not None and not _wait_first([self._future], timeout):
                raise TimeoutError(f"trial {self.key} not finished after {timeout} s")
            try:
                self._outcome = (True, self._future.result())
            except Exception as exc:  # the trial's error, or KilledWorker / CancelledError from the cluster
                self._outcome = (False, exc)
            _wait_released(self._future)
        return self._outcome

    def __repr__(self) -> str:
        state = "pending" if self._outcome is None else ("finished" if self._outcome[0] else "error")
        return f"<TrialFuture {self.key} {state}>"


class DaskExecutor:
    """Run trials on a Dask cluster: ``DaskExecutor(client)`` or ``DaskExecutor("tcp://host:8786")``.

    With an address the executor opens its own ``Client`` and closes it in ``shutdown()``; a client passed in
    stays the caller's. ``wait_any`` returns as soon as one trial finishes, so a search keeps every worker busy.
    The objective must be importable by the workers (or picklable by cloudpickle). Threads may share one executor
    and submit at once: a function is still scattered once while it is the one submitted.
    """

    def __init__(self, client_or_address, *, threads_per_trial: int | None = None, timeout: float = 30.0):
        Client = optional_import("distributed", "a Dask executor", "fastnn[dask]").Client

        self.threads_per_trial = check_scalar(threads_per_trial, "threads_per_trial", numbers.Integral, min_val=1,
                                              allow_none=True)
        timeout = check_scalar(timeout, "timeout", numbers.Real, min_val=0, include_boundaries="neither")
        self._shipped: tuple = ()  # (the function, its scattered Future) while one is on the workers
        # held from the check of _shipped to the submit that names its Future: threads sharing this executor ship
        # a function once, and none lets go of a Future another is about to submit with
        self._ship_lock = threading.Lock()
        if isinstance(client_or_address, Client):
            if client_or_address.asynchronous:
                raise ValueError("client_or_address must be a synchronous dask.distributed.Client (this one was "
                                 "made with asynchronous=True)")
            self.client, self._owns_client = client_or_address, False
        elif isinstance(client_or_address, str):
            self.client = Client(client_or_address, timeout=timeout, set_as_default=False)
            self._owns_client = True
        else:
            raise TypeError(f"client_or_address must be a dask.distributed.Client or a scheduler address such as "
                            f"'tcp://127.0.0.1:8786', got {type(client_or_address).__name__}")

    @property
    def n_workers(self) -> int:
        """Trials the cluster runs at once now: the total Dask threads of its workers (at least 1)."""
        return max(1, sum(self.client.nthreads().values()))

    def submit(self, fn: Callable, /, *args) -> TrialFuture:
        """Submit ``fn(*args)`` as a task with a key of its own."""
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        key = f"fastnn-trial-{getattr(fn, '__name__', 'fn')}-{uuid.uuid4().hex}"
        with self._ship_lock:  # a submitted task holds its function's data: only then may another thread release it
            future = self.client.submit(_run_trial, self._ship(fn), args, self.threads_per_trial, key=key, pure=False)
        return TrialFuture(future)

    def _ship(self, fn: Callable):
        """``fn`` scattered to the workers, once while it is the function submitted (a search submits one);
        the previous one is let go. Called with ``_ship_lock`` held."""
        if self._shipped and self._shipped[0] is fn and self._shipped[1].status == "finished":
            return self._shipped[1]
        self._release_shipped()
        self._shipped = (fn, self.client.scatter(fn, broadcast=True, hash=False))
        return self._shipped[1]

    def _release_shipped(self) -> None:
        if self._shipped:
            self._shipped[1].release()
            self._shipped = ()

    @staticmethod
    def wait_any(futures, timeout: float | None = None) -> tuple[set, set]:
        """Block until at least one of ``futures`` is done (or ``timeout`` seconds pass): (done, pending)."""
        futures = set(futures)
        if futures and all(f._outcome is None for f in futures):
            _wait_first([f._future for f in futures], timeout)
        done = {f for f in futures if f.done()}
        for future in done:
            future._resolve()
        return done, futures - done

    def shutdown(self) -> None:
        """Let go of the scattered function, and close the client if this executor opened it. Idempotent."""
        with self._ship_lock:
            self._release_shipped()
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc_info) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"DaskExecutor({self.client!r})"
