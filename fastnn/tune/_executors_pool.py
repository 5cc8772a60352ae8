"""``ProcessExecutor``: trials in a pool of local worker processes that survives a worker's death.

The executor protocol (fastnn.tune.executors): ``submit(fn, /, *args) -> future`` (a
``concurrent.futures.Future``), ``wait_any(futures) -> (done, pending)``, ``n_workers``.

Why not ``concurrent.futures.ProcessPoolExecutor``: when one of its workers dies the whole pool breaks and
every running trial fails with it. Here each worker is one process with its own pipe; a manager thread hands a
trial to an idle worker and watches the pipes and the process sentinels. A worker that dies (SIGKILL, the OOM
killer, a crash in C) is replaced and only ITS trial is resubmitted -- with the same arguments, hence the same
trial seed, so the rerun computes what the first attempt would have. A trial whose worker dies more than
``max_retries`` times (an objective that crashes its process every time) fails with ``WorkerLost``; the search
records it as a failed trial instead of retrying forever.

Workers start with the ``forkserver`` method (``spawn`` where there is none), never ``fork``: a forked child of
a process that has run an OpenMP region inherits libgomp's thread-pool state without its threads and can hang in
its first parallel region. Each worker runs ``cores // n_workers`` threads (fastnn's kernels and numpy's BLAS,
through ``set_num_threads``), so n_workers concurrent trials never oversubscribe the machine.
"""
from __future__ import annotations

import collections
import contextlib
import multiprocessing
import numbers
import os
import threading
import traceback
import weakref
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future
from concurrent.futures import wait as _wait_futures
from dataclasses import dataclass, field
from multiprocessing.connection import wait as _wait_ready
from multiprocessing.reduction import ForkingPickler
from typing import Any

from ..validation import check_scalar

_JOIN_TIMEOUT = 5.0  # seconds a worker gets to exit after being asked, before it is killed


class WorkerLost(RuntimeError):
    """The worker process running a trial died, on every attempt allowed."""


class RemoteTraceback(Exception):
    """Carries a worker's formatted traceback as the ``__cause__`` of the exception re-raised here."""

    def __str__(self) -> str:
        return "\n" + str(self.args[0])


def available_cores() -> int:
    """Cores this process may run on (its affinity mask on Linux)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _default_start_method() -> str:
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def _worker_main(conn, n_threads: int) -> None:
    """A worker's life: set its thread count once, then run (task_id, fn_key, fn or None, args) messages until
    ``None``. A function comes once per worker (with the data it holds: a tuning objective carries the training
    set), later messages name it by its key; the worker holds only the last one it was sent."""
    from .._config import set_num_threads

    set_num_threads(n_threads)
    held: tuple[int, Callable] | None = None
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if message is None:
            return
        task_id, key, fn, args = message
        if fn is not None:
            held = (key, fn)
        assert held is not None and held[0] == key, "the pool sends a function the worker does not hold"
        fn = held[1]
        try:
            reply = (task_id, True, fn(*args))
        except Exception as exc:
            reply = (task_id, False, (exc, traceback.format_exc()))
        try:
            conn.send(reply)  # pickles fully before writing, so a failure here sends nothing
        except Exception as exc:
            text = f"the trial's {'result' if reply[1] else 'exception'} could not be sent back: {exc!r}"
            conn.send((task_id, False, (RuntimeError(text), traceback.format_exc())))


@dataclass
class _Task:
    id: int
    fn: Callable
    args: tuple
    future: Future
    deaths: int = 0


@dataclass
class _Worker:
    process: Any
    conn: Any
    task: _Task | None = None
    held_key: int = -1  # the key of the function this worker holds (the last one sent to it)


@dataclass
class _Pool:
    """The state the manager thread owns. Kept apart from ``ProcessExecutor`` so the thread does not keep the
    executor alive: dropping the executor (or leaving the interpreter) stops the pool through a finalizer."""

    context: Any
    n_workers: int
    n_threads: int
    max_retries: int
    queue: collections.deque = field(default_factory=collections.deque)
    workers: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    closing: bool = False
    next_id: int = 0
    # the function of the latest trial dispatched and its key (a new function, a new key): only it is kept, so a
    # pool that serves many searches does not keep every search's objective and data alive
    current: tuple[Callable, int] | None = None

    def __post_init__(self):
        self.wake_reader, self.wake_writer = multiprocessing.Pipe(duplex=False)
        self.thread = threading.Thread(target=self.run, name="fastnn-process-executor", daemon=True)
        self.thread.start()

    # --- called from the user's thread --------------------------------------------------------------------------
    def submit(self, fn: Callable, args: tuple) -> Future:
        future: Future = Future()
        with self.lock:
            if self.closing:
                raise RuntimeError("cannot submit a trial to a ProcessExecutor that has been shut down")
            self.next_id += 1
            self.queue.append(_Task(self.next_id, fn, args, future))
        self.wake()
        return future

    def wake(self) -> None:
        try:
            self.wake_writer.send_bytes(b"")
        except OSError:  # already closed by shutdown
            pass

    def close(self) -> None:
        with self.lock:
            self.closing = True
        self.wake()
        self.thread.join(_JOIN_TIMEOUT + 1)
        for worker in list(self.workers):  # only left if the thread did not finish in time
            worker.process.kill()

    # --- the manager thread ---------------------------------------------------------------------------------------
    def run(self) -> None:
        try:
            while True:
                with self.lock:
                    if self.closing:
                        break
                    self.dispatch()
                watched = [self.wake_reader] + [w.conn for w in self.workers] + [w.process.sentinel
                                                                                 for w in self.workers]
                ready = set(_wait_ready(watched))
                if self.wake_reader in ready:
                    while self.wake_reader.poll():
                        self.wake_reader.recv_bytes()
                for worker in list(self.workers):
                    if worker.conn in ready or worker.process.sentinel in ready:
                        self.collect(worker)
        finally:
            self.stop_workers()

    def dispatch(self) -> None:
        """Hand queued trials to idle workers, starting workers up to n_workers (under the lock)."""
        while self.queue:
            idle = next((w for w in self.workers if w.task is None), None)
            if idle is None:
                if len(self.workers) >= self.n_workers:
                    return
                try:
                    idle = self.start_worker()
                except Exception as exc:  # fork or fd limits: that trial fails; the manager thread lives on
                    task = self.queue.popleft()
                    if task.deaths or task.future.set_running_or_notify_cancel():  # not one the caller cancelled
                        task.future.set_exception(WorkerLost(f"could not start a worker process for this trial: "
                                                             f"{exc!r}"))
                    continue
            task = self.queue.popleft()
            if task.deaths == 0 and not task.future.set_running_or_notify_cancel():
                continue  # cancelled while queued
            idle.task = task
            if self.current is None or self.current[0] is not task.fn:
                self.current = (task.fn, self.current[1] + 1 if self.current is not None else 0)
            key = self.current[1]
            try:  # the function itself only to a worker that does not hold it yet
                idle.conn.send((task.id, key, None if idle.held_key == key else task.fn, task.args))
            except Exception as exc:  # fn or args cannot be pickled: the trial fails, the worker stays idle
                idle.task = None
                task.future.set_exception(exc)
            else:
                idle.held_key = key

    def start_worker(self) -> _Worker:
        parent_end, child_end = self.context.Pipe()
        process = self.context.Process(target=_worker_main, args=(child_end, self.n_threads),
                                       name="fastnn-trial-worker")
        process.start()
        child_end.close()
        worker = _Worker(process, parent_end)
        self.workers.append(worker)
        return worker

    def collect(self, worker: _Worker) -> None:
        """Take a finished trial's reply; or, if the worker died, retire it and requeue its trial."""
        try:
            if worker.conn.poll():
                task_id, ok, value = worker.conn.recv()
                task, worker.task = worker.task, None
                if task is not None and task.id == task_id:
                    if ok:
                        task.future.set_result(value)
                    else:
                        exc, text = value
                        exc.__cause__ = RemoteTraceback(text)
                        task.future.set_exception(exc)
                return
        except (EOFError, OSError):
            pass  # died mid-reply: handled as a death below
        if worker.process.is_alive():
            return
        worker.process.join()
        worker.conn.close()
        with self.lock:
            self.workers.remove(worker)
            task = worker.task
            if task is None:
                return
            task.deaths += 1
            if task.deaths > self.max_retries:
                task.future.set_exception(WorkerLost(
                    f"the worker process running this trial died {task.deaths} times (last exit code "
                    f"{worker.process.exitcode}); not retried again (max_retries={self.max_retries})"))
            else:
                self.queue.appendleft(task)  # same fn and args: the same trial seed

    def stop_workers(self) -> None:
        with self.lock:
            self.closing = True
            left = list(self.queue) + [w.task for w in self.workers if w.task is not None]
            self.queue.clear()
        for task in left:  # failed, not cancelled: a cancelled future wakes no concurrent.futures.wait
            if task.future.cancelled():  # by the caller, while queued: its waiters are told now
                with contextlib.suppress(RuntimeError):  # already told
                    task.future.set_running_or_notify_cancel()
            elif not task.future.done():
                task.future.set_exception(RuntimeError("the ProcessExecutor was shut down before this trial "
                                                       "finished"))
        for worker in self.workers:
            if worker.task is None:
                try:
                    worker.conn.send(None)
                except OSError:
                    pass
            else:
                worker.process.kill()
        for worker in self.workers:
            worker.process.join(_JOIN_TIMEOUT)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(_JOIN_TIMEOUT)
            worker.conn.close()
        self.workers.clear()
        self.wake_reader.close()
        self.wake_writer.close()


class _Discard:
    """A file that forgets what is written to it (a pickle made only to see that it can be made)."""

    @staticmethod
    def write(data) -> None:
        pass


def check_picklable(fn: Callable) -> None:
    """Refuse a function the workers cannot be sent, as a TypeError (a lambda, a local function): otherwise every
    trial fails in turn with PicklingError. It is pickled as the pool sends it, into a file that keeps nothing
    (protocol 5 hands a training set's buffers to it as they are, without a copy)."""
    try:
        ForkingPickler(_Discard(), 5).dump(fn)
    except Exception as exc:
        raise TypeError(f"the trial function cannot be sent to the worker processes ({type(exc).__name__}: {exc}); "
                        f"use a module-level function, not a lambda or a local function") from None


class ProcessExecutor:
    """Run trials in ``n_workers`` local processes, ``cores // n_workers`` threads each.

    ``executor="processes"`` in ``fastnn.tune.search`` builds one with ``n_workers`` (default: every core, one
    thread each). The objective and its arguments must be picklable (a module-level function, not a lambda):
    ``submit`` refuses a function that is not with a TypeError.
    A worker that dies mid-trial is replaced and the trial resubmitted with the same arguments, at most
    ``max_retries`` times; a trial that raises is a failed trial (its exception, with the worker's traceback as
    ``__cause__``, comes out of ``future.result()``) and the worker keeps serving. Use as a context manager or
    call ``shutdown()``; an executor dropped without it stops its workers when collected or at exit.
    """

    def __init__(self, n_workers: int | None = None, *, max_retries: int = 2, start_method: str | None = None):
        cores = available_cores()
        n_workers = check_scalar(n_workers, "n_workers", numbers.Integral, min_val=1, allow_none=True)
        max_retries = check_scalar(max_retries, "max_retries", numbers.Integral, min_val=0)
        methods = multiprocessing.get_all_start_methods()
        if start_method is not None and (start_method not in methods or start_method == "fork"):
            raise ValueError(f"start_method must be one of {[m for m in methods if m != 'fork']} or None, got "
                             f"{start_method!r} (fork can hang a child in libgomp)")
        self.n_workers = cores if n_workers is None else n_workers
        self.threads_per_worker = max(1, cores // self.n_workers)
        context = multiprocessing.get_context(start_method or _default_start_method())
        self._pool = _Pool(context, self.n_workers, self.threads_per_worker, max_retries)
        self._finalizer = weakref.finalize(self, self._pool.close)
        self._sendable: Callable | None = None  # the last function checked (a search submits one)

    def submit(self, fn: Callable, /, *args) -> Future:
        """Queue ``fn(*args)`` for the next idle worker; returns its future."""
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        if fn is not self._sendable:
            check_picklable(fn)
            self._sendable = fn
        return self._pool.submit(fn, args)

    @staticmethod
    def wait_any(futures, timeout: float | None = None) -> tuple[set, set]:
        """Block until at least one of ``futures`` is done (or ``timeout`` seconds pass): (done, pending)."""
        done, pending = _wait_futures(list(futures), timeout=timeout, return_when=FIRST_COMPLETED)
        return set(done), set(pending)

    def shutdown(self) -> None:
        """Stop the workers; trials not finished yet are cancelled. Idempotent."""
        self._finalizer()

    def __enter__(self) -> ProcessExecutor:
        return self

    def __exit__(self, *exc_info) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"ProcessExecutor(n_workers={self.n_workers}, threads_per_worker={self.threads_per_worker})"
