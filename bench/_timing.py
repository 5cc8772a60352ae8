"""Helpers shared by the benchmark scripts (run them as ``python bench/NAME.py``): timing and machine info."""
from __future__ import annotations

import platform
import statistics
import time


def timeit(fn, min_time: float = 0.2, min_iter: int = 5) -> float:
    """Seconds per call of ``fn``: one warm-up call, then at least ``min_iter`` calls and ``min_time`` s."""
    fn()
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        dt = time.perf_counter() - t0
        if n >= min_iter and dt >= min_time:
            return dt / n


def run_rounds(contenders: dict, rounds: int, min_time: float, reduce=min) -> dict:
    """Time every contender once per round, interleaved, and reduce each one's rounds (``min`` by default: the
    machine is shared and other processes only ever slow a round down; ``statistics.median`` is the other
    choice)."""
    times = {k: [] for k in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            times[name].append(timeit(fn, min_time))
    return {k: reduce(v) for k, v in times.items()}


median = statistics.median


def cpu_name() -> str:
    """The CPU model as the kernel reports it (what benchmark records name as the machine)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()
