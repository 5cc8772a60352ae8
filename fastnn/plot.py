"""Training plots: the matplotlib extra (``pip install fastnn[plot]``), imported here only, inside the functions.

``history(h)``: one panel per logged quantity -- the loss and every metric, training and validation per epoch --
then the learning rate and the gradient norm per step, and the clip rate (the fraction of an epoch's steps
whose gradient was clipped) per epoch. ``history_from_csv(path)`` plots a CSVLogger file (columns: epoch, then
the log keys), which is what ``fastnn plot history.csv`` does. ``confusion_matrix(model, X, y)``: the counts of
true class (rows) against predicted class (columns), scikit-learn's layout. Each returns the matplotlib Figure
(made with pyplot, so ``plt.show()`` shows it); ``save_figure(fig, path)`` writes it atomically.
"""
from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from . import targets as _targets
from ._optional import optional_import
from .formats.common import atomic_write, open_regular
from .metrics import confusion_matrix as _confusion_counts

# per-epoch log keys that are not a train/validation curve of their own
_NOT_CURVES = ("epoch", "lr", "samples_per_s")

# the confusion matrix figure: 0.6 in per class up to MAX_FIGURE_INCHES a side; a count in every cell up to
# ANNOTATED_CLASSES classes (beyond, the numbers would not fit their cells), a name on at most LABELLED_TICKS
# ticks per axis; refused beyond MAX_CLASSES_SHOWN, where a class would get less than a pixel at 100 dpi
MAX_FIGURE_INCHES = 20.0
ANNOTATED_CLASSES = 30
LABELLED_TICKS = 50
MAX_CLASSES_SHOWN = 2000


def _pyplot() -> Any:
    return optional_import("matplotlib.pyplot", "fastnn.plot", "fastnn[plot]")


def _per_epoch(h: Any) -> tuple[dict[str, list[float]], dict[str, list[Any]], int]:
    """(per-epoch logs, per-step records, steps per epoch or 0) of a History or a mapping {key: values}."""
    if isinstance(h, Mapping):
        return {k: list(v) for k, v in h.items()}, {}, 0
    run = getattr(h, "run", None)
    return dict(h.history), dict(getattr(h, "steps", {})), run.steps_per_epoch if run is not None else 0


def _grid(plt: Any, panels: int) -> tuple[Any, list[Any]]:
    cols = min(2, panels)
    rows = math.ceil(panels / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 3.2 * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[panels:]:
        ax.set_visible(False)
    return fig, flat[:panels]


def history(h: Any) -> Any:
    """A Figure of a ``fit`` History (or a mapping {log key: per-epoch values}, with an optional "epoch" key):
    for the loss and each metric, the training curve and the "val_" curve against the epoch (1-based); the lr
    per step (per epoch when no step records exist); the gradient norm per step and the clip rate per epoch
    (when the run clipped by global norm). Curves are labelled "train" / "validation"; panels are titled by
    the log key."""
    plt = _pyplot()
    logs, steps, steps_per_epoch = _per_epoch(h)
    n_epochs = max((len(v) for v in logs.values()), default=0)
    epochs = [int(e) + 1 for e in logs["epoch"]] if "epoch" in logs else list(range(1, n_epochs + 1))
    names = [k for k in logs if not k.startswith("val_") and k not in _NOT_CURVES]
    names += [k[4:] for k in logs if k.startswith("val_") and k[4:] not in logs]  # validation-only keys
    panels: list[tuple[str, Any]] = [(name, None) for name in names]
    if steps.get("lr"):
        panels.append(("lr per step", steps["lr"]))
    elif "lr" in logs and any(v is not None and not _is_nan(v) for v in logs["lr"]):
        panels.append(("lr", None))
    if steps.get("grad_norm"):
        panels.append(("gradient norm per step", steps["grad_norm"]))
        panels.append(("clip rate", _clip_rate(steps["clipped"], steps_per_epoch or len(steps["clipped"]))))
    fig, axes = _grid(plt, max(len(panels), 1))
    for ax, (name, data) in zip(axes, panels):
        ax.set_title(name)
        if name.endswith("per step"):
            ax.plot(np.arange(1, len(data) + 1), np.asarray(data, float))
            ax.set_xlabel("step")
            continue
        if name == "clip rate":
            ax.plot(np.arange(1, len(data) + 1), data, marker="o")
            ax.set_xlabel("epoch")
            ax.set_ylim(-0.05, 1.05)
            continue
        for key, label in ((name, "train"), ("val_" + name, "validation")):
            if key in logs:
                ax.plot(epochs[:len(logs[key])], _floats(logs[key]), marker="o", label=label)
        ax.set_xlabel("epoch")
        if name != "lr":
            ax.legend()
    fig.tight_layout()
    return fig


def _is_nan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def _floats(values: Sequence[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values])


def _clip_rate(clipped: Sequence[bool], per_epoch: int) -> np.ndarray:
    """The fraction of clipped steps in each epoch (each run of ``per_epoch`` steps; the last may be short)."""
    flags = np.asarray(clipped, float)
    return np.array([flags[i:i + per_epoch].mean() for i in range(0, len(flags), max(per_epoch, 1))])


def read_history_csv(path: str | os.PathLike[str]) -> dict[str, list[float]]:
    """A CSVLogger file as {column: values}: "epoch" then every log key; empty cells are NaN. A row of more fields
    than the header names, or a cell that is not a number, is refused naming its line; only a regular file is
    read (a FIFO would block)."""
    name = os.fspath(path)
    logs: dict[str, list[float]] = {}
    with open_regular(path, lambda p, problem: ValueError(f"{os.fspath(p)!r}: {problem}")) as raw:
        reader = csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
        try:
            for row in reader:
                if None in row:  # DictReader puts the fields beyond the header's under the key None
                    raise ValueError(f"{name!r} line {reader.line_num}: {len(row) - 1 + len(row[None])} fields, but "
                                     f"the header names {len(row) - 1}: not a CSVLogger file")
                for k, v in row.items():
                    logs.setdefault(k, []).append(float(v) if v not in ("", None) else math.nan)
        except UnicodeDecodeError as exc:
            raise ValueError(f"{name!r} is not a CSVLogger file (not UTF-8 text: {exc})") from None
        except (ValueError, csv.Error) as exc:
            if str(exc).startswith(repr(name)):
                raise
            raise ValueError(f"{name!r} line {reader.line_num} is not a CSVLogger file of numbers: {exc}") from None
    if not logs:
        raise ValueError(f"{name!r} holds no epochs (expected a header and one row per epoch)")
    return logs


def history_from_csv(path: str | os.PathLike[str]) -> Any:
    """``history`` of a CSVLogger file (the per-epoch panels; a CSV holds no per-step records)."""
    return history(read_history_csv(path))


def confusion_matrix(model: Any, X: ArrayLike, y: ArrayLike, normalize: bool = False) -> Any:
    """A Figure of the confusion matrix of ``model`` on (X, y): row = true class, column = predicted class,
    each cell annotated with its count (with ``normalize``, the fraction of its row), the ticks named by
    ``model.classes_`` when the model has them. y: labels, class indices or one-hot rows, as ``evaluate``.
    The figure stays at most MAX_FIGURE_INCHES a side: above ANNOTATED_CLASSES classes the cells carry no
    numbers, and at most LABELLED_TICKS ticks are named; a model of more than MAX_CLASSES_SHOWN classes is
    refused (ValueError) before it predicts."""
    plt = _pyplot()
    n_classes = _n_classes(model)
    if n_classes > MAX_CLASSES_SHOWN:
        raise ValueError(f"the model has {n_classes} classes; a confusion matrix figure shows at most "
                         f"{MAX_CLASSES_SHOWN} (use fastnn.metrics.confusion_matrix for the counts)")
    counts, names = confusion_counts(model, X, y)
    shown = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1) if normalize else counts
    size = min(max(3.5, 0.6 * len(names) + 2), MAX_FIGURE_INCHES)
    fig, ax = plt.subplots(figsize=(size, size))
    image = ax.imshow(shown, cmap="Blues")
    fig.colorbar(image, ax=ax)
    ticks = np.arange(0, len(names), math.ceil(len(names) / LABELLED_TICKS))
    ax.set_xticks(ticks, [str(names[t]) for t in ticks], rotation=45 if len(ticks) > 6 else 0)
    ax.set_yticks(ticks, [str(names[t]) for t in ticks])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if len(names) <= ANNOTATED_CLASSES:
        _annotate_cells(ax, shown, normalize)
    fig.tight_layout()
    return fig


def _annotate_cells(ax: Any, shown: np.ndarray, normalize: bool) -> None:
    """Write each cell's value in it, white on the dark cells."""
    threshold = shown.max() / 2 if shown.size else 0
    for (i, j), value in np.ndenumerate(shown):
        ax.text(j, i, f"{value:.2f}" if normalize else str(value), ha="center", va="center",
                color="white" if value > threshold else "black")


def _n_classes(model: Any) -> int:
    """The classes of a built classifier's outputs; a ValueError for any other model."""
    loss, n_outputs = model.loss, model.output_dim
    n_classes = loss.n_classes(n_outputs) if loss is not None and n_outputs is not None else None
    if n_classes is None:
        raise ValueError("confusion_matrix needs a built classifier (cross_entropy, or binary_cross_entropy with "
                         "one output)")
    return n_classes


def confusion_counts(model: Any, X: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, list[Any]]:
    """(the (C, C) counts, the class names) behind :func:`confusion_matrix`."""
    loss, n_outputs, n_classes = model.loss, model.output_dim, _n_classes(model)
    X = np.asarray(X)
    y, _ = _targets.resolve_labels(y, model.classes_, n_classes, n_outputs=n_outputs)
    true = loss.row_classes(loss.prepare_targets(y, X.shape[0], n_outputs, model.dtype))
    pred = model.predict_classes(X)
    names = model.classes_.tolist() if model.classes_ is not None else list(range(n_classes))
    return _confusion_counts(true, pred, n_classes), names


def save_figure(fig: Any, path: str | os.PathLike[str], **savefig_kwargs: Any) -> None:
    """``fig.savefig(path, **savefig_kwargs)`` (the format from the suffix, else matplotlib's default) into a
    temporary file renamed over ``path`` (fastnn.formats.common.atomic_write): a write that fails (a full disk,
    Ctrl-C) leaves the file that was there, not a truncated image, and its error names ``path``."""
    suffix = os.path.splitext(os.fspath(path))[1][1:].lower() or None
    atomic_write(path, lambda f: fig.savefig(f, format=suffix, **savefig_kwargs))
