"""How many cores other processes are using right now: what fastnn's threads can count on.

fastnn's OpenMP pool spins briefly after each parallel region (fastnn._config): on a machine of its own that
saves a futex wake-up per region (1.5x on the training step at batch 32, bench/RESULTS.md), but when other
processes keep cores busy, a thread that spins or waits for a preempted partner makes the step several times
slower than one thread. So ``fastnn._config.threads_for`` asks this monitor how many cores are free and gives a
kernel no more threads than that.

    others = (busy jiffies of the cores we may run on - this process's CPU time) / elapsed time      (in cores)

over the last window of at least ``WINDOW`` seconds, from /proc/stat and ``time.process_time``; the reading is
refreshed at most once per window, so a kernel call pays a clock read. Where /proc/stat does not exist (not
Linux), nothing is measured and ``others()`` is 0.
"""
from __future__ import annotations

import os
import time
import weakref

WINDOW = 0.2  # seconds: /proc/stat counts in 10 ms ticks, so a window holds ~20 ticks per core
_STAT = "/proc/stat"
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _busy_seconds(cpus: frozenset[int] | None) -> float | None:
    """CPU seconds the cores in ``cpus`` (None: all) spent busy since boot (user + nice + system + irq + softirq +
    steal), or None. Per-core lines, so a container pinned to 2 cores of a busy 64-core host sees its 2 cores."""
    try:
        with open(_STAT, "rb") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    ours = every = 0
    for line in lines:
        fields = line.split()
        if len(fields) < 9 or not fields[0].startswith(b"cpu") or fields[0] == b"cpu":
            continue
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
        busy = user + nice + system + irq + softirq + steal
        every += busy
        if cpus is None or int(fields[0][3:]) in cpus:
            ours += busy
    # a /proc/stat that numbers the cores otherwise (lxcfs in some containers) matches none of ours: count them all
    return (ours or every) / _TICK


def _our_cpus() -> frozenset[int] | None:
    try:
        return frozenset(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return None


class LoadMonitor:
    """Cores used by other processes, averaged over the last window (0 where it cannot be measured)."""

    def __init__(self, window: float = WINDOW) -> None:
        self.window = window
        self._start()

    def _start(self) -> None:
        """A new window from now, in this process (also in a forked child: its CPU time starts afresh, the
        parent's window is void)."""
        self.cpus = _our_cpus()
        self._last = self._sample()
        self._next = self._last[0] + self.window
        self._others = 0.0
        _MONITORS.add(self)

    def _sample(self) -> tuple[float, float, float | None]:
        return time.monotonic(), time.process_time(), _busy_seconds(self.cpus)

    def others(self) -> float:
        """(Called for every threaded kernel: one clock read unless the window is over.)"""
        if time.monotonic() >= self._next:
            sample = self._sample()
            (t0, own0, busy0), (t1, own1, busy1) = self._last, sample
            if busy0 is not None and busy1 is not None and t1 > t0:
                self._others = max(0.0, (busy1 - busy0) - (own1 - own0)) / (t1 - t0)
            self._last, self._next = sample, sample[0] + self.window
        return self._others


_MONITORS: weakref.WeakSet[LoadMonitor] = weakref.WeakSet()


def _restart_in_child() -> None:
    for monitor in list(_MONITORS):
        monitor._start()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_restart_in_child)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity; all of them where that is unknown)."""
    cpus = _our_cpus()
    return len(cpus) if cpus else os.cpu_count() or 1
