"""Where trials run. ``search`` talks to any object that follows this small protocol (keep it stable):

    class Executor(Protocol):
        n_workers: int                                   # trials that may run at once
        def submit(self, fn, /, *args) -> Future: ...    # run fn(*args) somewhere
        def wait_any(self, futures) -> (done, pending):  # block until at least one future is done

A future has ``.result()``, which returns fn's value or raises. ``search`` submits ``run_trial``, which
catches the objective's own exceptions and returns them as a failed trial, so a future that raises means the
*executor* failed (a lost worker...): that is the executor's to retry, with the same arguments (every
trial's configuration is fixed before it is submitted, so a rerun is the same trial).

``wait_first(futures)`` is the module-level helper for executors whose futures are
``concurrent.futures.Future`` objects. ``make_executor(executor, n_workers)`` turns the ``executor=``
argument of ``search`` into an Executor: None or "inprocess" -> :class:`InProcessExecutor`; an object
that already follows the protocol is used as it is.
"""
from __future__ import annotations

import concurrent.futures as cf
import numbers
from collections.abc import Callable, Iterable
from typing import Any, Protocol, runtime_checkable

from ..validation import check_scalar
from ._executors_dask import DaskExecutor, is_dask_target
from ._executors_pool import ProcessExecutor


@runtime_checkable
class Executor(Protocol):
    n_workers: int

    def submit(self, fn: Callable, /, *args: Any) -> Any: ...

    def wait_any(self, futures: Iterable) -> tuple[set, set]: ...


def wait_first(futures: Iterable) -> tuple[set, set]:
    """Block until at least one of the ``concurrent.futures`` futures is done; return (done, pending)."""
    done, pending = cf.wait(list(futures), return_when=cf.FIRST_COMPLETED)
    return set(done), set(pending)


class InProcessExecutor:
    """Runs each trial at once, in the calling thread: ``submit`` returns a future that is already done."""

    n_workers = 1

    def submit(self, fn: Callable, /, *args: Any) -> cf.Future:
        future: cf.Future = cf.Future()
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # noqa: B036 - handed to the caller through the future, as a pool would
            future.set_exception(exc)
        return future

    def wait_any(self, futures: Iterable) -> tuple[set, set]:
        return wait_first(futures)


def make_executor(executor: Any = None, n_workers: int | None = None) -> Any:
    """The ``executor=`` argument of ``search`` -> an object following the Executor protocol."""
    if executor is None or executor == "inprocess":
        if n_workers not in (None, 1):
            raise ValueError(f"n_workers={n_workers!r} needs executor='processes' or a Dask client; the "
                             f"in-process executor runs one trial at a time")
        return InProcessExecutor()
    if is_dask_target(executor):
        return DaskExecutor(executor)
    if isinstance(executor, str):
        factory = _NAMED.get(executor)
        if factory is None:
            raise ValueError(f"executor must be None, 'inprocess', 'processes', a Dask client or scheduler "
                             f"address, or an object with submit/wait_any/n_workers; got {executor!r}")
        return factory(executor, n_workers)
    if not isinstance(executor, Executor):
        raise TypeError(f"executor {executor!r} does not follow the Executor protocol (submit, wait_any, "
                        f"n_workers); see fastnn.tune.executors")
    # search fills n_workers slots and waits for one: with none it could never run a trial
    check_scalar(executor.n_workers, f"{type(executor).__name__}.n_workers", numbers.Integral, min_val=1)
    return executor


# name -> factory(spec, n_workers)
_NAMED: dict[str, Callable[[str, int | None], Any]] = {"processes": lambda _, n_workers: ProcessExecutor(n_workers)}

__all__ = ["DaskExecutor", "Executor", "InProcessExecutor", "ProcessExecutor", "make_executor", "wait_first"]
