"""Training progress on stderr: elapsed time and ETA for the epoch and for the run, and the epoch's logs
(samples/s among them).

On a terminal the line is redrawn in place (carriage return) at most ten times a second; when the stream is
not a terminal (a log file, a pipe, CI) nothing is drawn inside an epoch and each epoch ends with one line.
The run's ETA is the mean time of the epochs this process has run times the epochs left (a resumed run counts
from where it resumed), minus what the current epoch has already taken.
"""
from __future__ import annotations

import sys
import time
from typing import TextIO


def format_duration(seconds: float) -> str:
    """``42.1s``, ``3:07``, ``1:02:03``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressBar:
    """``epochs``: the run's last epoch (exclusive), ``steps_per_epoch`` its batches, ``first_epoch``: where
    this process starts (a resumed run). ``interactive``: redraw in place (default: whether ``stream`` is a
    terminal)."""

    def __init__(self, epochs: int, steps_per_epoch: int, stream: TextIO | None = None, width: int = 24,
                 first_epoch: int = 0, interactive: bool | None = None):
        self.epochs, self.steps = epochs, steps_per_epoch
        self.stream = stream or sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.interactive = bool(isatty is not None and isatty()) if interactive is None else interactive
        self.width = width
        self.first_epoch = first_epoch
        self._last_draw = 0.0
        self._run_start = self._epoch_start = time.perf_counter()

    def due(self) -> bool:
        """Whether an :meth:`update` now would draw (the loop builds the logs only then)."""
        return self.interactive and time.perf_counter() - self._last_draw >= 0.1

    def begin_epoch(self, epoch: int) -> None:
        self._epoch_start = time.perf_counter()

    def _times(self, epoch: int, step: int, now: float) -> str:
        in_epoch = now - self._epoch_start
        epoch_eta = in_epoch / step * (self.steps - step) if step else 0.0
        done = epoch - self.first_epoch + (step / self.steps if self.steps else 1.0)
        elapsed = now - self._run_start
        run_eta = elapsed / done * (self.epochs - self.first_epoch - done) if done > 0 else 0.0
        return (f"{format_duration(in_epoch)} ETA {format_duration(epoch_eta)}  "
                f"run {format_duration(elapsed)} ETA {format_duration(max(run_eta, 0.0))}")

    def update(self, epoch: int, step: int, logs: dict, force: bool = False) -> None:
        now = time.perf_counter()
        if not self.interactive or (not force and now - self._last_draw < 0.1):
            return
        self._last_draw = now
        done = int(self.width * step / self.steps) if self.steps else self.width
        bar = "#" * done + "." * (self.width - done)
        self.stream.write(f"\repoch {epoch + 1}/{self.epochs} [{bar}] {step}/{self.steps} "
                          f"{self._times(epoch, step, now)}  {format_logs(logs)}")
        self.stream.flush()

    def abort(self) -> None:
        """End the bar's line (training stopped inside an epoch)."""
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()

    def end_epoch(self, epoch: int, logs: dict, steps: int | None = None) -> None:
        steps = self.steps if steps is None else steps
        if self.interactive:
            self.update(epoch, steps, logs, force=True)
        else:
            self.stream.write(f"epoch {epoch + 1}/{self.epochs}  {self._times(epoch, steps, time.perf_counter())}  "
                              f"{format_logs(logs)}")
        self.stream.write("\n")
        self.stream.flush()


def format_logs(logs: dict) -> str:
    parts = []
    for key, value in logs.items():
        if key == "samples_per_s":
            parts.append(f"{value:,.0f} samples/s")
        elif key in ("lr",):
            parts.append(f"{key} {value:.3g}")
        elif isinstance(value, float):
            parts.append(f"{key} {value:.4f}")
        else:
            parts.append(f"{key} {value}")
    return "  ".join(parts)
