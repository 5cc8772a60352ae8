"""argparse types and errors shared by the commands.

Every option is checked while the command line is parsed, before any file is read or model built, by the
check the library itself applies: ``fastnn.validation.check_scalar``, or the very constructor the value is
for (``checked(float, RandomZoom)``). A bad value raises ``ArgumentTypeError``; argparse then names the
option, prints the command's usage and the command exits with status 2. Checks of several options together
run at the start of a command and raise :class:`UsageError`, which ``fastnn.cli.main`` reports the same way.
"""
from __future__ import annotations

import argparse
import numbers
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .._optional import optional_import
from ..validation import check_scalar

T = TypeVar("T")


class UsageError(ValueError):
    """Options that are fine one by one but not together: reported with the command's usage, exit status 2."""


def checked(parse: Callable[[str], T], check: Callable[[T], Any] | None = None, expected: str = "a number"):
    """An argparse type: ``parse(text)``, then ``check(value)``, which raises ValueError / TypeError naming the
    problem (a constructor or ``check_scalar``); its message becomes the option's error."""
    def convert(text: str) -> T:
        try:
            value = parse(text)
        except (ValueError, TypeError):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if check is not None:
            try:
                check(value)
            except (ValueError, TypeError) as exc:
                raise argparse.ArgumentTypeError(str(exc)) from None
        return value
    convert.__name__ = getattr(parse, "__name__", "value")
    return convert


def integer(name: str, **bounds: Any):
    """An integer checked by ``check_scalar(value, name, numbers.Integral, **bounds)``."""
    return checked(int, lambda v: check_scalar(v, name, numbers.Integral, **bounds), "an integer")


def real(name: str, **bounds: Any):
    """A finite real number checked by ``check_scalar(value, name, numbers.Real, **bounds)`` (NaN, inf refused)."""
    return checked(float, lambda v: check_scalar(v, name, numbers.Real, **bounds), "a number")


def positive_int(name: str):
    return integer(name, min_val=1)


def int_list(text: str) -> list[int]:
    """Comma-separated integers; an empty list or an empty item is an error, not a default."""
    items = text.split(",")
    if not text.strip() or any(not item.strip() for item in items):
        raise ValueError(text)
    return [int(item) for item in items]


def positive_int_list(name: str):
    """Comma-separated positive integers, e.g. layer sizes ``256,128`` (each checked as ``name``)."""
    def check(values: list[int]) -> None:
        for v in values:
            check_scalar(v, name, numbers.Integral, min_val=1)
    return checked(int_list, check, "comma-separated integers such as 256,128")


def int_or_float(text: str) -> int | float:
    """An int (e.g. pixels) if the text is one, else a float (e.g. a fraction); ValueError if neither."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers and ``taskset`` narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def thread_count(text: str) -> int:
    """Threads to use: 1 up to the available cores. More threads than cores never speeds these kernels up and
    slows every OpenMP barrier down, so it is refused rather than silently accepted."""
    n = integer("threads", min_val=1)(text)
    cores = available_cores()
    if n > cores:
        raise argparse.ArgumentTypeError(f"{n} threads is more than the {cores} cores available to this process; "
                                         f"use at most {cores}")
    return n


def output_file(text: str) -> str:
    """A file the command can write, checked before any work is done: not a directory, in an existing
    directory this process may write to (the file itself is replaced atomically, so its own mode matters not)."""
    if not text:
        raise argparse.ArgumentTypeError("expected a file path, got ''")
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a directory; give the path of a file to write")
    if path.exists() and not path.is_file():
        raise argparse.ArgumentTypeError(f"{text} exists and is not a regular file")
    parent = path.parent
    if not parent.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {text}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot write {text}: directory {parent} is not writable")
    return text


def output_directory(text: str) -> str:
    """A directory the command writes files into, checked before any work: an existing directory this process may
    write to, or a path ``mkdir -p`` can create (its nearest existing ancestor is a writable directory)."""
    if not text:
        raise argparse.ArgumentTypeError("expected a directory path, got ''")
    path = Path(text)
    existing = path
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        problem = "it exists and is not a directory" if existing == path else f"{existing} is not a directory"
        raise argparse.ArgumentTypeError(f"cannot write into {text}: {problem}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot write into {text}: directory {existing} is not writable")
    return text


def replaced_file(text: str) -> str:
    """An :func:`output_file` that fastnn replaces atomically (model, checkpoint and prediction files): a symbolic
    link is refused here, before any work, as the write would refuse it after the work (hours of training)."""
    text = output_file(text)
    if os.path.islink(text):
        raise argparse.ArgumentTypeError(f"{text} is a symbolic link (to {os.readlink(text)!r}); fastnn does not "
                                         f"write through links: give {os.path.realpath(text)!r} itself, or remove "
                                         "the link first")
    return text


def replaced_file_ending(suffix: str, why: str):
    """A :func:`replaced_file` whose name ends in ``suffix`` (any case): what is written there is that format
    whatever the name, and readers tell it by the suffix (``why`` says so in the error)."""
    def check(text: str) -> str:
        if not text.lower().endswith(suffix):
            raise argparse.ArgumentTypeError(f"must name a {suffix} file ({why}), got {text!r}")
        return replaced_file(text)
    return check


# the generators take 64-bit keys (fastnn.ops: numpy's default_rng and the counter-based kernels)
seed_int = integer("seed", min_val=0, max_val=2**64 - 1)


def pyplot_for(path: str, flag: str) -> Any:
    """matplotlib's pyplot (the Agg backend), after checking that it is installed (else a runtime error, status 1)
    and can write ``path``'s image format (else a UsageError naming ``flag``, status 2): before any work."""
    matplotlib = optional_import("matplotlib", flag, "fastnn[plot]")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    formats = FigureCanvasAgg.get_supported_filetypes()
    name = os.path.basename(path)
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix not in formats:
        raise UsageError(f"{flag} {path}: cannot tell the image format from {'.' + suffix if suffix else 'no'} "
                         f"suffix; use one of {', '.join('.' + f for f in sorted(formats))}")
    return plt
