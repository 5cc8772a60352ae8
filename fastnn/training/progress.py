"""Training progress on stderr: elapsed time and ETA for the epoch and for the run, and the epoch's logs
(samples/s among them).

On a terminal the line is redrawn in place (carriage return) at most ten times a second; when the stream is
not a terminal (a log file, a pipe, CI) nothing is drawn inside an epoch and each epoch ends with one line.
The run's ETA is the mean time of the epochs this process has run times the epochs left (a resumed run counts
from where it resumed), minus what the current epoch has already taken.

Progress never ends a run: a missing stream (``sys.stderr`` is None under pythonw or a windowed app) or a
closed one turns it off before training starts, and a write that fails later (OSError, ValueError) turns it
off from then on; either way with one RuntimeWarning.
"""
from __future__ import annotations

import sys
import time
import warnings
from typing import TextIO

# The frames from a method of ProgressBar up to the user's fit(...) line: the method, fit, its interrupts wrapper
# and Sequential.fit (what a warning's stacklevel counts).
_FIT_CALLER = 5


def open_progress(verbose: int, epochs: int, steps_per_epoch: int, first_epoch: int = 0) -> ProgressBar | None:
    """The progress ``fit(verbose=)`` asks for: None for 0; 1 on stderr (redrawn on a terminal), 2 one line per
    epoch on stdout. None too, with a warning, when that stream is missing or closed."""
    if not verbose:
        return None
    name = "stdout" if verbose == 2 else "stderr"
    stream = getattr(sys, name)
    if stream is None or getattr(stream, "closed", False):
        _warn_off(f"sys.{name} is {'None' if stream is None else 'closed'}", _FIT_CALLER + 1)
        return None
    return ProgressBar(epochs, steps_per_epoch, stream=stream, first_epoch=first_epoch,
                       interactive=False if verbose == 2 else None)


def _warn_off(reason: str, stacklevel: int) -> None:
    try:
        warnings.warn(f"fit's progress output is off: {reason}; training goes on without it", RuntimeWarning,
                      stacklevel=stacklevel)
    except ValueError:  # the warning's own stream (stderr) is closed too: the warning is lost, the run goes on
        pass


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
        self.stream: TextIO | None = stream or sys.stderr  # None: the output is off (a write failed)
        self.interactive = _is_terminal(self.stream) if interactive is None else interactive
        self.width = width
        self.first_epoch = first_epoch
        self._last_draw = 0.0
        self._run_start = self._epoch_start = time.perf_counter()

    def due(self) -> bool:
        """Whether an :meth:`update` now would draw (the loop builds the logs only then)."""
        return self.interactive and self.stream is not None and time.perf_counter() - self._last_draw >= 0.1

    def _write(self, text: str) -> None:
        """Write and flush; a failed write (closed stream, broken pipe, full disk) turns the output off."""
        if self.stream is None:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError) as exc:
            self.stream = None
            _warn_off(f"writing it failed ({type(exc).__name__}: {exc})", _FIT_CALLER + 2)

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
        self._write(f"\repoch {epoch + 1}/{self.epochs} [{bar}] {step}/{self.steps} "
                    f"{self._times(epoch, step, now)}  {format_logs(logs)}")

    def abort(self) -> None:
        """End the bar's line (training stopped inside an epoch)."""
        if self.interactive:
            self._write("\n")

    def end_epoch(self, epoch: int, logs: dict, steps: int | None = None) -> None:
        steps = self.steps if steps is None else steps
        if self.interactive:
            self.update(epoch, steps, logs, force=True)
            self._write("\n")
        else:
            self._write(f"epoch {epoch + 1}/{self.epochs}  {self._times(epoch, steps, time.perf_counter())}  "
                        f"{format_logs(logs)}\n")


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, OSError, ValueError):  # no isatty, or a stream closed under us
        return False


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
