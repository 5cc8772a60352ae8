"""A one-line progress bar for training (stderr), redrawn at most ten times a second."""
from __future__ import annotations

import sys
import time


class ProgressBar:
    def __init__(self, epochs: int, steps_per_epoch: int, stream=None, width: int = 24):
        self.epochs, self.steps = epochs, steps_per_epoch
        self.stream = stream or sys.stderr
        self.width = width
        self._last_draw = 0.0

    def update(self, epoch: int, step: int, logs: dict, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        done = int(self.width * step / self.steps)
        bar = "#" * done + "." * (self.width - done)
        self.stream.write(f"\repoch {epoch + 1}/{self.epochs} [{bar}] {step}/{self.steps} {format_logs(logs)}")
        self.stream.flush()

    def abort(self) -> None:
        """End the bar's line (training stopped inside an epoch)."""
        self.stream.write("\n")
        self.stream.flush()

    def end_epoch(self, epoch: int, logs: dict) -> None:
        self.update(epoch, self.steps, logs, force=True)
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
