"""Ctrl-C never leaves half an optimizer step.

Python raises KeyboardInterrupt in the main thread at the next bytecode after SIGINT, and inside a step that can be
after some weights took their update (the fused step updates each Dense weight right after its gradient, from
the last layer back) and before the others, the optimizer's moments and the step count did: a model that is
neither the one before the step nor the one after, which a later ``fit``, ``train_step`` or ``save`` carries on.
So while :func:`whole_steps` is in force (``fit`` and ``train_step`` hold it), a SIGINT that arrives inside a
:class:`step` is only recorded, and KeyboardInterrupt is raised as soon as the step is complete; outside a step
it is raised at once, as always. A second SIGINT during the same step is raised at once (the way out of a step
that does not end). Only the main thread receives signals, so only its steps wait; where a SIGINT handler other
than Python's default is installed, fastnn leaves it alone.
"""
from __future__ import annotations

import functools
import signal
import threading
from collections.abc import Callable
from typing import Any, TypeVar

_MAIN = threading.main_thread().ident
F = TypeVar("F", bound=Callable[..., Any])


class _Steps:
    depth = 0  # steps of the main thread running now (fit's batch holds the step it takes)
    pending = False  # a SIGINT arrived during them


_STEPS = _Steps()


def _on_sigint(signum: int, frame: Any) -> None:
    if _STEPS.depth and not _STEPS.pending:
        _STEPS.pending = True
        return
    _STEPS.pending = False
    raise KeyboardInterrupt


def whole_steps(function: F) -> F:
    """Decorate ``function`` so that, called in the main thread while SIGINT has Python's default handler, a
    SIGINT during one of its steps is raised when the step ends (the module docstring); elsewhere, a plain call."""

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() != _MAIN or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return function(*args, **kwargs)  # another thread, a handler of the user's, or a nested call
        signal.signal(signal.SIGINT, _on_sigint)
        try:
            return function(*args, **kwargs)
        finally:
            if signal.getsignal(signal.SIGINT) is _on_sigint:  # not if a callback installed a handler of its own
                signal.signal(signal.SIGINT, signal.default_int_handler)
            _STEPS.pending = False

    return guarded  # type: ignore[return-value]


class step:
    """``with step():`` one training step (nestable); a SIGINT recorded during it is raised when it ends."""

    __slots__ = ("main",)

    def __enter__(self) -> None:
        self.main = threading.get_ident() == _MAIN
        if self.main:
            _STEPS.depth += 1

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self.main:
            _STEPS.depth -= 1
            if _STEPS.pending and not _STEPS.depth:
                _STEPS.pending = False
                if exc_type is None:
                    raise KeyboardInterrupt
